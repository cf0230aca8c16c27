import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { BuilderSettings, ContextStore, Destination } from '@launch-agent/config';
import { applyKanikoConfig } from './kaniko-config-overlay.js';
import { kanikoCredentials } from './kaniko-credentials.js';

/**
 * The default executor: the osscontainertools fork (Google archived kaniko in June 2025),
 * pinned by an exact release tag. No digest could be verified where this was written; pin one
 * with `builder.kaniko-image: ghcr.io/osscontainertools/kaniko@sha256:...` (docs/kaniko.md).
 */
export const DEFAULT_KANIKO_IMAGE = 'ghcr.io/osscontainertools/kaniko:v1.27.6';
export const KANIKO_CONTAINER_NAME = 'kaniko';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'launch-agent';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const KANIKO_COMPONENT = 'kaniko-build';
/** The build's tag (source hash prefix): which build a Job, pod or ConfigMap belongs to. */
export const BUILD_ID_LABEL = 'launch-agent.dev/build-id';
/** The Job's name on its pods and ConfigMaps, to find them without the job controller's labels. */
export const BUILD_JOB_LABEL = 'launch-agent.dev/build-job';
export const SOURCE_HASH_ANNOTATION = 'launch-agent.dev/source-hash';
/** The uploaded context's key in the store, so leftovers can be removed after a crash. */
export const CONTEXT_KEY_ANNOTATION = 'launch-agent.dev/context-key';
export const CONTEXT_URI_ANNOTATION = 'launch-agent.dev/context-uri';

/** Requests only: a limit would OOM-kill builds whose size we cannot know. */
export const DEFAULT_RESOURCE_REQUESTS = { cpu: '500m', memory: '1Gi' };
/** Keeps a Job the agent could not delete (crash) from staying forever where a TTL controller runs. */
export const JOB_TTL_SECONDS_AFTER_FINISHED = 3600;

const DNS_LABEL_MAX = 63;

/** `<build-job-name>-<suffix>`: lower-case, DNS-1123 label safe, at most 63 characters. */
export function kanikoJobName(base: string, suffix: string): string {
  const cleanSuffix = suffix.toLowerCase().replace(/[^a-z0-9-]/g, '');
  const room = DNS_LABEL_MAX - cleanSuffix.length - 1;
  let prefix = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, room)
    .replace(/-+$/, '');
  if (prefix === '') prefix = 'kaniko-build';
  return `${prefix}-${cleanSuffix}`;
}

/** A short hash suffix: the tag's and a nonce's, so two builds of one tag get distinct names. */
export function buildSuffix(tag: string, nonce: string): string {
  return createHash('sha256').update(`${tag}\0${nonce}`).digest('hex').slice(0, 10);
}

/** `--cache-repo`: `<repo>/cache`; for ECR the destination repository itself, as the reference does, because ECR does not create repositories on push. */
export function cacheRepository(destination: Destination): string {
  return destination.kind === 'ecr' ? destination.reference : `${destination.reference}/cache`;
}

export interface KanikoJobInput {
  jobName: string;
  namespace: string;
  settings: Pick<
    BuilderSettings,
    | 'kanikoImage'
    | 'kanikoConfig'
    | 'buildTimeoutSeconds'
    | 'credentialsSecret'
    | 'dockerConfigSecret'
    | 'azureStorageSecret'
    | 's3'
  >;
  destination: Destination;
  store: ContextStore;
  /** `destination:tag`. */
  imageReference: string;
  tag: string;
  sourceHash: string;
  contextKey: string;
  /** What kaniko reads: `s3://...`, `gs://...`, `https://...blob...`, `tar:///context/...`. */
  contextUri: string;
  /** The Dockerfile's path inside the context tar. */
  dockerfile: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  platform?: string;
  /** kubernetes.build-service-account (or the agent's own, as the reference does). */
  serviceAccountName?: string;
  /** environment.region, for AWS_REGION. */
  region?: string;
  /** The agent's environment, for an S3 endpoint set there; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface KanikoJobSpec {
  job: k8s.V1Job;
  /** Created right after the Job, owned by it; none when no helper config is needed. */
  configMaps: k8s.V1ConfigMap[];
}

