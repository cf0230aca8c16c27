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

export type LaunchJobPhase = 'Pending' | 'Building' | 'Running' | 'Succeeded' | 'Failed';
export const TERMINAL_PHASES: readonly LaunchJobPhase[] = ['Succeeded', 'Failed'];

export interface LaunchJobSource {
  /** A prebuilt image: nothing is built. */
  image?: string;
  /** A build context (tar.gz) in the agent's build-context store. */
  context?: { key: string; digest?: string };
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

export interface LaunchJobList {
  items: LaunchJob[];
  metadata?: { resourceVersion?: string };
}

export function isTerminal(job: LaunchJob): boolean {
  return job.status?.phase !== undefined && TERMINAL_PHASES.includes(job.status.phase);
}

/**
 * Sets a condition the Kubernetes way: lastTransitionTime changes only when the status does.
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
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}
