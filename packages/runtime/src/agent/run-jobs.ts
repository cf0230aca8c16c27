// The batch/v1 Jobs that run LaunchJobs: one informer per namespace the agent runs jobs in, the
// create that is safe to repeat, and what a run Job's state means for its LaunchJob.
import type * as k8s from '@kubernetes/client-node';
import { Informer, type InformerLog } from '../kubernetes/informer.js';
import { apiStatus, deleteIgnoringMissing } from '../kubernetes/kube-client.js';
import {
  LABEL_LAUNCHJOB_UID,
  LABEL_ROLE,
  LAUNCHJOB_KIND,
  type LaunchJob,
} from '../kubernetes/launchjob-types.js';
import { kubeJsonRequest } from '../kubernetes/raw-request.js';
import { JobRejectedError } from './job-errors.js';

/** What a run Job says about its LaunchJob. */
export type RunOutcome =
  | { state: 'missing' }
  | { state: 'foreign' }
  | { state: 'running' }
  | { state: 'suspended' }
  | { state: 'succeeded'; message: string }
  | { state: 'failed'; reason: string; message: string };

/**
 * What the cache keeps of a run Job: what mirrors its end (its conditions, spec.suspend) and
 * what links it to its LaunchJob and finds orphans (name, labels, owner, creation time). The pod
 * template, annotations, managedFields and the rest of the status are dropped, so the memory per
 * running job stays small.
 */
export function trimRunJob(job: k8s.V1Job): k8s.V1Job {
  const { name, namespace, uid, resourceVersion, labels, creationTimestamp, deletionTimestamp } =
    job.metadata ?? {};
  // The LaunchJob it belongs to, by name and uid: how a change is routed to its LaunchJob.
  const owner = job.metadata?.ownerReferences?.find((ref) => ref.kind === LAUNCHJOB_KIND);
  const metadata: k8s.V1ObjectMeta = {
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    ...(labels ? { labels } : {}),
    ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
    ...(deletionTimestamp !== undefined ? { deletionTimestamp } : {}),
    ...(owner
      ? {
          ownerReferences: [
            { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid },
          ],
        }
      : {}),
  };
  const conditions = job.status?.conditions?.map(({ type, status, reason, message }) => ({
    type,
    status,
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
  }));
  return {
    metadata,
    ...(job.spec?.suspend !== undefined
      ? { spec: { suspend: job.spec.suspend, template: {} } }
      : {}),
    ...(conditions ? { status: { conditions } } : {}),
  };
}

const jobsPath = (namespace: string) => `/apis/batch/v1/namespaces/${namespace}/jobs`;
const jobPath = (namespace: string, name: string) =>
  `${jobsPath(namespace)}/${encodeURIComponent(name)}`;

export function runOutcome(job: k8s.V1Job | undefined, uid: string): RunOutcome {
  if (!job) return { state: 'missing' };
  if (job.metadata?.labels?.[LABEL_LAUNCHJOB_UID] !== uid) return { state: 'foreign' };
  const conditions = job.status?.conditions ?? [];
  const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
  if (complete) return { state: 'succeeded', message: complete.message ?? 'the run Job completed' };
  const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) {
    return {
      state: 'failed',
      reason: failed.reason ?? 'RunJobFailed',
      message: failed.message ?? 'the run Job failed',
    };
  }
  if (job.spec?.suspend) return { state: 'suspended' };
  return { state: 'running' };
}

export class RunJobs {
  readonly informers: Array<Informer<k8s.V1Job>>;
  /** Run Job creates made (the scale benchmark counts API writes with it). */
  writes = 0;

  constructor(
    private readonly kubeConfig: k8s.KubeConfig,
    readonly namespaces: string[],
    log: InformerLog,
  ) {
    const labelSelector = `${LABEL_ROLE}=run`;
    this.informers = namespaces.map(
      (namespace) =>
        new Informer<k8s.V1Job>({
          kubeConfig,
          path: jobsPath(namespace),
          selector: { labelSelector },
          what: `run Jobs in ${namespace}`,
          log,
          transform: trimRunJob,
        }),
    );
  }

  /** The cached run Job `namespace/name`. */
  cached(namespace: string, name: string): k8s.V1Job | undefined {
    const index = this.namespaces.indexOf(namespace);
    return index < 0 ? undefined : this.informers[index]!.get(`${namespace}/${name}`);
  }

  all(): k8s.V1Job[] {
    return this.informers.flatMap((informer) => informer.list());
  }

  /**
   * The run Job as the API server has it now. For a cache miss: a Job created a moment ago may
   * not have reached the watch yet, so only a 404 from the server means it is gone.
   */
  async read(namespace: string, name: string): Promise<k8s.V1Job | undefined> {
    const cached = this.cached(namespace, name);
    if (cached) return cached;
    try {
      return trimRunJob(await this.get(namespace, name));
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }

  private async get(namespace: string, name: string): Promise<k8s.V1Job> {
    return (await kubeJsonRequest(this.kubeConfig, 'GET', jobPath(namespace, name))) as k8s.V1Job;
  }

  /**
   * Creates the run Job; an existing Job of the same (deterministic) name is this LaunchJob's if
   * its uid label says so, and is then followed: a retry never makes a second Job.
   */
  async ensure(job: Pick<LaunchJob, 'metadata'>, body: k8s.V1Job): Promise<'created' | 'adopted'> {
    const namespace = body.metadata!.namespace!;
    const name = body.metadata!.name!;
    const uid = job.metadata.uid!;
    const cached = this.cached(namespace, name);
    if (cached) return this.adopt(cached, uid, namespace, name);
    try {
      // The answer (the whole Job, pod template included) is not kept: the watch brings it.
      await kubeJsonRequest(this.kubeConfig, 'POST', jobsPath(namespace), body);
      this.writes += 1;
      return 'created';
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
      return this.adopt(await this.get(namespace, name), uid, namespace, name);
    }
  }

  private adopt(existing: k8s.V1Job, uid: string, namespace: string, name: string): 'adopted' {
    if (existing.metadata?.labels?.[LABEL_LAUNCHJOB_UID] !== uid) {
      throw new JobRejectedError(
        'RunJobNameTaken',
        `a Job ${namespace}/${name} exists that does not belong to this LaunchJob`,
      );
    }
    return 'adopted';
  }

  /**
   * Deletes the run Job `namespace/name` and, through Background propagation, its pods, only when
   * it carries `launchJobUid`: the delete names the uid of the Job that was read, so a Job of the
   * same name made since (or never the job's) is left alone. False when there was nothing of the
   * job's to delete. `gracePeriodSeconds` (a cancel: stopped_run_timeout) is how long its pods
   * have between SIGTERM and SIGKILL; the pods' own terminationGracePeriodSeconds says the same,
   * as the garbage collector deletes them with their own.
   */
  async deleteOwned(
    namespace: string,
    name: string,
    launchJobUid: string,
    options: { gracePeriodSeconds?: number } = {},
  ): Promise<boolean> {
    const existing = await this.read(namespace, name);
    if (!existing || existing.metadata?.labels?.[LABEL_LAUNCHJOB_UID] !== launchJobUid)
      return false;
    await deleteIgnoringMissing(() =>
      kubeJsonRequest(this.kubeConfig, 'DELETE', jobPath(namespace, name), {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        propagationPolicy: 'Background',
        preconditions: { uid: existing.metadata!.uid },
        ...(options.gracePeriodSeconds !== undefined
          ? { gracePeriodSeconds: options.gracePeriodSeconds }
          : {}),
      }),
    );
    return true;
  }
}
