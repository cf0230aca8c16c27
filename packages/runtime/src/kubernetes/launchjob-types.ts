// The LaunchJob custom resource (charts/launch-agent/crds/launchjobs.launch-agent.dev.yaml), as
// TypeScript sees it. Keep the two in step: docs/agent.md describes every field.
import type { V1EnvVar, V1ObjectMeta, V1Toleration } from '@kubernetes/client-node';

export const LAUNCHJOB_GROUP = 'launch-agent.dev';
export const LAUNCHJOB_VERSION = 'v1alpha1';
export const LAUNCHJOB_PLURAL = 'launchjobs';
export const LAUNCHJOB_KIND = 'LaunchJob';
export const LAUNCHJOB_API_VERSION = `${LAUNCHJOB_GROUP}/${LAUNCHJOB_VERSION}`;

/** Labels the agent puts on the Jobs it creates. */
export const LABEL_LAUNCHJOB = 'launch-agent.dev/launchjob';
export const LABEL_LAUNCHJOB_NAMESPACE = 'launch-agent.dev/launchjob-namespace';
export const LABEL_LAUNCHJOB_UID = 'launch-agent.dev/launchjob-uid';
export const LABEL_QUEUE = 'launch-agent.dev/queue';
export const LABEL_ROLE = 'launch-agent.dev/role';

export type LaunchJobPhase =
  'Pending' | 'Building' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';
export const TERMINAL_PHASES: readonly LaunchJobPhase[] = ['Succeeded', 'Failed', 'Cancelled'];

/**
 * A request to end the job at whatever step it is (`launch-agent cancel`, or a merge patch of
 * spec.cancel): the one part of the spec that may change after creation, and only from not
 * requested to requested. `requestedBy` and `requestedAt` are what the canceller says.
 */
export interface LaunchJobCancel {
  requested: boolean;
  reason?: string;
  requestedBy?: string;
  requestedAt?: string;
}

export interface LaunchJobSource {
  /** A prebuilt image: nothing is built. */
  image?: string;
  /** A build context (tar.gz) in the agent's build-context store. */
  context?: {
    key: string;
    /** `sha256:<hex>` of the archive bytes; the agent refuses a stored context that differs. */
    digest?: string;
    /**
     * Set by `launch-agent submit` when it uploaded the object itself: the object's metadata
     * holds its hash, which lets the agent delete the context with the job (context-ownership.ts).
     */
    uploadToken?: string;
  };
  git?: { url: string; ref?: string };
}

export interface LaunchJobRunSpec {
  namespace?: string;
  command?: string[];
  args?: string[];
  env?: V1EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  privileged?: boolean;
  volumes?: Array<Record<string, unknown>>;
  volumeMounts?: Array<Record<string, unknown>>;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  /** PriorityClass of the run pod; a run template of the queue that sets one wins. */
  priorityClassName?: string;
}

export interface LaunchJobSpec {
  queue: string;
  source: LaunchJobSource;
  dockerfile?: string;
  buildArgs?: Record<string, string>;
  run?: LaunchJobRunSpec;
  cancel?: LaunchJobCancel;
}

export interface LaunchJobCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface LaunchJobStatus {
  phase?: LaunchJobPhase;
  agent?: string;
  heartbeatTime?: string;
  image?: string;
  imageStatus?: 'built' | 'reused' | 'prebuilt';
  digest?: string;
  buildJobName?: string;
  runJobName?: string;
  runJobNamespace?: string;
  message?: string;
  claimedTime?: string;
  startTime?: string;
  completionTime?: string;
  buildDurationSeconds?: number;
  conditions?: LaunchJobCondition[];
}

export interface LaunchJob {
  apiVersion: typeof LAUNCHJOB_API_VERSION;
  kind: typeof LAUNCHJOB_KIND;
  metadata: V1ObjectMeta;
  spec: LaunchJobSpec;
  status?: LaunchJobStatus;
}

