import { createHash } from 'node:crypto';
import type { V1Container, V1Job, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
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
export function runJobName(job: LaunchJob): string {
  const uid = job.metadata.uid ?? '';
  const suffix = `-run-${createHash('sha256').update(uid).digest('hex').slice(0, 6)}`;
  const base = job.metadata.name!.slice(0, MAX_NAME - suffix.length).replace(/[-.]+$/, '');
  return `${base}${suffix}`;
}

/** A secure_mode refusal: what the job asked for that the agent may not do. */
export interface SecureModeViolation {
  field: string;
  message: string;
}

/**
 * secure_mode, as in the reference agent: a job may not replace the image's entrypoint, run
 * privileged, or mount host paths.
 */
export function secureModeViolations(job: LaunchJob): SecureModeViolation[] {
  const run = job.spec.run ?? {};
  const out: SecureModeViolation[] = [];
  if (run.command && run.command.length > 0) {
    out.push({
      field: 'spec.run.command',
      message: 'secure_mode forbids overriding the entrypoint; pass spec.run.args instead',
    });
  }
  if (run.privileged) {
    out.push({
      field: 'spec.run.privileged',
      message: 'secure_mode forbids privileged containers',
    });
  }
  (run.volumes ?? []).forEach((volume, index) => {
    if (volume && typeof volume === 'object' && 'hostPath' in volume) {
      out.push({
        field: `spec.run.volumes[${index}].hostPath`,
        message: 'secure_mode forbids host path volumes',
      });
    }
  });
  return out;
}

export interface RunJobOptions {
  image: string;
  /** The namespace the Job is created in (checked against the allowed ones by the caller). */
  namespace: string;
  secureMode: boolean;
  /** Who created it, for the managed-by label. */
  agentName: string;
}

/** The batch/v1 Job that runs a LaunchJob's image. */
export function runJobSpec(job: LaunchJob, options: RunJobOptions): V1Job {
  const run = job.spec.run ?? {};
  const name = runJobName(job);
  const labels: Record<string, string> = {
    'app.kubernetes.io/managed-by': 'launch-agent',
    [LABEL_ROLE]: 'run',
    [LABEL_LAUNCHJOB]: job.metadata.name!,
    [LABEL_LAUNCHJOB_NAMESPACE]: job.metadata.namespace!,
    [LABEL_LAUNCHJOB_UID]: job.metadata.uid!,
    [LABEL_QUEUE]: job.spec.queue,
  };
  const container: V1Container = {
    name: 'job',
    image: options.image,
    ...(run.command && run.command.length > 0 ? { command: run.command } : {}),
    ...(run.args ? { args: run.args } : {}),
    ...(run.env ? { env: run.env } : {}),
    ...(run.resources ? { resources: run.resources } : {}),
    ...(run.volumeMounts ? { volumeMounts: run.volumeMounts as unknown as V1VolumeMount[] } : {}),
    securityContext: run.privileged
      ? { privileged: true }
      : options.secureMode
        ? { allowPrivilegeEscalation: false, privileged: false }
        : {},
  };
  // An ownerReference only works inside one namespace; across namespaces the labels link them.
  const sameNamespace = options.namespace === job.metadata.namespace;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: options.namespace,
      labels,
      annotations: { 'launch-agent.dev/agent': options.agentName },
      ...(sameNamespace
        ? {
            ownerReferences: [
              {
                apiVersion: LAUNCHJOB_API_VERSION,
                kind: LAUNCHJOB_KIND,
                name: job.metadata.name!,
                uid: job.metadata.uid!,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      backoffLimit: run.backoffLimit ?? 0,
      ...(run.activeDeadlineSeconds ? { activeDeadlineSeconds: run.activeDeadlineSeconds } : {}),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [container],
          ...(run.nodeSelector ? { nodeSelector: run.nodeSelector } : {}),
          ...(run.tolerations ? { tolerations: run.tolerations } : {}),
          ...(run.volumes ? { volumes: run.volumes as unknown as V1Volume[] } : {}),
        },
      },
    },
  };
}
