import { PassThrough, type Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type { LaunchJob } from '../kubernetes/launchjob-types.js';
import { kubeJsonRequest, withQuery } from '../kubernetes/raw-request.js';

/** There is nothing to read yet; the message says why. */
export class NoLogsYetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoLogsYetError';
  }
}

/**
 * The run Job's newest pod, by the label the Job controller puts on its pods. The run Job lives in
 * its LaunchJob's namespace; status.runJobNamespace is not trusted to say where to look.
 */
export async function runJobPod(
  kubeConfig: k8s.KubeConfig,
  job: LaunchJob,
): Promise<{ namespace: string; pod: string }> {
  const runJob = job.status?.runJobName;
  const namespace = job.metadata.namespace!;
  if (!runJob) {
    throw new NoLogsYetError(
      `launchjob/${job.metadata.name} has no run Job yet (phase ${job.status?.phase ?? 'Pending'}); try again once it is Running`,
    );
  }
  const pods = (await kubeJsonRequest(
    kubeConfig,
    'GET',
    withQuery(`/api/v1/namespaces/${namespace}/pods`, {
      labelSelector: `batch.kubernetes.io/job-name=${runJob}`,
    }),
  )) as k8s.V1PodList;
  const newest = pods.items.sort(
    (a, b) =>
      new Date(b.metadata?.creationTimestamp ?? 0).getTime() -
      new Date(a.metadata?.creationTimestamp ?? 0).getTime(),
  )[0];
  if (!newest?.metadata?.name) {
    throw new NoLogsYetError(`the run Job ${namespace}/${runJob} has no pod yet`);
  }
  return { namespace, pod: newest.metadata.name };
}

/** Writes the run container's log to `out`; with `follow`, until the container ends. */
export async function writeRunJobLog(
  kubeConfig: k8s.KubeConfig,
  job: LaunchJob,
  out: Writable | NodeJS.WritableStream,
  follow = false,
): Promise<void> {
  const { namespace, pod } = await runJobPod(kubeConfig, job);
  const stream = new PassThrough();
  stream.pipe(out as Writable, { end: false });
  const ended = new Promise<void>((resolve) => stream.on('end', resolve));
  await new k8s.Log(kubeConfig).log(namespace, pod, 'job', stream, { follow });
  await ended;
}
