import type { LaunchAgentConfig } from './generated/agent-config.js';
import { parseContextStore, type ContextStore } from './uri/context-store.js';
import { parseDestination, type Destination } from './uri/destination.js';
import { DEFAULT_GIT_SCHEMES, normalizeHost, type GitScheme } from './uri/git-hosts.js';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_MAX_SOURCE_BYTES,
  DEFAULT_SOURCE_BUDGET_SOURCES,
  DEFAULT_STALE_AFTER_SECONDS,
  effectiveDestination,
} from './validate/semantic-rules.js';

export type EnvironmentType = 'aws' | 'gcp' | 'azure' | 'local';
export type BuilderType = 'docker' | 'kaniko' | 'noop';

/** The builder as every later stage sees it: aliases resolved, URIs parsed, defaults applied. */
export interface BuilderSettings {
  /** `auto` when the config has no builder block: docker if an engine answers, else noop. */
  type: BuilderType | 'auto';
  destination?: Destination;
  platform?: 'linux/amd64' | 'linux/arm64';
  buildContextStore?: ContextStore;
  buildJobName: string;
  /** Cloud credentials Secret for kaniko (`secret-name` / `secret-key`). */
  credentialsSecret?: { name: string; key: string };
  kanikoImage?: string;
  /** The push container's image (`kaniko-push-image`): crane, pinned by the runtime by default. */
  kanikoPushImage?: string;
  kanikoConfig?: Record<string, unknown>;
  /** kaniko's registry layer cache: mounts the push credentials into the build container. */
  kanikoCache?: boolean;
  /** Pull-only dockerconfigjson Secret for base images, mounted into the build container. */
  pullDockerConfigSecret?: string;
  buildTimeoutSeconds: number;
  createRepository: boolean;
  dockerConfigSecret?: string;
  azureStorageSecret?: { name: string; key: string };
  contextPvcMountPath: string;
  /** An S3-compatible endpoint and addressing style for an s3:// store (unset: the defaults). */
  s3?: { endpoint?: string; addressingStyle?: 'path' | 'virtual' };
}

/** A label selector over namespaces, as Kubernetes writes one. */
export interface NamespaceSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }>;
}

/** A toleration a queue lets its jobs add (`allowed-tolerations`). */
export interface AllowedToleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** One queue's policy (`queue-policies.<queue>`); every key optional, as in the config. */
export interface QueuePolicy {
  /** Namespaces offered this queue; with `namespaceSelector`, either offers it. */
  namespaces?: string[];
  namespaceSelector?: NamespaceSelector;
  podSecurity: 'baseline' | 'privileged';
  allowedVolumeTypes: string[];
  allowedPriorityClasses?: string[];
  allowedTolerations?: AllowedToleration[];
  /** Resource name to quantity, as written (`8`, `64Gi`). */
  maxResources: Record<string, string>;
}

/** The one internal shape of the agent config. No code after normalization looks at aliases. */
export interface AgentSettings {
  queues: string[];
  entity?: string;
  /** -1 means unlimited. */
  maxJobs: number;
  maxSchedulers: number;
  verbosity: 0 | 1 | 2;
  secureMode: boolean;
  stoppedRunTimeoutSeconds: number;
  environment: { type: EnvironmentType; region?: string; project?: string };
  builder: BuilderSettings;
  kubernetes: {
    namespace?: string;
    serviceAccount?: string;
    buildServiceAccount?: string;
    targetNamespaces: string[];
  };
  /** Per queue, the partial batch/v1 Job laid over its run Jobs (`run-templates`). */
  runTemplates: Record<string, Record<string, unknown>>;
  /** Per queue, who may use it and what its jobs may ask for (`queue-policies`). */
  queuePolicies: Record<string, QueuePolicy>;
  launchJobs: {
    heartbeatSeconds: number;
    staleAfterSeconds: number;
    /** Unset: finished LaunchJobs are kept. */
    ttlSecondsAfterFinished?: number;
    /** Caps on unpacking a job's stored build context (launchjobs.max-source-*). */
    sourceLimits: { maxBytes: number; maxEntries: number };
    /** What all sources being written or built from may take of /tmp at once. */
    sourceBudgetBytes: number;
    gitSources: GitSourceSettings;
  };
}

