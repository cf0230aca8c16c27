import { createHash } from 'node:crypto';
import type { V1Container, V1Job, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { MACRO_PATTERN, type AgentSettings, type RunTemplateMacro } from '@launch-agent/config';
import { templateNamesServiceAccount } from './run-policy.js';
import {
  JobOverlayError,
  layJobOverlay,
  validateJobOverlay,
} from '../builders/kaniko/kaniko-config-overlay.js';
import {
  LABEL_LAUNCHJOB,
  LABEL_LAUNCHJOB_NAMESPACE,
  LABEL_LAUNCHJOB_UID,
  LABEL_QUEUE,
  LABEL_ROLE,
  LAUNCHJOB_API_VERSION,
  LAUNCHJOB_KIND,
  type LaunchJob,
} from '../kubernetes/launchjob-types.js';

const MAX_NAME = 63;

/**
 * The run Job's name: a function of the LaunchJob's name and uid only, so every agent (and the
 * same agent after a restart) computes the same name, and a second create is a 409 Conflict
 * instead of a second Job. The uid part keeps a LaunchJob re-created under the same name from
 * adopting the old one's Job.
 */
export function runJobName(job: Pick<LaunchJob, 'metadata'>): string {
  const uid = job.metadata.uid ?? '';
  const suffix = `-run-${createHash('sha256').update(uid).digest('hex').slice(0, 6)}`;
  const base = job.metadata.name!.slice(0, MAX_NAME - suffix.length).replace(/[-.]+$/, '');
  return `${base}${suffix}`;
}

/** The label Kueue reads to queue a Job; with it the run Job is created suspended. */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';
/** The LaunchJob label that fills `${project_name}` in run templates. */
export const LABEL_PROJECT = 'launch-agent.dev/project';

/** A queue's run template (`run-templates.<queue>`), with what its macros need. */
export interface RunJobTemplate {
  queue: string;
  /** The partial batch/v1 Job, macros not yet filled in. */
  job: Record<string, unknown>;
  /** `${entity_name}`: the agent config's entity. */
  entity?: string | undefined;
}

/** The run template for a queue, or undefined when the config has none for it. */
export function runTemplateForQueue(
  settings: Pick<AgentSettings, 'runTemplates' | 'entity'>,
  queue: string,
): RunJobTemplate | undefined {
  const job = settings.runTemplates?.[queue];
  return job ? { queue, job, entity: settings.entity } : undefined;
}

/** What each macro becomes for this LaunchJob and image. */
export function runTemplateMacros(
  job: LaunchJob,
  image: string,
  entity: string | undefined,
): Record<RunTemplateMacro, string> {
  return {
    image_uri: image,
    run_id: job.metadata.name!,
    run_name: job.metadata.name!,
    queue_name: job.spec.queue,
    project_name: job.metadata.labels?.[LABEL_PROJECT] ?? job.metadata.namespace ?? '',
    entity_name: entity ?? '',
  };
}

/** Fills `${name}` macros in every string; an unknown name is left as written. */
export function fillMacros(value: unknown, macros: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(MACRO_PATTERN, (whole, name: string) =>
      Object.hasOwn(macros, name) ? macros[name]! : whole,
    );
  }
  if (Array.isArray(value)) return value.map((v) => fillMacros(v, macros));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [key, fillMacros(child, macros)]),
    );
  }
  return value;
}

/** A run template that cannot be laid over the run Job; the message names the config key. */
export class RunTemplateError extends JobOverlayError {
  constructor(queue: string, path: string, message: string) {
    super(`run-templates.${queue}`, path, message);
    this.name = 'RunTemplateError';
  }
}

export interface RunJobOptions {
  image: string;
  /** Who created it, for the managed-by label. */
  agentName: string;
  /** The queue's run template (runTemplateForQueue), laid over the Job. */
  template?: RunJobTemplate | undefined;
  /**
   * stopped_run_timeout: the run pods' terminationGracePeriodSeconds, how long they have between
   * SIGTERM and SIGKILL when the run is stopped (a cancel). It wins over a run template's.
   */
  stopGraceSeconds?: number;
}

/**
 * The batch/v1 Job that runs a LaunchJob's image. With a run template: the template, macros
 * filled in, is laid over the Job by the rules of builder.kaniko-config (lists appended,
 * mappings merged, scalars from the template win; the agent's name, namespace and labels
 * stay). A priorityClassName of the template wins over the LaunchJob's. A Job labelled
 * kueue.x-k8s.io/queue-name is created suspended, for Kueue to admit.
 */