export function dockerConfigMapName(jobName: string): string {
  return `${jobName}-docker-config`;
}

/**
 * The build Job: the reference's defaults (restartPolicy Never, backoffLimit 0, the deadline,
 * the reference's kaniko args) plus `--digest-file=/dev/termination-log` so the pushed digest
 * comes back in the pod status, our labels, no API token, resource requests, then the user's
 * `kaniko-config` laid over it.
 */
export function buildKanikoJob(input: KanikoJobInput): KanikoJobSpec {
  const { jobName, namespace, destination } = input;
  const ownLabels = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [COMPONENT_LABEL]: KANIKO_COMPONENT,
    [BUILD_ID_LABEL]: input.tag.slice(0, DNS_LABEL_MAX),
    [BUILD_JOB_LABEL]: jobName,
  };
  const configMapName = dockerConfigMapName(jobName);
  const credentials = kanikoCredentials({
    destination,
    store: input.store,
    settings: input.settings,
    ...(input.region ? { region: input.region } : {}),
    ...(input.env ? { env: input.env } : {}),
    dockerConfigMapName: configMapName,
  });

  const args = [
    `--context=${input.contextUri}`,
    `--dockerfile=${input.dockerfile}`,
    `--destination=${input.imageReference}`,
    '--cache=true',
    `--cache-repo=${cacheRepository(destination)}`,
    '--snapshot-mode=redo',
    '--compressed-caching=false',
    '--digest-file=/dev/termination-log',
  ];
  for (const [name, value] of Object.entries(input.buildArgs ?? {})) {
    args.push(`--build-arg=${name}=${value}`);
  }
  for (const [name, value] of Object.entries(input.labels ?? {})) {
    args.push(`--label=${name}=${value}`);
  }
  if (input.target) args.push(`--target=${input.target}`);
  if (input.platform) args.push(`--custom-platform=${input.platform}`);

  const container: k8s.V1Container = {
    name: KANIKO_CONTAINER_NAME,
    image: input.settings.kanikoImage ?? DEFAULT_KANIKO_IMAGE,
    args,
    env: credentials.env,
    volumeMounts: credentials.volumeMounts,
    resources: { requests: { ...DEFAULT_RESOURCE_REQUESTS } },
    // The digest on success; on failure the log's tail, which survives without log access.
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'FallbackToLogsOnError',
    // kaniko unpacks base images and runs RUN steps as root inside its container: it cannot run
    // as non-root. It needs no privilege escalation and no host access.
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };

  const job: k8s.V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName,
      namespace,
      labels: ownLabels,
      annotations: {
        [SOURCE_HASH_ANNOTATION]: input.sourceHash,
        [CONTEXT_KEY_ANNOTATION]: input.contextKey,
        [CONTEXT_URI_ANNOTATION]: input.contextUri,
      },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.settings.buildTimeoutSeconds,
      ttlSecondsAfterFinished: JOB_TTL_SECONDS_AFTER_FINISHED,
      template: {
        metadata: { labels: { ...ownLabels, ...credentials.podLabels } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          ...(input.serviceAccountName ? { serviceAccountName: input.serviceAccountName } : {}),
          containers: [container],
          volumes: credentials.volumes,
        },
      },
    },
  };

  const configMaps: k8s.V1ConfigMap[] = credentials.dockerConfig
    ? [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: configMapName, namespace, labels: ownLabels },
          data: { 'config.json': JSON.stringify(credentials.dockerConfig, null, 2) },
        },
      ]
    : [];
  return { job: applyKanikoConfig(job, input.settings.kanikoConfig), configMaps };
}
