// Retention: finished LaunchJobs past their TTL (with their run Jobs and the contexts their own
// submission uploaded, once no job uses them), what a deleted LaunchJob leaves, and run Jobs
// whose LaunchJob is gone. A run Job is deleted only when it carries the LaunchJob's uid: what a
// job's status names is never enough.
import type { V1Job } from '@kubernetes/client-node';
import { apiStatus } from '../kubernetes/kube-client.js';
import type { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import {
  LABEL_LAUNCHJOB_UID,
  LAUNCHJOB_KIND,
  type CachedLaunchJob,
} from '../kubernetes/launchjob-types.js';
import type { BuildContextStore } from '../storage/context-store.js';
import { provesUpload } from '../storage/context-ownership.js';
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

  /**
   * Milliseconds until a finished job's TTL runs out; undefined when it is never deleted. The
   * job whose submission uploaded a context that other jobs still name is kept past its TTL
   * until they are gone: only its deletion can remove the context (removeOwnContext), so it
   * waits to be the last.
   */
  expiresIn(job: CachedLaunchJob): number | undefined {
    const ttlMs = this.options.ttlMs;
    if (ttlMs === undefined) return undefined;
    const finished = Date.parse(job.status?.completionTime ?? '');
    if (Number.isNaN(finished)) return undefined;
    const left = Math.max(0, finished + ttlMs - this.options.now().getTime());
    if (left > 0) return left;
    const context = job.spec.source?.context;
    if (context?.uploadToken && this.namedByOthers(job, context.key)) {
      return Math.max(1_000, Math.min(ttlMs, 10_000));
    }
    return 0;
  }

  /** Whether a LaunchJob other than `job` names the context `key`. */
  private namedByOthers(job: CachedLaunchJob, key: string): boolean {
    return this.options
      .jobs()
      .some(
        (other) =>
          other.metadata.uid !== job.metadata.uid && other.spec.source?.context?.key === key,
      );
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
      if (key && contextStore && !this.namedByOthers(job, key)) {
        const kept = await this.removeOwnContext(job, contextStore, key);
        if (kept) removed.contextKept = kept;
        else removed.context = contextStore.uri(key);
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
   * Deletes the job's context only when the job proves its own submission uploaded it (the
   * upload token, see context-ownership.ts), and only that very object (a delete conditioned on
   * the version that was checked): never an object that merely has the name the job gives, nor
   * one written under that name since. Returns why the context was kept, or undefined.
   */
  private async removeOwnContext(
    job: CachedLaunchJob,
    store: BuildContextStore,
    key: string,
  ): Promise<string | undefined> {
    const stored = await store.stat(key);
    if (!stored) return 'not in the store';
    const proof = provesUpload(stored, {
      namespace: job.metadata.namespace,
      uploadToken: job.spec.source.context?.uploadToken,
    });
    if (!proof.proven) return proof.why;
    if (!(await store.delete(key, { ifVersion: stored.version }))) {
      return 'the stored object changed after it was checked';
    }
    this.options.metrics.count('deleted', { what: 'context' });
    return undefined;
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