export function runJobSpec(job: LaunchJob, options: RunJobOptions): V1Job {
  const base = baseRunJob(job, options);
  const template = options.template;
  let out = base;
  if (template) {
    const fail = (path: string, message: string) =>
      new RunTemplateError(template.queue, path, message);
    const filled = fillMacros(
      template.job,
      runTemplateMacros(job, options.image, template.entity),
    ) as Record<string, unknown>;
    out = layJobOverlay(base, validateJobOverlay(filled, fail, 'the run container'), { fail });
  }
  const podSpec = out.spec!.template.spec!;
  if (!podSpec.priorityClassName && job.spec.run?.priorityClassName) {
    podSpec.priorityClassName = job.spec.run.priorityClassName;
  }
  if (options.stopGraceSeconds !== undefined) {
    podSpec.terminationGracePeriodSeconds = options.stopGraceSeconds;
  }
  if (out.metadata?.labels?.[KUEUE_QUEUE_LABEL]) out.spec!.suspend = true;
  return out;
}

/** What a run Job that has not started is waiting for, or undefined when it is not waiting. */
export interface RunJobWait {
  reason: 'Suspended';
  message: string;
}

/**
 * A suspended run Job (Kueue has not admitted it yet, or someone suspended it) is waiting, not
 * running: its LaunchJob should say so. Undefined for a Job that is not suspended.
 */
export function runJobWaiting(job: V1Job): RunJobWait | undefined {
  if (job.spec?.suspend !== true) return undefined;
  const queue = job.metadata?.labels?.[KUEUE_QUEUE_LABEL];
  return {
    reason: 'Suspended',
    message: queue
      ? `run Job ${job.metadata?.namespace}/${job.metadata?.name} waits for Kueue to admit it (queue ${queue})`
      : `run Job ${job.metadata?.namespace}/${job.metadata?.name} is suspended`,
  };
}

function baseRunJob(job: LaunchJob, options: RunJobOptions): V1Job {
  const run = job.spec.run ?? {};
  const name = runJobName(job);
  const namespace = job.metadata.namespace!;
  const labels: Record<string, string> = {
    'app.kubernetes.io/managed-by': 'launch-agent',
    [LABEL_ROLE]: 'run',
    [LABEL_LAUNCHJOB]: labelValue(job.metadata.name!),
    [LABEL_LAUNCHJOB_NAMESPACE]: namespace,
    [LABEL_LAUNCHJOB_UID]: job.metadata.uid!,
    [LABEL_QUEUE]: labelValue(job.spec.queue),
  };
  const container: V1Container = {
    name: 'job',
    image: options.image,
    ...(run.command && run.command.length > 0 ? { command: run.command } : {}),
    ...(run.args ? { args: run.args } : {}),
    ...(run.env ? { env: run.env } : {}),
    ...(run.resources ? { resources: run.resources } : {}),
    ...(run.volumeMounts ? { volumeMounts: run.volumeMounts as unknown as V1VolumeMount[] } : {}),
    // The queue policy allowed privileged (run-policy.ts) before this is reached.
    securityContext: run.privileged
      ? { privileged: true }
      : { allowPrivilegeEscalation: false, privileged: false },
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels,
      annotations: { 'launch-agent.dev/agent': options.agentName },
      // The run lives in its LaunchJob's namespace: deleting the LaunchJob deletes the run.
      ownerReferences: [
        {
          apiVersion: LAUNCHJOB_API_VERSION,
          kind: LAUNCHJOB_KIND,
          name: job.metadata.name!,
          uid: job.metadata.uid!,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      backoffLimit: run.backoffLimit ?? 0,
      ...(run.activeDeadlineSeconds ? { activeDeadlineSeconds: run.activeDeadlineSeconds } : {}),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // No API token in a run pod unless the queue's template names the account it runs as.
          ...(templateNamesServiceAccount(options.template?.job)
            ? {}
            : { automountServiceAccountToken: false }),
          containers: [container],
          ...(run.nodeSelector ? { nodeSelector: run.nodeSelector } : {}),
          ...(run.tolerations ? { tolerations: run.tolerations } : {}),
          ...(run.volumes ? { volumes: run.volumes as unknown as V1Volume[] } : {}),
        },
      },
    },
  };
}

/**
 * A name as a label value: label values are at most 63 characters, names up to 253. A longer
 * name keeps its first 56 characters and gains a hash of the whole, so two long names that share
 * a prefix stay apart. Agents find a run's LaunchJob by its ownerReference, never by this label.
 */
export function labelValue(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  return `${name.slice(0, MAX_NAME - 7).replace(/[-._]+$/, '')}-${hash}`;
}
