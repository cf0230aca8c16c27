import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { BuilderSettings, ContextStore, Destination } from '@launch-agent/config';
import type { RegistryCredentials } from '../../registries/registry.js';
import { applyKanikoConfig, flagName } from './kaniko-config-overlay.js';
import { kanikoCredentials, pushCredentials, pushDockerConfigJson } from './kaniko-credentials.js';

/**
 * The default executor: the osscontainertools fork (Google archived kaniko in June 2025),
 * pinned by an exact release tag. No digest could be verified where this was written; pin one
 * with `builder.kaniko-image: ghcr.io/osscontainertools/kaniko@sha256:...` (docs/kaniko.md).
 */
export const DEFAULT_KANIKO_IMAGE = 'ghcr.io/osscontainertools/kaniko:v1.27.6';
export const KANIKO_CONTAINER_NAME = 'kaniko';
/**
 * The push step: go-containerregistry's crane, the release kaniko v1.24 itself is built with,
 * pinned by its exact release tag (not by digest, for the reason given for kaniko in
 * docs/kaniko.md). Its entrypoint is `/ko-app/crane`.
 */
export const DEFAULT_PUSH_IMAGE = 'gcr.io/go-containerregistry/crane:v0.20.4';
export const PUSH_CONTAINER_NAME = 'push';
/** The emptyDir between the two: kaniko writes the image tarball, the push container reads it. */
export const IMAGE_DIR = '/image';
export const IMAGE_TARBALL = `${IMAGE_DIR}/image.tar`;
/** Non-root uid of the push container (the distroless `nonroot` user). */
const PUSH_UID = 65532;

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
    | 'kanikoPushImage'
    | 'kanikoConfig'
    | 'kanikoCache'
    | 'buildTimeoutSeconds'
    | 'credentialsSecret'
    | 'dockerConfigSecret'
    | 'pullDockerConfigSecret'
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
  /**
   * Push credentials the agent minted for this build (ECR token, Artifact Registry access
   * token, ACR refresh token, a Docker config login): they go into a per-build Secret that
   * only the push container mounts. Ignored when `docker-config-secret` is set.
   */
  pushCredentials?: RegistryCredentials;
  /** kubernetes.build-service-account (or the agent's own, as the reference does). */
  serviceAccountName?: string;
  /** environment.region, for AWS_REGION. */
  region?: string;
  /** The agent's environment, for an S3 endpoint set there; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface KanikoJobSpec {
  job: k8s.V1Job;
  /** Created right after the Job, owned by it: the per-build push credentials, when minted. */
  secrets: k8s.V1Secret[];
}

/** The per-build Secret with the push credentials the agent minted. */
export function pushSecretName(jobName: string): string {
  return `${jobName}-push`;
}

/**
 * The build Job, one pod in two steps:
 *
 * 1. the init container `kaniko` builds with `--no-push` and writes the image as a tarball into
 *    an emptyDir. It runs the Dockerfile's RUN steps as root in its own file system, so it gets
 *    nothing a Dockerfile must not read: no push credentials (unless the registry cache is on),
 *    no API token, only what reading the context and pulling base images needs;
 * 2. the container `push` (crane) pushes that tarball; it alone mounts the push credentials,
 *    and writes `<ref>@sha256:...` to its termination message, where the agent reads the digest.
 *
 * Plus the reference's defaults (restartPolicy Never, backoffLimit 0, the deadline), our labels,
 * resource requests, then the user's `kaniko-config` laid over it (its container is the kaniko
 * one).
 */
