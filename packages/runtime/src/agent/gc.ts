// Retention: finished LaunchJobs past their TTL (with their run Jobs and unshared contexts),
// what a deleted LaunchJob leaves, and run Jobs whose LaunchJob is gone. A run Job is deleted only
// when it carries the LaunchJob's uid: what a job's status names is never enough.
import type { V1Job } from '@kubernetes/client-node';
import { apiStatus } from '../kubernetes/kube-client.js';
import type { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import {
  LABEL_LAUNCHJOB_UID,
  LAUNCHJOB_KIND,
  type CachedLaunchJob,
} from '../kubernetes/launchjob-types.js';
import type { BuildContextStore } from '../storage/context-store.js';
import type { AgentLogger } from './agent-log.js';
import type { AgentMetrics } from './agent-metrics.js';
import { runJobName } from './run-job-spec.js';
import type { RunJobs } from './run-jobs.js';
import { statusMessage } from './status.js';

export interface RetentionOptions {
  client: LaunchJobClient;
  runJobs: RunJobs;
  log: AgentLogger;
  metrics: AgentMetrics;
  contextStore?: BuildContextStore;
  ttlMs?: number;
  /** A run Job whose LaunchJob is gone is deleted once it is this old. */
  orphanGraceMs: number;
  /** Every LaunchJob the agent knows now (to tell whether a context is still in use). */
  jobs: () => CachedLaunchJob[];
  now: () => Date;
}

const keyOf = (job: CachedLaunchJob) => `${job.metadata.namespace}/${job.metadata.name}`;

export class Retention {
  /** Uids of jobs this agent deleted for their TTL, until their deletion is seen. */
  private readonly removed = new Set<string>();

  constructor(private readonly options: RetentionOptions) {}

  /** Whether this agent deleted the job itself (its leftovers are gone already); asked once. */
  takeRemoved(job: CachedLaunchJob): boolean {
    return this.removed.delete(job.metadata.uid ?? '');
  }

  /** Milliseconds until a finished job's TTL runs out; undefined when it is never deleted. */
  expiresIn(job: CachedLaunchJob): number | undefined {
    if (this.options.ttlMs === undefined) return undefined;
    const finished = Date.parse(job.status?.completionTime ?? '');
    if (Number.isNaN(finished)) return undefined;
    return Math.max(0, finished + this.options.ttlMs - this.options.now().getTime());
  }

  /**
   * Deletes a finished job past its TTL, then its run Job and, when no other LaunchJob names it,
   * its uploaded context. The delete carries the uid and resourceVersion that were read, so of
   * several agents exactly one succeeds and does the rest.
   */
  async removeExpired(job: CachedLaunchJob): Promise<boolean> {
    const { client, metrics, log } = this.options;
    const uid = job.metadata.uid ?? '';
    this.removed.add(uid);
    if (!(await client.deleteIfUnchanged(job))) {
      this.removed.delete(uid);
      return false;
    }
    metrics.count('deleted', { what: 'launchjob' });
    const removed = await this.removeLeftovers(job);
    log.info('deleted a finished LaunchJob past its TTL', {
      job: keyOf(job),
      phase: job.status?.phase,
      completionTime: job.status?.completionTime,
      ...removed,
    });
    return true;
  }

  /**
   * What a LaunchJob leaves once it is gone: its run Job (the garbage collector follows the
   * owner reference too, where a controller-manager runs; deleting it here does not wait for
   * that), and its context unless another job uses it.
   */
  async removeLeftovers(job: CachedLaunchJob): Promise<Record<string, string>> {
    const { runJobs, metrics, log, contextStore } = this.options;
    const removed: Record<string, string> = {};
    const namespace = job.metadata.namespace!;
    const name = runJobName(job);
    try {
      if (await runJobs.deleteOwned(namespace, name, job.metadata.uid!)) {
        metrics.count('deleted', { what: 'run_job' });
        removed.runJob = `${namespace}/${name}`;
      }
      const key = job.spec.source?.context?.key;
      const inUse = (k: string) =>
        this.options
          .jobs()
          .some(
            (other) =>
              other.metadata.uid !== job.metadata.uid && other.spec.source?.context?.key === k,
          );
      if (key && contextStore && !inUse(key)) {
        await contextStore.delete(key);
        metrics.count('deleted', { what: 'context' });
        removed.context = contextStore.uri(key);
      }
    } catch (error) {
      log.warn('could not remove all a LaunchJob left', {
        job: keyOf(job),
        ...removed,
        error: statusMessage(error),
      });
    }
    return removed;
  }

  /**
   * A run Job whose LaunchJob was deleted while no agent watched (where no garbage collector
   * runs). Only Jobs older than the grace period count, and the LaunchJob is read once more
   * before deleting: a watch that lags behind must not make the agent delete a Job another
   * agent has just created.
   */
  async removeOrphanedRunJobs(stopping: () => boolean): Promise<void> {
    const { runJobs, client, metrics, log } = this.options;
    const now = this.options.now().getTime();
    const known = new Set(this.options.jobs().map((job) => job.metadata.uid));
    for (const run of runJobs.all()) {
      if (stopping()) return;
      if (!this.orphanCandidate(run, known, now)) continue;
      const uid = run.metadata!.labels![LABEL_LAUNCHJOB_UID]!;
      const runNamespace = run.metadata!.namespace!;
      const owner = run.metadata?.ownerReferences?.find((r) => r.kind === LAUNCHJOB_KIND)?.name;
      const current = owner
        ? await client.get(runNamespace, owner).catch((error: unknown) => {
            if (apiStatus(error) === 404) return undefined;
            throw error;
          })
        : undefined;
      if (current?.metadata.uid === uid) continue;
      const name = run.metadata!.name!;
      if (!(await runJobs.deleteOwned(runNamespace, name, uid))) continue;
      metrics.count('deleted', { what: 'orphaned_run_job' });
      log.info('deleted a run Job whose LaunchJob no longer exists', {
        runJob: `${runNamespace}/${name}`,
        launchJob: `${runNamespace}/${owner ?? '?'}`,
      });
    }
  }

  private orphanCandidate(run: V1Job, known: Set<string | undefined>, now: number): boolean {
    const labels = run.metadata?.labels ?? {};
    const uid = labels[LABEL_LAUNCHJOB_UID];
    const created = Date.parse(String(run.metadata?.creationTimestamp ?? ''));
    return (
      uid !== undefined &&
      !known.has(uid) &&
      !Number.isNaN(created) &&
      now - created >= this.options.orphanGraceMs
    );
  }
}
