import type * as k8s from '@kubernetes/client-node';
import { apiStatus } from '../../kubernetes/kube-client.js';
import { Informer } from '../../kubernetes/informer.js';
import { kubeJsonRequest, withQuery } from '../../kubernetes/raw-request.js';
import { BUILD_JOB_LABEL, KANIKO_CONTAINER_NAME, PUSH_CONTAINER_NAME } from './kaniko-job-spec.js';

/** How a build Job ended, as seen through the Job and its pod. */
export type JobOutcome =
  | { status: 'succeeded'; pod?: k8s.V1Pod }
  | {
      status: 'failed';
      /** DeadlineExceeded, ImagePullBackOff, OOMKilled, Error, BackoffLimitExceeded, ... */
      reason: string;
      message: string;
      pod?: k8s.V1Pod;
    };

/** Container states that never resolve by themselves: the build cannot start. */
const HOPELESS_WAITING = new Set([
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImageNeverPull',
]);

export interface FollowJobOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  jobName: string;
  /** The Job's activeDeadlineSeconds: the agent gives up this long (plus grace) after start, even without a job controller. */
  deadlineSeconds: number;
  graceSeconds?: number;
  signal?: AbortSignal;
  /** Called with every pod state seen (the builder starts the log stream from it). */
  onPod?: (pod: k8s.V1Pod) => void;
}

/** Every container's status: init containers (the kaniko build) first, then the push step. */
function allStatuses(pod: k8s.V1Pod | undefined): k8s.V1ContainerStatus[] {
  return [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])];
}

/** The kaniko build step (an init container). */
export function kanikoContainerStatus(
  pod: k8s.V1Pod | undefined,
): k8s.V1ContainerStatus | undefined {
  return allStatuses(pod).find((c) => c.name === KANIKO_CONTAINER_NAME);
}

/** The push step, which reports `<ref>@sha256:...` in its termination message. */
export function pushContainerStatus(pod: k8s.V1Pod | undefined): k8s.V1ContainerStatus | undefined {
  return allStatuses(pod).find((c) => c.name === PUSH_CONTAINER_NAME);
}

/** The step that ended the build badly: the first container that exited non-zero. */
export function failedContainerStatus(
  pod: k8s.V1Pod | undefined,
): k8s.V1ContainerStatus | undefined {
  return allStatuses(pod).find((c) => (c.state?.terminated?.exitCode ?? 0) !== 0);
}

function condition(job: k8s.V1Job, type: string): k8s.V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

/**
 * Follows a build Job through watches on the Job and on its pods (no polling) until it
 * completes or fails, the pod is stuck in a state that cannot recover, the deadline passes,
 * or the signal aborts.
 */
export function followBuildJob(options: FollowJobOptions): Promise<JobOutcome> {
  const { kubeConfig, namespace, jobName } = options;
  const podsPath = `/api/v1/namespaces/${namespace}/pods`;
  const podSelector = `${BUILD_JOB_LABEL}=${jobName}`;
  let latestPod: k8s.V1Pod | undefined;

  return new Promise<JobOutcome>((resolve, reject) => {
    let done = false;
    const stops: Array<() => void> = [];
    const finish = (outcome: JobOutcome | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const stop of stops) stop();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    /** The pod as the API server has it now: the watch may not have delivered its last change yet. */
    const freshPod = async (): Promise<k8s.V1Pod | undefined> => {
      try {
        const pods = (await kubeJsonRequest(
          kubeConfig,
          'GET',
          withQuery(podsPath, { labelSelector: podSelector }),
        )) as k8s.V1PodList;
        return newest(pods.items) ?? latestPod;
      } catch {
        return latestPod;
      }
    };
    const settleFromJob = async (job: k8s.V1Job) => {
      const complete = condition(job, 'Complete');
      const failed = condition(job, 'Failed');
      if (!complete && !failed) return;
      const pod = await freshPod();
      if (complete) {
        finish({ status: 'succeeded', ...(pod ? { pod } : {}) });
        return;
      }
      const terminated = (failedContainerStatus(pod) ?? kanikoContainerStatus(pod))?.state
        ?.terminated;
      // DeadlineExceeded says more than the container's own end; otherwise the container's
      // reason (OOMKilled, Error) names the cause better than BackoffLimitExceeded.
      const reason =
        failed!.reason === 'DeadlineExceeded'
          ? 'DeadlineExceeded'
          : (terminated?.reason ?? failed!.reason ?? 'Failed');
      const exit = terminated?.exitCode !== undefined ? ` (exit code ${terminated.exitCode})` : '';
      finish({
        status: 'failed',
        reason,
        message: `${failed!.message ?? failed!.reason ?? 'the Job failed'}${exit}`,
        ...(pod ? { pod } : {}),
      });
    };

    const timer = setTimeout(
      () =>
        finish({
          status: 'failed',
          reason: 'DeadlineExceeded',
          message: `the build did not finish within ${options.deadlineSeconds}s (builder.build-timeout-seconds)`,
          ...(latestPod ? { pod: latestPod } : {}),
        }),
      (options.deadlineSeconds + (options.graceSeconds ?? 60)) * 1000,
    );
    const onAbort = () => finish(new Error('the build was cancelled'));
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    // The watches ride out an API-server outage (they retry for ever): the build goes on in its
    // pod meanwhile, and its end is read from a fresh list once the server answers again. Only
    // a refusal no retry can fix ends the follow.
    const fatal = (error: unknown) => apiStatus(error) === 401 || apiStatus(error) === 403;
    const jobs = new Informer<k8s.V1Job>({
      kubeConfig,
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      selector: { fieldSelector: `metadata.name=${jobName}` },
      what: `build Job ${namespace}/${jobName}`,
      isFatal: fatal,
      onFatal: (error) => finish(error),
    });
    const onJob = (job: k8s.V1Job) => {
      settleFromJob(job).catch((error: Error) => finish(error));
    };
    jobs.on({
      add: onJob,
      update: (_previous, job) => onJob(job),
      delete: () =>
        finish({
          status: 'failed',
          reason: 'Deleted',
          message: `the Job ${namespace}/${jobName} was deleted before it finished`,
        }),
    });
    const pods = new Informer<k8s.V1Pod>({
      kubeConfig,
      path: podsPath,
      selector: { labelSelector: podSelector },
      what: `pods of build Job ${namespace}/${jobName}`,
      isFatal: fatal,
      onFatal: (error) => finish(error),
    });
    const onPod = (pod: k8s.V1Pod) => {
      latestPod = pod;
      options.onPod?.(pod);
      const waiting = allStatuses(pod).find(
        (c) => c.state?.waiting?.reason && HOPELESS_WAITING.has(c.state.waiting.reason),
      )?.state?.waiting;
      if (waiting?.reason) {
        finish({
          status: 'failed',
          reason: waiting.reason,
          message: waiting.message ?? waiting.reason,
          pod,
        });
      }
    };
    pods.on({ add: onPod, update: (_previous, pod) => onPod(pod) });
    stops.push(
      () => jobs.stop(),
      () => pods.stop(),
    );
    jobs.start();
    pods.start();
  });
}

function newest(pods: k8s.V1Pod[]): k8s.V1Pod | undefined {
  // creationTimestamp is the RFC 3339 string of the JSON (typed as a Date by client-node).
  const created = (pod: k8s.V1Pod) =>
    Date.parse(String(pod.metadata?.creationTimestamp ?? '')) || 0;
  return [...pods].sort((a, b) => created(b) - created(a))[0];
}