/**
 * A LaunchJob as the agent's cache keeps it (cachedLaunchJob): the metadata, the status and the
 * part of the spec that every reconcile reads. The rest of the spec (the run's command, env,
 * volumes…, dockerfile, buildArgs) is read with a GET at the step that needs it: creating the
 * run Job, starting a build, checking secure_mode. A full LaunchJob is one of these.
 */
export interface CachedLaunchJob {
  apiVersion: typeof LAUNCHJOB_API_VERSION;
  kind: typeof LAUNCHJOB_KIND;
  metadata: V1ObjectMeta;
  spec: {
    queue: string;
    source: LaunchJobSource;
    run?: Pick<LaunchJobRunSpec, 'namespace'>;
    cancel?: LaunchJobCancel;
  };
  status?: LaunchJobStatus;
}

function copyDefined<T extends object, K extends keyof T>(
  from: T | undefined,
  keys: K[],
): Pick<T, K> {
  const out = {} as Pick<T, K>;
  if (!from) return out;
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

/**
 * What the cache keeps of a LaunchJob (the informer's transform): metadata without
 * managedFields or annotations (the agent reads none; `kubectl apply` leaves a copy of the whole
 * object in one), the spec's queue, source and run namespace, and the status.
 */
export function cachedLaunchJob(job: LaunchJob | CachedLaunchJob): CachedLaunchJob {
  const { spec } = job;
  const source = spec?.source ?? {};
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata: copyDefined(job.metadata, [
      'name',
      'namespace',
      'uid',
      'resourceVersion',
      'generation',
      'labels',
      'creationTimestamp',
      'deletionTimestamp',
      'finalizers',
      'ownerReferences',
    ]),
    spec: {
      queue: spec?.queue,
      source: {
        ...(source.image !== undefined ? { image: source.image } : {}),
        ...(source.context
          ? { context: copyDefined(source.context, ['key', 'digest', 'uploadToken']) }
          : {}),
        ...(source.git ? { git: copyDefined(source.git, ['url', 'ref']) } : {}),
      },
      ...(spec?.run?.namespace !== undefined ? { run: { namespace: spec.run.namespace } } : {}),
      ...(spec?.cancel
        ? {
            cancel: copyDefined(spec.cancel, ['requested', 'reason', 'requestedBy', 'requestedAt']),
          }
        : {}),
    },
    ...(job.status ? { status: job.status } : {}),
  };
}

export interface LaunchJobList {
  items: LaunchJob[];
  metadata?: { resourceVersion?: string };
}

export function isTerminal(job: Pick<LaunchJob, 'status'>): boolean {
  return job.status?.phase !== undefined && TERMINAL_PHASES.includes(job.status.phase);
}

/**
 * Sets a condition the Kubernetes way: lastTransitionTime changes only when the status does.
 * A condition that changes status (or is new) moves to the end, so the last one is the latest
 * transition: `kubectl get launchjobs` shows its reason (the Reason column), as `list` does.
 * Returns a new list.
 */
export function setCondition(
  conditions: LaunchJobCondition[] | undefined,
  next: Omit<LaunchJobCondition, 'lastTransitionTime'>,
  now: Date,
): LaunchJobCondition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const condition: LaunchJobCondition = {
    ...next,
    lastTransitionTime:
      previous && previous.status === next.status && previous.lastTransitionTime
        ? previous.lastTransitionTime
        : now.toISOString(),
  };
  if (index >= 0 && condition.lastTransitionTime === previous!.lastTransitionTime) {
    list[index] = condition;
  } else {
    if (index >= 0) list.splice(index, 1);
    list.push(condition);
  }
  return list;
}

/** The job's cancel request, when one was made. */
export function cancelRequest(job: {
  spec?: { cancel?: LaunchJobCancel | undefined } | undefined;
}): LaunchJobCancel | undefined {
  return job.spec?.cancel?.requested === true ? job.spec.cancel : undefined;
}