/** launchjobs.git-sources with its defaults applied; hosts are lower case. */
export interface GitSourceSettings {
  /** Empty: no git source is allowed. */
  hosts: string[];
  schemes: GitScheme[];
  /** Hosts offered the agent's git credentials (never `*`). */
  credentialHosts: string[];
  /** Unset: ~/.git-credentials of the agent. */
  credentialsFile?: string;
}

export const DEFAULT_QUEUE = 'default';
export const DEFAULT_BUILD_JOB_NAME = 'wandb-launch-container-build';
export const DEFAULT_BUILD_TIMEOUT_SECONDS = 1800;
export const DEFAULT_CONTEXT_PVC_MOUNT_PATH = '/var/run/launch-agent/contexts';
export { DEFAULT_MAX_SOURCE_BYTES };
/** launchjobs.max-source-entries. */
export const DEFAULT_MAX_SOURCE_ENTRIES = 100_000;

/**
 * Folds a valid raw config into AgentSettings: `uri` becomes `destination`, the deprecated
 * registry block fills a missing destination, the legacy `queue` is appended to `queues`.
 * Call only on a config that passed validation.
 */
export function normalizeConfig(config: LaunchAgentConfig): AgentSettings {
  const queues = [...(config.queues ?? [])];
  if (config.queue && !queues.includes(config.queue)) queues.push(config.queue);
  if (queues.length === 0) queues.push(DEFAULT_QUEUE);

  const raw = config.builder;
  const target = effectiveDestination(config);
  const destination = target ? parseDestination(target.value, target.path).value : undefined;
  const store = raw?.['build-context-store']
    ? parseContextStore(raw['build-context-store']).value
    : undefined;
  const builder: BuilderSettings = {
    type: raw?.type ?? 'auto',
    buildJobName: raw?.['build-job-name'] ?? DEFAULT_BUILD_JOB_NAME,
    buildTimeoutSeconds: raw?.['build-timeout-seconds'] ?? DEFAULT_BUILD_TIMEOUT_SECONDS,
    createRepository: raw?.['create-repository'] ?? false,
    kanikoCache: raw?.['kaniko-cache'] ?? false,
    contextPvcMountPath: raw?.['context-pvc-mount-path'] ?? DEFAULT_CONTEXT_PVC_MOUNT_PATH,
  };
  if (destination) builder.destination = destination;
  if (raw?.platform) builder.platform = raw.platform;
  if (store) builder.buildContextStore = store;
  if (raw?.['secret-name'] && raw['secret-key']) {
    builder.credentialsSecret = { name: raw['secret-name'], key: raw['secret-key'] };
  }
  if (raw?.['kaniko-image']) builder.kanikoImage = raw['kaniko-image'];
  if (raw?.['kaniko-push-image']) builder.kanikoPushImage = raw['kaniko-push-image'];
  if (raw?.['pull-docker-config-secret'])
    builder.pullDockerConfigSecret = raw['pull-docker-config-secret'];
  if (raw?.['kaniko-config'])
    builder.kanikoConfig = raw['kaniko-config'] as Record<string, unknown>;
  if (raw?.['docker-config-secret']) builder.dockerConfigSecret = raw['docker-config-secret'];
  if (raw?.['s3-endpoint'] || raw?.['s3-addressing-style']) {
    builder.s3 = {
      ...(raw['s3-endpoint'] ? { endpoint: raw['s3-endpoint'].replace(/\/+$/, '') } : {}),
      ...(raw['s3-addressing-style'] ? { addressingStyle: raw['s3-addressing-style'] } : {}),
    };
  }
  if (raw?.['azure-storage-secret']) {
    builder.azureStorageSecret = {
      name: raw['azure-storage-secret'].name,
      key: raw['azure-storage-secret'].key ?? 'AZURE_STORAGE_ACCESS_KEY',
    };
  }

  const maxSourceBytes = config.launchjobs?.['max-source-bytes'] ?? DEFAULT_MAX_SOURCE_BYTES;
  const git = config.launchjobs?.['git-sources'];
  const hosts = (git?.hosts ?? []).map((host) => (host === '*' ? host : normalizeHost(host)));
  const gitSources: GitSourceSettings = {
    hosts,
    schemes: [...(git?.schemes ?? DEFAULT_GIT_SCHEMES)],
    credentialHosts: git?.['credential-hosts']
      ? git['credential-hosts'].map(normalizeHost)
      : hosts.filter((host) => host !== '*'),
  };
  if (git?.['credentials-file']) gitSources.credentialsFile = git['credentials-file'];
  const settings: AgentSettings = {
    queues,
    maxJobs: config.max_jobs ?? 1,
    maxSchedulers: config.max_schedulers ?? 1,
    verbosity: (config.verbosity ?? 0) as 0 | 1 | 2,
    secureMode: config.secure_mode ?? false,
    stoppedRunTimeoutSeconds: config.stopped_run_timeout ?? 60,
    environment: { type: config.environment?.type ?? 'local' },
    builder,
    kubernetes: { targetNamespaces: [...(config.kubernetes?.['target-namespaces'] ?? [])] },
    runTemplates: structuredClone(
      (config['run-templates'] ?? {}) as Record<string, Record<string, unknown>>,
    ),
    queuePolicies: Object.fromEntries(
      Object.entries(config['queue-policies'] ?? {}).map(([queue, policy]) => [
        queue,
        normalizeQueuePolicy(policy ?? {}),
      ]),
    ),
    launchJobs: {
      heartbeatSeconds: config.launchjobs?.['heartbeat-seconds'] ?? DEFAULT_HEARTBEAT_SECONDS,
      staleAfterSeconds: config.launchjobs?.['stale-after-seconds'] ?? DEFAULT_STALE_AFTER_SECONDS,
      sourceLimits: {
        maxBytes: maxSourceBytes,
        maxEntries: config.launchjobs?.['max-source-entries'] ?? DEFAULT_MAX_SOURCE_ENTRIES,
      },
      sourceBudgetBytes:
        config.launchjobs?.['source-budget-bytes'] ??
        maxSourceBytes * DEFAULT_SOURCE_BUDGET_SOURCES,
      gitSources,
    },
  };
  const ttl = config.launchjobs?.['ttl-seconds-after-finished'];
  if (ttl !== undefined) settings.launchJobs.ttlSecondsAfterFinished = ttl;
  if (config.entity) settings.entity = config.entity;
  if (config.environment?.region) settings.environment.region = config.environment.region;
  if (config.environment?.project) settings.environment.project = config.environment.project;
  const k8s = config.kubernetes;
  if (k8s?.namespace) settings.kubernetes.namespace = k8s.namespace;
  if (k8s?.['service-account']) settings.kubernetes.serviceAccount = k8s['service-account'];
  if (k8s?.['build-service-account'])
    settings.kubernetes.buildServiceAccount = k8s['build-service-account'];
  return settings;
}

type QueuePolicyConfig = NonNullable<NonNullable<LaunchAgentConfig['queue-policies']>[string]>;

function normalizeQueuePolicy(policy: QueuePolicyConfig): QueuePolicy {
  const out: QueuePolicy = {
    podSecurity: policy['pod-security'] ?? 'baseline',
    allowedVolumeTypes: [...(policy['allowed-volume-types'] ?? [])],
    maxResources: Object.fromEntries(
      Object.entries(policy['max-resources'] ?? {}).map(([name, q]) => [name, String(q)]),
    ),
  };
  if (policy.namespaces) out.namespaces = [...policy.namespaces];
  if (policy['namespace-selector'])
    out.namespaceSelector = structuredClone(policy['namespace-selector']) as NamespaceSelector;
  if (policy['allowed-priority-classes'])
    out.allowedPriorityClasses = [...policy['allowed-priority-classes']];
  if (policy['allowed-tolerations'])
    out.allowedTolerations = structuredClone(policy['allowed-tolerations']);
  return out;
}
