// What a LaunchJob may ask for. A LaunchJob is written by a submitter whose only permission is to
// create LaunchJobs in their namespace; everything the agent makes for it must stay within what
// that namespace and the job's queue allow. The queue's run template is the operator's and is
// policy: what it fixes, a job cannot change or extend. The checks are pure, so the admission
// policy's rules (charts/launch-agent/templates/admission-policy.yaml) and these can be held to the
// same table of cases; the agent runs them on every path, the policy may be absent.
import type { AllowedToleration, NamespaceSelector, QueuePolicy } from '@launch-agent/config';
import type { LaunchJob, LaunchJobRunSpec } from '../kubernetes/launchjob-types.js';
import { parseQuantity } from './quantity.js';

/** Why a job is refused; each is a LaunchJob status reason. */
export type PolicyReason =
  | 'NamespaceNotServed'
  | 'NamespaceNotAllowed'
  | 'QueueNotOffered'
  | 'PodSecurityViolation'
  | 'VolumeTypeNotAllowed'
  | 'TemplateFieldFixed'
  | 'PriorityClassNotAllowed'
  | 'TolerationNotAllowed'
  | 'ResourcesOverCap'
  | 'SecureModeViolation';

export interface PolicyViolation {
  reason: PolicyReason;
  /** The LaunchJob field at fault, e.g. `spec.run.volumes[0].nfs`. */
  field: string;
  message: string;
}

/** The policy of a queue that has no `queue-policies` entry: baseline, nothing extra. */
export const DEFAULT_QUEUE_POLICY: QueuePolicy = {
  podSecurity: 'baseline',
  allowedVolumeTypes: [],
  maxResources: {},
};

/** Volume types the Pod Security baseline level allows. */
export const BASELINE_VOLUME_TYPES: readonly string[] = [
  'emptyDir',
  'configMap',
  'secret',
  'persistentVolumeClaim',
  'projected',
  'downwardAPI',
  'ephemeral',
];

/** Taint keys only control-plane pods tolerate. */
const CONTROL_PLANE_TAINTS = [
  'node-role.kubernetes.io/control-plane',
  'node-role.kubernetes.io/master',
];

/** Where a LaunchJob may live: a namespace the agent serves, never the agent's own. */
export function namespaceViolation(
  namespace: string,
  served: readonly string[],
  agentNamespace: string,
): PolicyViolation | undefined {
  if (namespace !== agentNamespace && served.includes(namespace)) return undefined;
  const where =
    served.length > 0 ? served.join(', ') : 'none: kubernetes.target-namespaces is empty';
  return {
    reason: 'NamespaceNotServed',
    field: 'metadata.namespace',
    message:
      namespace === agentNamespace
        ? `${namespace} is the agent's own namespace, which holds its credentials and never runs jobs; create LaunchJobs in a namespace the agent serves (${where})`
        : `the agent does not serve namespace ${namespace}; it serves ${where}`,
  };
}

/** Whether `labels` match a Kubernetes label selector (an empty selector matches everything). */
export function selectorMatches(
  selector: NamespaceSelector,
  labels: Record<string, string>,
): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In'
        ? has && values.includes(labels[key]!)
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key]!)
          : operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** Whether the queue needs the namespace's labels to decide (it has a selector). */
export function needsNamespaceLabels(policy: QueuePolicy | undefined): boolean {
  return policy?.namespaceSelector !== undefined;
}

/**
 * Whether a queue is offered to a namespace: listed, or matched by the selector. A queue with
 * neither is offered to every namespace the agent serves.
 */
export function queueViolation(
  queue: string,
  namespace: string,
  policy: QueuePolicy | undefined,
  namespaceLabels: Record<string, string> | undefined,
): PolicyViolation | undefined {
  if (!policy || (!policy.namespaces && !policy.namespaceSelector)) return undefined;
  if (policy.namespaces?.includes(namespace)) return undefined;
  if (policy.namespaceSelector && selectorMatches(policy.namespaceSelector, namespaceLabels ?? {}))
    return undefined;
  const offered = [
    ...(policy.namespaces ?? []),
    ...(policy.namespaceSelector
      ? [`namespaces labelled ${JSON.stringify(policy.namespaceSelector)}`]
      : []),
  ].join(', ');
  return {
    reason: 'QueueNotOffered',
    field: 'spec.queue',
    message: `queue ${queue} is not offered to namespace ${namespace} (it is offered to ${offered})`,
  };
}