export function buildKanikoJob(input: KanikoJobInput): KanikoJobSpec {
  const { jobName, namespace, destination, settings } = input;
  const ownLabels = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [COMPONENT_LABEL]: KANIKO_COMPONENT,
    [BUILD_ID_LABEL]: input.tag.slice(0, DNS_LABEL_MAX),
    [BUILD_JOB_LABEL]: jobName,
  };
  const minted = settings.dockerConfigSecret ? undefined : input.pushCredentials;
  const pushSecret = settings.dockerConfigSecret ?? (minted ? pushSecretName(jobName) : undefined);
  const credentials = kanikoCredentials({
    destination,
    store: input.store,
    settings,
    ...(input.region ? { region: input.region } : {}),
    ...(input.env ? { env: input.env } : {}),
    ...(settings.kanikoCache && pushSecret ? { cachePushSecret: pushSecret } : {}),
  });
  const push = pushCredentials(pushSecret);

  const args = [
    `--context=${input.contextUri}`,
    `--dockerfile=${input.dockerfile}`,
    // Names the image in the tarball; nothing is pushed from this container.
    `--destination=${input.imageReference}`,
    '--no-push',
    `--tar-path=${IMAGE_TARBALL}`,
    ...(settings.kanikoCache
      ? ['--cache=true', `--cache-repo=${cacheRepository(destination)}`]
      : ['--cache=false', '--no-push-cache']),
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

  const imageVolume: k8s.V1VolumeMount = { name: 'image', mountPath: IMAGE_DIR };
  const kaniko: k8s.V1Container = {
    name: KANIKO_CONTAINER_NAME,
    image: settings.kanikoImage ?? DEFAULT_KANIKO_IMAGE,
    args,
    env: credentials.env,
    volumeMounts: [...credentials.volumeMounts, imageVolume],
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
      activeDeadlineSeconds: settings.buildTimeoutSeconds,
      ttlSecondsAfterFinished: JOB_TTL_SECONDS_AFTER_FINISHED,
      template: {
        metadata: { labels: { ...ownLabels, ...credentials.podLabels } },
        spec: {
          restartPolicy: 'Never',
          // Neither step talks to the API server: no token in either container.
          automountServiceAccountToken: false,
          ...(input.serviceAccountName ? { serviceAccountName: input.serviceAccountName } : {}),
          // kaniko stands here only while the overlay is laid: it moves to initContainers below.
          containers: [kaniko],
          volumes: [...credentials.volumes, ...push.volumes, { name: 'image', emptyDir: {} }],
        },
      },
    },
  };

  const laid = applyKanikoConfig(job, settings.kanikoConfig);
  const podSpec = laid.spec!.template.spec!;
  const builtBy = podSpec.containers[0]!;
  podSpec.initContainers = [...(podSpec.initContainers ?? []), builtBy];
  podSpec.containers = [
    pushContainer({
      image: settings.kanikoPushImage ?? DEFAULT_PUSH_IMAGE,
      imageReference: input.imageReference,
      insecure: insecureFor(destination.host, builtBy.args ?? []),
      credentials: push,
      imageVolume,
    }),
  ];

  const secrets: k8s.V1Secret[] = minted
    ? [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/dockerconfigjson',
          metadata: { name: pushSecretName(jobName), namespace, labels: ownLabels },
          stringData: { '.dockerconfigjson': pushDockerConfigJson(minted) },
        },
      ]
    : [];
  return { job: laid, secrets };
}

/**
 * Whether the kaniko args (ours plus the user's kaniko-config) let kaniko talk plain HTTP or
 * skip TLS verification for the destination: the push container is given the same leniency.
 */
function insecureFor(host: string, kanikoArgs: string[]): boolean {
  return kanikoArgs.some((arg) => {
    const name = flagName(arg);
    const value = arg.slice(name.length + 1);
    if (name === '--insecure' || name === '--skip-tls-verify') return value !== 'false';
    return (
      (name === '--insecure-registry' || name === '--skip-tls-verify-registry') && value === host
    );
  });
}

function pushContainer(options: {
  image: string;
  imageReference: string;
  insecure: boolean;
  credentials: ReturnType<typeof pushCredentials>;
  imageVolume: k8s.V1VolumeMount;
}): k8s.V1Container {
  return {
    name: PUSH_CONTAINER_NAME,
    image: options.image,
    args: [
      'push',
      IMAGE_TARBALL,
      options.imageReference,
      // `<ref>@sha256:...`: the agent reads the pushed digest from the termination message.
      '--image-refs=/dev/termination-log',
      ...(options.insecure ? ['--insecure'] : []),
    ],
    env: options.credentials.env,
    volumeMounts: [
      ...options.credentials.volumeMounts,
      // The build wrote it: read-only here, and nothing of the push step ever lands in it.
      { ...options.imageVolume, readOnly: true },
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      runAsUser: PUSH_UID,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}
