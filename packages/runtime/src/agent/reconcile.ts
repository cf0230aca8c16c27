// The step table: one reconcile per LaunchJob key. It reads what exists now (the job as the
// informer has it, its build, its run Job) and takes the one next step, so a missed or repeated
// event, a restart or an API-server outage can neither lose a job nor start a second build or
// run Job. It returns "look again after" instead of waiting; an error is retried with backoff.
//
//   gone                      → stop its build, remove what it left outside its namespace
//   finished                  → delete it when its TTL has run out, else look again then
//   held by a live agent      → look again when that agent's Lease would expire
//   unclaimed / agent gone    → claim it (a free slot under max_jobs, a write that one agent wins)
//   held here, run Job named  → mirror the run Job's end: Succeeded or Failed
//   held here, image known    → create the run Job (deterministic name), status Running
//   held here, prebuilt image → the same, image as given
//   held here, needs a build  → status Building, start the build; when it settles: run or fail
import type { AgentSettings } from '@launch-agent/config';
import type { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import { isTerminal, type CachedLaunchJob, type LaunchJob } from '../kubernetes/launchjob-types.js';
import { apiStatus } from '../kubernetes/kube-client.js';
import type { AgentLogger } from './agent-log.js';
import type { AgentMetrics } from './agent-metrics.js';
import type { Builds } from './builds.js';
import { describeSource } from './builds.js';
import { claimedAt, creationTime, type Slots } from './claims.js';
import type { EventRecorder, EventReason } from './events.js';
import type { Retention } from './gc.js';
import { BuildContextUnavailableError } from './build-context-source.js';
import { checkGitSource } from './git-source.js';
import { failureReason, JobRejectedError } from './job-errors.js';
import type { AgentLease } from './lease.js';
import {
  runJobName,
  runJobSpec,
  runJobWaiting,
  runTemplateForQueue,
  secureModeViolations,
} from './run-job-spec.js';
import { runOutcome, type RunJobs } from './run-jobs.js';
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
  runNamespaces: string[];
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
    const { parts } = this;
    const observed = parts.observed(key);
    if (!observed) return this.gone(key);
    const job = parts.status.freshest(key, observed);
    if (!this.inMyQueues(job)) return DONE;
    if (isTerminal(job)) {
      parts.builds.abort(key);
      return this.finished(job);
    }
    const holder = job.status?.agent;
    if (holder !== parts.identity) {
      // Whoever holds it now, it is not this agent: a build started while it was, stops.
      parts.builds.abort(key, new Error(`the job is now held by ${holder ?? 'no agent'}`));
      if (parts.slots.observe(key, job)) parts.slotFreed();
      if (holder) {
        const wait = parts.lease.expiresIn(holder, claimedAt(job));
        if (wait > 0) return { requeueAfterMs: wait + 250 };
      }
      if (parts.stopping()) return DONE;
      return this.claim(key, job);
    }
    if (parts.stopping()) return DONE;
    try {
      return await this.advance(key, job);
    } catch (error) {
      if (!(error instanceof JobRejectedError || error instanceof BuildContextUnavailableError))
        throw error;
      // The freshest copy: the refusal may come after this reconcile wrote the job.
      const current = parts.status.freshest(key, parts.observed(key) ?? job);
      await this.finish(key, current, 'Failed', error.reason, statusMessage(error), 'Rejected');
      return DONE;
    }
  }

  private inMyQueues(job: CachedLaunchJob): boolean {
    return this.parts.settings.queues.includes(job.spec?.queue);
  }

  /** The job was deleted: nothing of it may stay in this agent, nor outside its namespace. */
  private async gone(key: string): Promise<ReconcileResult> {
    const { parts } = this;
    const last = parts.takeTombstone(key);
    // Deleted by this agent's retention, which removed what it left already.
    if (last && parts.retention.takeRemoved(last)) return DONE;
    parts.builds.abort(key, new Error('the LaunchJob was deleted'));
    parts.status.forget(key);
    if (parts.slots.observe(key, undefined) || parts.slots.isHeld(key)) parts.slotFreed();
    parts.slots.release(key);
    if (last && this.inMyQueues(last)) {
      const removed = await parts.retention.removeLeftovers(last);
      parts.log.info('LaunchJob deleted; forgotten', { job: key, ...removed });
    }
    return DONE;
  }

  private async finished(job: CachedLaunchJob): Promise<ReconcileResult> {
    const key = `${job.metadata.namespace}/${job.metadata.name}`;
    if (this.parts.slots.observe(key, job)) this.parts.slotFreed();
    const expiresIn = this.parts.retention.expiresIn(job);
    if (expiresIn === undefined) return DONE;
    if (expiresIn > 0) return { requeueAfterMs: expiresIn };
    await this.parts.retention.removeExpired(job);
    return DONE;
  }

  private async claim(key: string, job: CachedLaunchJob): Promise<ReconcileResult> {
    const { parts } = this;
    if (!parts.slots.reserve(key, creationTime(job))) return DONE;
    const previous = job.status?.agent;
    const kind = previous ? 'takeover' : 'new';
    let won = false;
    try {
      const claimed = await parts.status.write(
        key,
        job,
        claimedStatus(job, parts.identity, kind, parts.now()),
      );
      won = true;
      parts.metrics.count('claims', { result: kind === 'takeover' ? 'resumed' : 'won' });
      parts.log.info(kind === 'takeover' ? 'resumed a job from a stale agent' : 'claimed job', {
        job: key,
        queue: job.spec.queue,
        phase: claimed.status?.phase,
        ...(previous ? { previousAgent: previous } : {}),
      });
      parts.events.record(
        claimed,
        kind === 'takeover' ? 'TakenOver' : 'Claimed',
        kind === 'takeover'
          ? `${parts.identity} took the job over: the Lease of ${previous} expired`
          : `claimed by ${parts.identity}`,
      );
      return DONE;
    } catch (error) {
      if (apiStatus(error) === 409 || apiStatus(error) === 404) {
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

  /** A job held by this agent: the next step from what its status and children say. */
  private async advance(key: string, cached: CachedLaunchJob): Promise<ReconcileResult> {
    const { parts } = this;
    parts.slots.observe(key, cached);
    const status = cached.status ?? {};
    if (status.runJobName) return this.follow(key, cached);
    const inFlight = parts.builds.get(key);
    if (inFlight && !inFlight.settled) return DONE;
    // Every step from here needs more of the spec than the cache keeps.
    const job = await this.readWhole(key, cached);
    if (!job) return DONE;
    // A previous holder built the image but had not created the run Job yet.
    if (status.image) return this.startRun(key, job, { image: status.image });
    if (parts.settings.secureMode) {
      const violations = secureModeViolations(job);
      if (violations.length > 0) {
        throw new JobRejectedError(
          'SecureModeViolation',
          violations.map((v) => `${v.field}: ${v.message}`).join('; '),
        );
      }
    }
    // Refused before a build is spent on it.
    this.targetNamespace(job);
    const source = job.spec.source;
    if (source.image) {
      parts.metrics.count('images', { result: 'prebuilt' });
      return this.startRun(key, job, { image: source.image, imageStatus: 'prebuilt' });
    }
    if (!source.context && !source.git) {
      throw new JobRejectedError('InvalidSource', 'spec.source has none of image, context, git');
    }
    if (source.git) checkGitSource(source.git, parts.settings.launchJobs.gitSources);
    if (!parts.settings.builder.destination) {
      throw new JobRejectedError(
        'NoDestination',
        'the job needs a build but the agent config has no builder.destination',
      );
    }
    const build = parts.builds.get(key);
    if (!build) {
      if (status.phase !== 'Building') {
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
    if (!build.settled) return DONE;
    const { report, leader, error } = build.outcome ?? {};
    if (error !== undefined || !report) {
      const reason = failureReason(error);
      parts.log.error('job failed', { job: key, reason, error: statusMessage(error) });
      await this.finish(key, job, 'Failed', reason, statusMessage(error), 'BuildFailed');
      parts.builds.clear(key);
      return DONE;
    }
    const imageStatus = report.status === 'built' && leader ? 'built' : 'reused';
    parts.metrics.count('images', { result: imageStatus });
    if (imageStatus === 'built' && report.timings.buildMs !== undefined) {
      parts.metrics.observeBuildSeconds(
        (report.timings.buildMs + (report.timings.pushMs ?? 0)) / 1000,
      );
    }
    const outcome =
      imageStatus === 'built'
        ? 'image built'
        : report.status === 'built'
          ? 'image built for another job of the same source'
          : 'image exists; build skipped';
    parts.log.info(outcome, { job: key, image: report.image, digest: report.digest });
    parts.events.record(
      job,
      imageStatus === 'built' ? 'Built' : 'ImageReused',
      `${outcome}: ${report.image}${report.digest ? `@${report.digest}` : ''}`,
    );
    const result = await this.startRun(key, job, {
      image: report.image,
      imageStatus,
      ...(report.digest ? { digest: report.digest } : {}),
      buildDurationSeconds: Math.round(report.timings.totalMs) / 1000,
    });
    parts.builds.clear(key);
    return result;
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
      if (apiStatus(error) === 404) return undefined;
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

  private targetNamespace(job: Pick<LaunchJob, 'spec' | 'metadata'>): string {
    const wanted = job.spec.run?.namespace || job.metadata.namespace!;
    if (!this.parts.runNamespaces.includes(wanted)) {
      throw new JobRejectedError(
        'NamespaceNotAllowed',
        `spec.run.namespace ${wanted} is neither the agent's namespace nor one of kubernetes.target-namespaces (${this.parts.runNamespaces.join(', ')})`,
      );
    }
    return wanted;
  }

  private async startRun(
    key: string,
    job: LaunchJob,
    run: Omit<RunStarted, 'runJobName' | 'runJobNamespace'>,
  ): Promise<ReconcileResult> {
    const { parts } = this;
    const namespace = job.status?.runJobNamespace ?? this.targetNamespace(job);
    const name = runJobName(job);
    const body = runJobSpec(job, {
      image: run.image,
      namespace,
      secureMode: parts.settings.secureMode,
      agentName: parts.identity,
      template: runTemplateForQueue(parts.settings, job.spec.queue),
    });
    const result = await parts.runJobs.ensure(job, body);
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
    // Its end may already be there (a Job adopted after a restart): look at once.
    return this.follow(key, written);
  }

  /** Mirrors the run Job's end into the LaunchJob. */
  private async follow(key: string, job: CachedLaunchJob): Promise<ReconcileResult> {
    const { runJobName: name, runJobNamespace } = job.status ?? {};
    const namespace = runJobNamespace ?? job.metadata.namespace!;
    const runJob = await this.parts.runJobs.read(namespace, name!);
    const outcome = runOutcome(runJob, job.metadata.uid!);
    switch (outcome.state) {
      case 'running':
        // Admitted (Kueue unsuspended it): the job runs from now.
        if (job.status?.phase !== 'Running') await this.admitted(key, job, true);
        return DONE;
      case 'suspended':
        if (job.status?.phase !== 'Pending') await this.admitted(key, job, false, runJob);
        return DONE;
      case 'missing':
        await this.finish(
          key,
          job,
          'Failed',
          'RunJobDeleted',
          'the run Job was deleted before it finished',
          'Failed',
        );
        return DONE;
      case 'foreign':
        await this.finish(
          key,
          job,
          'Failed',
          'RunJobNameTaken',
          `a Job ${namespace}/${name} exists that does not belong to this LaunchJob`,
          'Failed',
        );
        return DONE;
      case 'succeeded':
        await this.finish(key, job, 'Succeeded', 'Completed', outcome.message, 'Succeeded');
        return DONE;
      case 'failed':
        await this.finish(key, job, 'Failed', outcome.reason, outcome.message, 'Failed');
        return DONE;
    }
  }

  /** The run Job started running after waiting, or was suspended again after it ran. */
  private async admitted(
    key: string,
    job: CachedLaunchJob,
    running: boolean,
    runJob?: Parameters<typeof runJobWaiting>[0],
  ): Promise<void> {
    const { parts } = this;
    const status = job.status!;
    const run: RunStarted = {
      image: status.image!,
      runJobName: status.runJobName!,
      runJobNamespace: status.runJobNamespace ?? job.metadata.namespace!,
    };
    const wait = running || !runJob ? undefined : runJobWaiting(runJob);
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
  }

  private async finish(
    key: string,
    job: CachedLaunchJob,
    phase: 'Succeeded' | 'Failed',
    reason: string,
    message: string,
    event: EventReason,
  ): Promise<void> {
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