/** What a queue's run template fixes for every pod of the queue. */
interface FixedByTemplate {
  serviceAccountName?: string;
  priorityClassName?: string;
  nodeSelector: boolean;
  tolerations: boolean;
}

function fixedByTemplate(template: Record<string, unknown> | undefined): FixedByTemplate {
  const pod = (
    (template?.spec as Record<string, unknown> | undefined)?.template as
      Record<string, unknown> | undefined
  )?.spec as Record<string, unknown> | undefined;
  const fixed: FixedByTemplate = {
    nodeSelector: pod?.nodeSelector !== undefined,
    tolerations: pod?.tolerations !== undefined,
  };
  if (typeof pod?.serviceAccountName === 'string')
    fixed.serviceAccountName = pod.serviceAccountName;
  if (typeof pod?.priorityClassName === 'string') fixed.priorityClassName = pod.priorityClassName;
  return fixed;
}

/** Whether the run template names the ServiceAccount the run pods use. */
export function templateNamesServiceAccount(
  template: Record<string, unknown> | undefined,
): boolean {
  return fixedByTemplate(template).serviceAccountName !== undefined;
}

export interface RunPolicyInput {
  job: Pick<LaunchJob, 'metadata' | 'spec'>;
  policy: QueuePolicy | undefined;
  /** The queue's run template (`run-templates.<queue>`), as the operator wrote it. */
  template: Record<string, unknown> | undefined;
  secureMode: boolean;
}

/** Everything in the job's spec.run that its namespace and queue do not allow, in field order. */
export function runPolicyViolations(input: RunPolicyInput): PolicyViolation[] {
  const { job, secureMode } = input;
  const policy = input.policy ?? DEFAULT_QUEUE_POLICY;
  const run: LaunchJobRunSpec = job.spec.run ?? {};
  const out: PolicyViolation[] = [];
  if (run.namespace && run.namespace !== job.metadata.namespace) {
    out.push({
      reason: 'NamespaceNotAllowed',
      field: 'spec.run.namespace',
      message: `a LaunchJob runs in its own namespace (${job.metadata.namespace}); leave spec.run.namespace empty or set it to that (got ${run.namespace})`,
    });
  }
  if (secureMode) out.push(...secureModeViolations(run));
  out.push(...podSecurityViolations(run, policy));
  out.push(...templateViolations(run, fixedByTemplate(input.template)));
  out.push(...priorityViolations(run, policy, fixedByTemplate(input.template)));
  out.push(...tolerationViolations(run, policy));
  out.push(...resourceViolations(run, policy));
  return out;
}

/** secure_mode, as in the W&B launch agent: no entrypoint override, privileged, or host paths. */
function secureModeViolations(run: LaunchJobRunSpec): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const refuse = (field: string, message: string) =>
    out.push({ reason: 'SecureModeViolation', field, message });
  if (run.command && run.command.length > 0)
    refuse(
      'spec.run.command',
      'secure_mode forbids overriding the entrypoint; pass spec.run.args instead',
    );
  if (run.privileged) refuse('spec.run.privileged', 'secure_mode forbids privileged containers');
  (run.volumes ?? []).forEach((volume, index) => {
    if (volume && typeof volume === 'object' && 'hostPath' in volume)
      refuse(`spec.run.volumes[${index}].hostPath`, 'secure_mode forbids host path volumes');
  });
  return out;
}

/** The Pod Security baseline level over what the job asks for, unless the queue allows more. */
function podSecurityViolations(run: LaunchJobRunSpec, policy: QueuePolicy): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const privileged = policy.podSecurity === 'privileged';
  if (run.privileged && !privileged) {
    out.push({
      reason: 'PodSecurityViolation',
      field: 'spec.run.privileged',
      message:
        'run pods meet the Pod Security baseline level: no privileged containers (the queue policy would need pod-security: privileged)',
    });
  }
  const allowed = new Set([...BASELINE_VOLUME_TYPES, ...policy.allowedVolumeTypes]);
  (run.volumes ?? []).forEach((volume, index) => {
    const types = Object.keys(volume ?? {}).filter((key) => key !== 'name');
    for (const type of types) {
      if (type === 'hostPath' ? privileged : allowed.has(type)) continue;
      out.push({
        reason: type === 'hostPath' ? 'PodSecurityViolation' : 'VolumeTypeNotAllowed',
        field: `spec.run.volumes[${index}].${type}`,
        message:
          type === 'hostPath'
            ? 'run pods meet the Pod Security baseline level: no hostPath volumes'
            : `volume type ${type} is not allowed for this queue (allowed: ${[...allowed].join(', ')})`,
      });
    }
  });
  return out;
}

