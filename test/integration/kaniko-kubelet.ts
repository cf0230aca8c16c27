// Plays the Job controller and the kubelet for kaniko build Jobs in a test environment that has
// neither: the build pod is created from the Job's template, its kaniko container is given an
// end (a digest in the termination message, OOMKilled, Error, a deadline or an image pull that
// never succeeds), and the Job's conditions are written as the controller would write them.
import * as k8s from '@kubernetes/client-node';
import { gunzipSync } from 'node:zlib';
import {
  BUILD_ID_LABEL,
  BUILD_JOB_LABEL,
  MANAGED_BY_LABEL,
} from '../../packages/runtime/src/builders/kaniko/kaniko-job-spec.js';

/**
 * What the uploaded tar.gz holds: regular files and their bytes. A plain ustar reader, so the
 * check does not share code with the writer: 512-byte headers, octal sizes, zero blocks at the end.
 */
export function untar(gz: Buffer): Map<string, { mode: number; bytes: Buffer }> {
  const data = gunzipSync(gz);
  const files = new Map<string, { mode: number; bytes: Buffer }>();
  const field = (block: Buffer, start: number, length: number) =>
    block
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  let offset = 0;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = field(header, 156, 1) || '0';
    const mode = parseInt(field(header, 100, 8).trim() || '0', 8);
    const body = data.subarray(offset + 512, offset + 512 + size);
    if (type === '0') files.set(name, { mode, bytes: Buffer.from(body) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

export type Ending =
  | { kind: 'complete'; nodeName?: string }
  | { kind: 'oom' }
  | { kind: 'error' }
  | { kind: 'deadline' }
  | { kind: 'image-pull' };

export interface Seen {
  job: k8s.V1Job;
  configMaps: k8s.V1ConfigMap[];
  context: Map<string, { mode: number; bytes: Buffer }>;
}

export async function until<T>(what: string, get: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Plays the Job controller and kubelet for the one build Job that appears in the namespace.
 * `readContext` fetches the uploaded object by the key the Job's annotation names.
 */
export async function playKubelet(options: {
  batch: k8s.BatchV1Api;
  core: k8s.CoreV1Api;
  namespace: string;
  ending: Ending;
  /** What a completed build reports as the pushed digest. */
  digest: string;
  readContext: (key: string) => Promise<Buffer>;
}): Promise<Seen> {
  const { batch, core, namespace: ns, ending, digest, readContext } = options;
  const job = await until('the build Job', async () => {
    const jobs = await batch.listNamespacedJob({
      namespace: ns,
      // Build Jobs only: run Jobs the agent creates carry the same managed-by label.
      labelSelector: `${MANAGED_BY_LABEL}=launch-agent,${BUILD_ID_LABEL}`,
    });
    return jobs.items[0];
  });
  const name = job.metadata!.name!;
  const wanted = (job.spec!.template.spec!.volumes ?? []).filter((v) => v.configMap).length;
  const configMaps = await until('its ConfigMaps', async () => {
    const list = await core.listNamespacedConfigMap({
      namespace: ns,
      labelSelector: `${BUILD_JOB_LABEL}=${name}`,
    });
    return list.items.length >= wanted ? list.items : undefined;
  });
  const context = await untar(
    await readContext(job.metadata!.annotations!['launch-agent.dev/context-key']!),
  );

  // The Job controller's part: the pod from the template, owned by the Job.
  const template = job.spec!.template;
  const pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: `${name}-abcde`,
        labels: { ...template.metadata!.labels, 'batch.kubernetes.io/job-name': name },
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata!.uid!, controller: true },
        ],
      },
      spec: {
        ...template.spec!,
        ...(ending.kind === 'complete' && ending.nodeName ? { nodeName: ending.nodeName } : {}),
      },
    },
  });
  const containerStatus = (state: k8s.V1ContainerState): k8s.V1ContainerStatus => ({
    name: 'kaniko',
    image: template.spec!.containers[0]!.image!,
    imageID: '',
    ready: false,
    restartCount: 0,
    state,
  });
  // The kubelet's part: the container's end (or a wait that never ends).
  const now = new Date();
  const states: Record<Ending['kind'], k8s.V1ContainerState> = {
    complete: {
      terminated: {
        exitCode: 0,
        reason: 'Completed',
        message: `${digest}\n`,
        startedAt: now,
        finishedAt: now,
      },
    },
    oom: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: now, finishedAt: now } },
    error: {
      terminated: {
        exitCode: 1,
        reason: 'Error',
        // FallbackToLogsOnError: the log's tail becomes the termination message.
        message: 'INFO Unpacking rootfs\nerror building image: RUN pip install nope: exit status 1',
        startedAt: now,
        finishedAt: now,
      },
    },
    deadline: { running: { startedAt: now } },
    'image-pull': {
      waiting: {
        reason: 'ImagePullBackOff',
        message: 'Back-off pulling image "ghcr.io/x/kaniko:v0"',
      },
    },
  };
  pod.status = {
    phase:
      ending.kind === 'complete'
        ? 'Succeeded'
        : ending.kind === 'deadline' || ending.kind === 'image-pull'
          ? 'Pending'
          : 'Failed',
    containerStatuses: [containerStatus(states[ending.kind])],
  };
  await core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: pod });

  // The Job controller's part again: the Job's conditions.
  if (ending.kind !== 'image-pull') {
    const fresh = await batch.readNamespacedJob({ name, namespace: ns });
    const t = new Date();
    fresh.status =
      ending.kind === 'complete'
        ? {
            startTime: t,
            completionTime: t,
            succeeded: 1,
            conditions: [
              {
                type: 'SuccessCriteriaMet',
                status: 'True',
                lastTransitionTime: t,
                lastProbeTime: t,
              },
              { type: 'Complete', status: 'True', lastTransitionTime: t, lastProbeTime: t },
            ],
          }
        : {
            startTime: t,
            failed: 1,
            // The controller marks FailureTarget first, then Failed, with the same reason.
            conditions: ['FailureTarget', 'Failed'].map((type) => ({
              type,
              status: 'True',
              reason: ending.kind === 'deadline' ? 'DeadlineExceeded' : 'BackoffLimitExceeded',
              message:
                ending.kind === 'deadline'
                  ? 'Job was active longer than specified deadline'
                  : 'Job has reached the specified backoff limit',
              lastTransitionTime: t,
              lastProbeTime: t,
            })),
          };
    await batch.replaceNamespacedJobStatus({ name, namespace: ns, body: fresh });
  }
  return { job, configMaps, context };
}
