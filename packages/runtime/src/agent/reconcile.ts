// One reconcile per LaunchJob key: observe, decide (decide.ts, the step table as a pure
// function), act. It reads what exists now (the job as the informer has it, its build, its run
// Job) and takes the one next step, so a missed or repeated event, a restart or an API-server
// outage can neither lose a job nor start a second build or run Job. It returns "look again
// after" instead of waiting; an error is retried with backoff.
import type { AgentSettings } from '@launch-agent/config';
import type { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import type { CachedLaunchJob, LaunchJob } from '../kubernetes/launchjob-types.js';
import { apiStatus, isConflict, isNotFound } from '../kubernetes/kube-client.js';
import { pinImage } from '../registries/image-reference.js';
import type { AgentLogger } from './agent-log.js';
import type { AgentMetrics } from './agent-metrics.js';
import { BuildContextUnavailableError } from './build-context-source.js';
import { stopCancelled } from './cancel.js';
import type { Builds } from './builds.js';
import { describeSource } from './builds.js';
import { claimedAt, creationTime, type Slots } from './slots.js';
import { decide, type Ending, type Observed, type RunImage, type Step } from './decide.js';
import type { EventRecorder } from './events.js';
import type { Retention } from './retention.js';
import { checkGitSource } from './git-source.js';
import { createRefusalReason, JobRejectedError } from './job-errors.js';
import type { AgentLease } from './lease.js';
import { runJobName, runJobSpec, runJobWaiting, runTemplateForQueue } from './run-job-spec.js';
import type { PolicyViolation } from './run-policy.js';
import type { RunJobs } from './run-jobs.js';
import {
  buildingStatus,
  claimedStatus,
  finishedStatus,
  runningStatus,
  statusMessage,
  waitingStatus,
  type RunStarted,
  type StatusWriter,
} from './status.js';

export interface ReconcileResult {
  /** Look at the job again after this long, even if nothing changes. */
  requeueAfterMs?: number;
}

export interface ReconcilerParts {
  identity: string;
  settings: AgentSettings;
  /** The agent's own namespace: never a place where jobs run. */
  agentNamespace: string;
  /** The tenant namespaces whose LaunchJobs the agent takes (kubernetes.target-namespaces). */
  servedNamespaces: string[];
  /** A served namespace's labels (for queues offered by a namespace selector). */
  namespaceLabels: (namespace: string) => Promise<Record<string, string>>;
  /** The job as the informer has it now (trimmed: cachedLaunchJob). */
  observed: (key: string) => CachedLaunchJob | undefined;
  /** The last state of a job the informer saw deleted (taken: asked once). */
  takeTombstone: (key: string) => CachedLaunchJob | undefined;
  /** Reads the whole job, for the steps that need more of its spec than the cache keeps. */
  client: Pick<LaunchJobClient, 'get'>;
  status: StatusWriter;
  slots: Slots;
  lease: AgentLease;
  builds: Builds;
  runJobs: RunJobs;
  retention: Retention;
  events: EventRecorder;
  metrics: AgentMetrics;
  log: AgentLogger;
  stopping: () => boolean;
  /** A slot freed: the jobs waiting for one are queued again. */
  slotFreed: () => void;
  now: () => Date;
}

const DONE: ReconcileResult = {};

export class Reconciler {
  constructor(private readonly parts: ReconcilerParts) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    let observed = this.observe(key);
    for (;;) {
      const step = decide(observed);
      if (step.kind !== 'observe') {
        try {
          return await this.act(key, observed, step);
        } catch (error) {
          if (!(error instanceof JobRejectedError || error instanceof BuildContextUnavailableError))
            throw error;
          // The freshest copy: the refusal may come after this reconcile wrote the job.
          const current = this.parts.status.freshest(
            key,
            this.parts.observed(key) ?? observed.job!,
          );
          await this.finish(key, current, {
            phase: 'Failed',
            reason: error.reason,
            message: statusMessage(error),
            event: 'Rejected',
          });
          return DONE;
        }
      }
      observed = { ...observed, ...(await this.read(key, observed.job!, step.what)) };
    }
  }

  /** What is known without a request: the cached job, its build, the holder's Lease, the TTL. */
  private observe(key: string): Observed {
    const { parts } = this;
    const cached = parts.observed(key);
    const base: Observed = {
      identity: parts.identity,
      settings: parts.settings,
      agentNamespace: parts.agentNamespace,
      servedNamespaces: parts.servedNamespaces,
      stopping: parts.stopping(),
      job: cached && parts.status.freshest(key, cached),
      build: parts.builds.get(key),
      checkGitSource: (git) => checkGitSource(git, parts.settings.launchJobs.gitSources),
    };
    if (!base.job) {
      const tombstone = parts.takeTombstone(key);
      return {
        ...base,
        tombstone,
        removedByRetention: tombstone !== undefined && parts.retention.takeRemoved(tombstone),
      };
    }
    const job = base.job;
    const holder = job.status?.agent;
    return {
      ...base,
      ttlExpiresInMs: parts.retention.expiresIn(job),
      ...(holder && holder !== parts.identity
        ? { holderLeaseExpiresInMs: parts.lease.expiresIn(holder, claimedAt(job)) }
        : {}),
    };
  }

  /** Reads what decide asked for. */
  private async read(
    key: string,
    job: CachedLaunchJob,
    what: 'namespaceLabels' | 'runJob' | 'whole',
  ): Promise<Partial<Observed>> {
    const { parts } = this;
    const namespace = job.metadata.namespace!;
    if (what === 'namespaceLabels')
      return { namespaceLabels: await parts.namespaceLabels(namespace) };
    if (what === 'runJob') {
      return { runJob: (await parts.runJobs.read(namespace, runJobName(job))) ?? null };
    }
    return { whole: (await this.readWhole(key, job)) ?? null };
  }

  private async act(key: string, observed: Observed, step: Step): Promise<ReconcileResult> {
    const { parts } = this;
    const job = observed.job!;
    // Book-keeping every step needs: which jobs hold a slot here.
    if (observed.job && step.kind !== 'ignore' && parts.slots.observe(key, job)) parts.slotFreed();
    switch (step.kind) {
      case 'observe':
      case 'ignore':
      case 'wait':
        return DONE;
      case 'forget':
        return this.forget(key, step.removeLeftoversOf);
      case 'keepFinished':
        parts.builds.abort(key);
        return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : DONE;
      case 'expire':
        parts.builds.abort(key);
        await parts.retention.removeExpired(job);
        return DONE;
      case 'refuse':
        await this.refuse(key, job, step.violations);
        return DONE;
      case 'waitForHolder':
        parts.builds.abort(key, new Error(`the job is now held by ${step.holder}`));
        return { requeueAfterMs: step.requeueAfterMs };
      case 'claim':
        parts.builds.abort(key, new Error(`the job is now held by ${step.previous ?? 'no agent'}`));
        return this.claim(key, job, step.previous);
      case 'fail':
        parts.log.error('job failed', {
          job: key,
          reason: step.ending.reason,
          error: step.ending.message,
        });
        await this.finish(key, job, step.ending);
        if (step.clearBuild) parts.builds.clear(key);
        return DONE;
      case 'startBuild':
        return this.startBuild(key, step.job, step.announce);
      case 'run':
        return this.run(key, step.job, step.image);
      case 'mirror':
        await this.mirror(key, job, step.wait);
        return DONE;
      case 'finish':
        await this.finish(key, job, step.ending);
        return DONE;
      case 'cancel':
        await stopCancelled(
          { ...parts, stopGraceSeconds: parts.settings.stoppedRunTimeoutSeconds },
          key,
          job,
          step,
        );
        await this.finish(key, job, step.ending);
        return DONE;
    }
  }

  /** The job was deleted: nothing of it may stay in this agent, nor its run Job. */
  private async forget(key: string, last: CachedLaunchJob | undefined): Promise<ReconcileResult> {
    const { parts } = this;
    parts.builds.abort(key, new Error('the LaunchJob was deleted'));
    parts.status.forget(key);
    if (parts.slots.observe(key, undefined) || parts.slots.isHeld(key)) parts.slotFreed();
    parts.slots.release(key);
    if (last) {
      const removed = await parts.retention.removeLeftovers(last);
      parts.log.info('LaunchJob deleted; forgotten', { job: key, ...removed });
    }
    return DONE;
  }

  /** Fails a job for where it lives or which queue it names, without claiming it. */
  private async refuse(
    key: string,
    job: CachedLaunchJob,
    violations: PolicyViolation[],
  ): Promise<void> {
    const { parts } = this;
    parts.builds.abort(key, new Error(violations[0]!.message));
    const message = violations.map((v) => `${v.field}: ${v.message}`).join('; ');
    parts.log.info('job refused', { job: key, reason: violations[0]!.reason, message });
    try {
      await this.finish(key, job, {
        phase: 'Failed',
        reason: violations[0]!.reason,
        message,
        event: 'Rejected',
      });
    } catch (error) {
      // Another agent refused it first, or it changed: the watch brings the new state.
      if (!isConflict(error) && !isNotFound(error)) throw error;
    }
  }

  private async claim(
    key: string,
    job: CachedLaunchJob,
    previous: string | undefined,
  ): Promise<ReconcileResult> {
    const { parts } = this;
    if (!parts.slots.reserve(key, creationTime(job))) return DONE;
    const kind = previous ? 'takeover' : 'new';
    let won = false;
    try {
      const claimed = await parts.status.write(
        key,
        job,
        claimedStatus(job, parts.identity, kind, parts.now()),
      );
      won = true;
      parts.metrics.count('claims', { result: previous ? 'resumed' : 'won' });
      parts.log.info(previous ? 'resumed a job from a stale agent' : 'claimed job', {
        job: key,
        queue: job.spec.queue,
        phase: claimed.status?.phase,
        ...(previous ? { previousAgent: previous } : {}),
      });
      parts.events.record(
        claimed,
        previous ? 'TakenOver' : 'Claimed',
        previous
          ? `${parts.identity} took the job over: the Lease of ${previous} expired`
          : `claimed by ${parts.identity}`,
      );
      return DONE;
    } catch (error) {
      if (isConflict(error) || isNotFound(error)) {
        // Another agent won, or the job changed: the watch brings the new state.
        parts.metrics.count('claims', { result: 'conflict' });
        parts.log.debug('claim lost to another writer', { job: key });
        return DONE;
      }
      throw error;
    } finally {
      parts.slots.claimed(key, won);
      if (!won) parts.slotFreed();
    }
  }

  private async startBuild(
    key: string,
    job: LaunchJob,
    announce: boolean,
  ): Promise<ReconcileResult> {
    const { parts } = this;
    if (announce) {
      const building = await parts.status.write(
        key,
        job,
        buildingStatus(job, describeSource(job), parts.now()),
      );
      parts.events.record(building, 'BuildStarted', `building ${describeSource(job)}`);
    }
    parts.builds.start(key, job);
    return DONE;
  }

  /**
   * The whole job, read from the API server, when it is still the version the cache has (else
   * undefined: the watch brings the newer one, which queues the key again). A 404 is undefined
   * too: the watch brings the deletion.
   */
  private async readWhole(key: string, cached: CachedLaunchJob): Promise<LaunchJob | undefined> {
    const { parts } = this;
    let whole: LaunchJob;
    try {
      whole = await parts.client.get(cached.metadata.namespace!, cached.metadata.name!);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const now = parts.status.freshest(key, parts.observed(key) ?? cached);
    if (
      whole.metadata.uid !== now.metadata.uid ||
      whole.metadata.resourceVersion !== now.metadata.resourceVersion
    ) {
      parts.log.debug('the cache is behind the API server; waiting for the watch', { job: key });
      return undefined;
    }
    return whole;
  }

  /** Runs the image: says what the build did, creates the run Job, writes Running or Pending. */
  private async run(key: string, job: LaunchJob, source: RunImage): Promise<ReconcileResult> {
    const { parts } = this;
    let run: Omit<RunStarted, 'runJobName' | 'runJobNamespace'>;
    if (source.from === 'prebuilt') {
      parts.metrics.count('images', { result: 'prebuilt' });
      // By digest when its registry answers one, else by tag with the reason in status.
      const pin = await parts.builds.pinPrebuilt(source.image);
      run = { image: source.image, imageStatus: 'prebuilt', ...pin };
    } else {
      run = this.builtImage(key, job, source.outcome);
    }
    const result = await this.startRun(key, job, run);
    if (source.from === 'build') parts.builds.clear(key);
    return result;
  }

  /** What a settled build made: metrics, a log line and an Event; the image to run. */
  private builtImage(
    key: string,
    job: LaunchJob,
    outcome: Extract<RunImage, { from: 'build' }>['outcome'],
  ): Omit<RunStarted, 'runJobName' | 'runJobNamespace'> {
    const { parts } = this;
    const { report, leader } = outcome;
    const imageStatus = report.status === 'built' && leader ? 'built' : 'reused';
    parts.metrics.count('images', { result: imageStatus });
    if (imageStatus === 'built' && report.timings.buildMs !== undefined) {
      parts.metrics.observeBuildSeconds(
        (report.timings.buildMs + (report.timings.pushMs ?? 0)) / 1000,
      );
    }
    const what =
      imageStatus === 'built'
        ? 'image built'
        : report.status === 'built'
          ? 'image built for another job of the same source'
          : 'image exists; build skipped';
    parts.log.info(what, { job: key, image: report.image, digest: report.digest });
    parts.events.record(
      job,
      imageStatus === 'built' ? 'Built' : 'ImageReused',
      `${what}: ${report.image}${report.digest ? `@${report.digest}` : ''}`,
    );
    return {
      image: report.image,
      imageStatus,
      ...(report.digest ? { digest: report.digest } : {}),
      buildDurationSeconds: Math.round(report.timings.totalMs) / 1000,
    };
  }

  private async startRun(
    key: string,
    job: LaunchJob,
    run: Omit<RunStarted, 'runJobName' | 'runJobNamespace'>,
  ): Promise<ReconcileResult> {
    const { parts } = this;
    const namespace = job.metadata.namespace!;
    const name = runJobName(job);
    const body = runJobSpec(job, {
      // By digest whenever one is known: the tag in status.image is for people.
      image: run.digest ? pinImage(run.image, run.digest) : run.image,
      agentName: parts.identity,
      template: runTemplateForQueue(parts.settings, job.spec.queue),
      stopGraceSeconds: parts.settings.stoppedRunTimeoutSeconds,
    });
    const result = await this.createRun(job, body);
    parts.metrics.count('run_jobs_created', { result });
    parts.log.info(
      result === 'created' ? 'run Job created' : 'run Job already exists; following it',
      {
        job: key,
        runJob: `${namespace}/${name}`,
        image: run.image,
      },
    );
    const started = { ...run, runJobName: name, runJobNamespace: namespace };
    const wait = runJobWaiting(body);
    const written = await parts.status.write(
      key,
      job,
      wait
        ? waitingStatus(job, started, wait, parts.now())
        : runningStatus(job, started, parts.now()),
    );
    parts.events.record(
      written,
      wait ? 'RunSuspended' : 'RunStarted',
      wait ? wait.message : `run Job ${namespace}/${name} runs ${run.image}`,
    );
    // A run Kueue holds does not hold a max_jobs slot: Kueue is its queue.
    if (parts.slots.observe(key, written)) parts.slotFreed();
    // Its end may already be there (a Job adopted after a restart): look at once.
    return this.reconcile(key);
  }

  /**
   * Creates (or adopts) the run Job. The API server refusing it (a 4xx other than a conflict or
   * throttling: invalid, forbidden, over quota, namespace gone) ends the job with that reason:
   * retrying would hold the job's slot for ever and wedge the agent.
   */
  private async createRun(job: LaunchJob, body: Parameters<RunJobs['ensure']>[1]) {
    try {
      return await this.parts.runJobs.ensure(job, body);
    } catch (error) {
      const code = apiStatus(error);
      if (code === undefined || code < 400 || code >= 500 || code === 409 || code === 429)
        throw error;
      const what = `the API server refused the run Job ${body.metadata!.namespace}/${body.metadata!.name}`;
      const detail = error instanceof Error ? error.message.replace(/^[^:]*: /, '') : String(error);
      throw new JobRejectedError(createRefusalReason(code, error), `${what}: ${detail}`);
    }
  }

  /**
   * The run Job started running after waiting (`wait` undefined), or was suspended again after
   * it ran. A waiting run gives its max_jobs slot back; a running one counts again.
   */
  private async mirror(key: string, job: CachedLaunchJob, wait: ReturnType<typeof runJobWaiting>) {
    const { parts } = this;
    const run: RunStarted = {
      image: job.status?.image ?? '',
      runJobName: runJobName(job),
      runJobNamespace: job.metadata.namespace!,
    };
    const written = await parts.status.write(
      key,
      job,
      wait ? waitingStatus(job, run, wait, parts.now()) : runningStatus(job, run, parts.now()),
    );
    parts.events.record(
      written,
      wait ? 'RunSuspended' : 'RunStarted',
      wait ? wait.message : `run Job ${run.runJobNamespace}/${run.runJobName} admitted and running`,
    );
    if (parts.slots.observe(key, written)) parts.slotFreed();
  }

  private async finish(key: string, job: CachedLaunchJob, end: Ending): Promise<void> {
    const { phase, reason, message, event } = end;
    const { parts } = this;
    const done = await parts.status.write(
      key,
      job,
      finishedStatus(job, phase, reason, message, parts.now()),
    );
    parts.log.info(`job ${phase.toLowerCase()}`, { job: key, reason });
    parts.events.record(done, event, `${reason}: ${message}`);
    parts.slots.release(key);
    parts.slotFreed();
  }
}