function templateViolations(run: LaunchJobRunSpec, fixed: FixedByTemplate): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  if (fixed.nodeSelector && run.nodeSelector && Object.keys(run.nodeSelector).length > 0) {
    out.push({
      reason: 'TemplateFieldFixed',
      field: 'spec.run.nodeSelector',
      message:
        "the queue's run template fixes the node selector; a LaunchJob cannot change or extend it",
    });
  }
  if (fixed.tolerations && run.tolerations && run.tolerations.length > 0) {
    out.push({
      reason: 'TemplateFieldFixed',
      field: 'spec.run.tolerations',
      message:
        "the queue's run template fixes the tolerations; a LaunchJob cannot change or extend them",
    });
  }
  if (
    fixed.priorityClassName !== undefined &&
    run.priorityClassName &&
    run.priorityClassName !== fixed.priorityClassName
  ) {
    out.push({
      reason: 'TemplateFieldFixed',
      field: 'spec.run.priorityClassName',
      message: `the queue's run template fixes the priority class to ${fixed.priorityClassName} (got ${run.priorityClassName})`,
    });
  }
  return out;
}

function priorityViolations(
  run: LaunchJobRunSpec,
  policy: QueuePolicy,
  fixed: FixedByTemplate,
): PolicyViolation[] {
  const wanted = run.priorityClassName;
  if (!wanted || fixed.priorityClassName !== undefined) return [];
  const allowed = policy.allowedPriorityClasses;
  if (allowed ? allowed.includes(wanted) : !wanted.startsWith('system-')) return [];
  return [
    {
      reason: 'PriorityClassNotAllowed',
      field: 'spec.run.priorityClassName',
      message: allowed
        ? `priority class ${wanted} is not allowed for this queue (allowed: ${allowed.join(', ') || 'none'})`
        : `priority class ${wanted} is reserved for the cluster's own components`,
    },
  ];
}

function tolerationAllowed(
  toleration: Record<string, unknown>,
  allowed: readonly AllowedToleration[],
): boolean {
  const operator = (toleration.operator as string | undefined) ?? 'Equal';
  return allowed.some(
    (entry) =>
      (entry.key ?? '') === (toleration.key ?? '') &&
      (entry.operator ?? 'Equal') === operator &&
      (operator === 'Exists' || (entry.value ?? '') === (toleration.value ?? '')) &&
      (entry.effect === undefined || entry.effect === toleration.effect),
  );
}

function tolerationViolations(run: LaunchJobRunSpec, policy: QueuePolicy): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  (run.tolerations ?? []).forEach((raw, index) => {
    const toleration = raw as unknown as Record<string, unknown>;
    const field = `spec.run.tolerations[${index}]`;
    const key = typeof toleration.key === 'string' ? toleration.key : '';
    let message: string | undefined;
    if (!key && toleration.operator === 'Exists') {
      message = 'a toleration of every taint (no key, operator Exists) is never allowed';
    } else if (policy.allowedTolerations) {
      if (!tolerationAllowed(toleration, policy.allowedTolerations))
        message = `toleration ${JSON.stringify(toleration)} is not one this queue allows`;
    } else if (CONTROL_PLANE_TAINTS.includes(key)) {
      message = `tolerating ${key} would put the run on control-plane nodes`;
    }
    if (message) out.push({ reason: 'TolerationNotAllowed', field, message });
  });
  return out;
}

function resourceViolations(run: LaunchJobRunSpec, policy: QueuePolicy): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  for (const kind of ['requests', 'limits'] as const) {
    for (const [name, value] of Object.entries(run.resources?.[kind] ?? {})) {
      const cap = policy.maxResources[name];
      if (cap === undefined) continue;
      const asked = parseQuantity(String(value));
      const field = `spec.run.resources.${kind}.${name}`;
      if (asked === undefined) {
        out.push({
          reason: 'ResourcesOverCap',
          field,
          message: `${value} is not a Kubernetes quantity`,
        });
      } else if (asked > parseQuantity(cap)!) {
        out.push({
          reason: 'ResourcesOverCap',
          field,
          message: `${name} ${value} is over this queue's cap of ${cap}`,
        });
      }
    }
  }
  return out;
}
