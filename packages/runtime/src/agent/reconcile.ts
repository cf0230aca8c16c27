// The step table: one reconcile per LaunchJob key. It reads what exists now (the job as the
// informer has it, its build, its run Job) and takes the one next step, so a missed or repeated
// event, a restart or an API-server outage can neither lose a job nor start a second build or
// run Job. It returns "look again after" instead of waiting; an error is retried with backoff.
//
//   gone                      → stop its build, remove its run Job (proved its by uid)
//   finished                  → delete it when its TTL has run out, else look again then
//   namespace or queue refused→ Failed with the reason, no slot taken (run-policy.ts)
//   held by a live agent      → look again when that agent's Lease would expire
//   unclaimed / agent gone    → claim it (a free slot under max_jobs, a write that one agent wins)
//   held here, run Job made   → mirror the run Job: Pending while Kueue holds it (no slot),
//                               Running, then its end: Succeeded or Failed
//   held here, spec refused   → Failed with the policy's reason (checked on every path)
//   held here, prebuilt image → create the run Job (deterministic name), status Running
//   held here, needs a build  → status Building, start the build; when it settles: run or fail
//   a create refused (4xx)    → Failed with the API's reason; never retried for ever
//
// Nothing in a LaunchJob's status is trusted to name what to act on: the run Job is found by its
// deterministic name in the job's own namespace and must carry the job's uid.
import type { AgentSettings } from '@launch-agent/config';
import type { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import { isTerminal, type CachedLaunchJob, type LaunchJob } from '../kubernetes/launchjob-types.js';
import { apiStatus } from '../kubernetes/kube-client.js';
import { KubeRequestError } from '../kubernetes/raw-request.js';
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
import { runJobName, runJobSpec, runJobWaiting, runTemplateForQueue } from './run-job-spec.js';
import {
  namespaceViolation,
  needsNamespaceLabels,
  queueViolation,
  runPolicyViolations,
  type PolicyViolation,
} from './run-policy.js';
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
    const { parts } = this;
    const observed = parts.observed(key);
    if (!observed) return this.gone(key);
    const job = parts.status.freshest(key, observed);
    if (!this.inMyQueues(job)) return DONE;
    if (isTerminal(job)) {
      parts.builds.abort(key);
      return this.finished(job);
    }
    const refused = await this.whereRefusal(job);
    if (refused) {
      parts.builds.abort(key, new Error(refused.message));
      await this.refuse(key, job, [refused]);
      return DONE;
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
      await this.finish(key, current, {
        phase: 'Failed',
        reason: error.reason,
        message: statusMessage(error),
        event: 'Rejected',
      });
      return DONE;
    }
  }

  private inMyQueues(job: CachedLaunchJob): boolean {
    return this.parts.settings.queues.includes(job.spec?.queue);
  }

  /**
   * Where the job lives and which queue it names, from the cache alone: a namespace the agent
   * does not serve (its own included) or a queue not offered to the namespace is refused before
   * any agent claims it, so a refused job never takes a slot.
   */
  private async whereRefusal(job: CachedLaunchJob): Promise<PolicyViolation | undefined> {
    const { parts } = this;
    const namespace = job.metadata.namespace!;
    const outside = namespaceViolation(namespace, parts.servedNamespaces, parts.agentNamespace);
    if (outside) return outside;
    const policy = parts.settings.queuePolicies[job.spec.queue];
    const labels = needsNamespaceLabels(policy)
      ? await parts.namespaceLabels(namespace)
      : undefined;
    return queueViolation(job.spec.queue, namespace, policy, labels);
  }

  /** Fails a job for what it asked: the first violation's reason, every violation's message. */
  private async refuse(
    key: string,
    job: CachedLaunchJob,
    violations: PolicyViolation[],
  ): Promise<void> {
    const message = violations.map((v) => `${v.field}: ${v.message}`).join('; ');
    this.parts.log.info('job refused', { job: key, reason: violations[0]!.reason, message });
    try {
      await this.finish(key, job, {
        phase: 'Failed',
        reason: violations[0]!.reason,
        message,
        event: 'Rejected',
      });
    } catch (error) {
      // Another agent refused it first, or it changed: the watch brings the new state.
      if (apiStatus(error) !== 409 && apiStatus(error) !== 404) throw error;
    }
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
    if (
      last &&
      this.inMyQueues(last) &&
      this.parts.servedNamespaces.includes(last.metadata.namespace!)
    ) {
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
    if (parts.slots.observe(key, cached)) parts.slotFreed();
    const status = cached.status ?? {};
    if (status.runJobName) return this.follow(key, cached);
    const inFlight = parts.builds.get(key);
    if (inFlight && !inFlight.settled) return DONE;
    // Every step from here needs more of the spec than the cache keeps.
    const job = await this.readWhole(key, cached);
    if (!job) return DONE;
    // On every path, before a build is spent on it; an image named in status is not a shortcut
    // past it (status is not trusted: a rebuild of the same source is a cheap reuse).
    this.checkRunPolicy(job);
    const source = job.spec.source;
    if (source.image) {
      parts.metrics.count('images', { result: 'prebuilt' });
      return this.startRun(key, job, { image: source.image, imageStatus: 'prebuilt' });
    }
    if (!source.context && !source.git) {
      throw new JobRejectedError('InvalidSource', 'spec.source has none of image, context, git');
    }
    if (source.git) checkGitSource(source.git);
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
      await this.finish(key, job, {
        phase: 'Failed',
        reason,
        message: statusMessage(error),
        event: 'BuildFailed',
      });
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

  /** The job's spec.run against its namespace's and queue's policy; throws the refusal. */
  private checkRunPolicy(job: LaunchJob): void {
    const { settings } = this.parts;
    const violations = runPolicyViolations({
      job,
      policy: settings.queuePolicies[job.spec.queue],
      template: settings.runTemplates[job.spec.queue],
      secureMode: settings.secureMode,
    });
    if (violations.length > 0) {
      throw new JobRejectedError(
        violations[0]!.reason,
        violations.map((v) => `${v.field}: ${v.message}`).join('; '),
      );
    }
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
      image: run.image,
      agentName: parts.identity,
      template: runTemplateForQueue(parts.settings, job.spec.queue),
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
    return this.follow(key, written);
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
   * Mirrors the run Job into the LaunchJob. The Job is the one of the job's deterministic name in
   * its own namespace, whatever status says, and is the job's only if it carries the job's uid.
   */
  private async follow(key: string, job: CachedLaunchJob): Promise<ReconcileResult> {
    const namespace = job.metadata.namespace!;
    const name = runJobName(job);
    const runJob = await this.parts.runJobs.read(namespace, name);
    const outcome = runOutcome(runJob, job.metadata.uid!);
    const end = (end: Omit<FinishOptions, 'event'>, event: EventReason = 'Failed') =>
      this.finish(key, job, { ...end, event });
    switch (outcome.state) {
      case 'running':
        // Admitted (Kueue unsuspended it): the job runs from now.
        if (job.status?.phase !== 'Running') await this.mirrorWait(key, job, undefined);
        return DONE;
      case 'suspended':
        if (job.status?.phase !== 'Pending')
          await this.mirrorWait(key, job, runJobWaiting(runJob!));
        return DONE;
      case 'missing':
        await end({
          phase: 'Failed',
          reason: 'RunJobDeleted',
          message: 'the run Job was deleted before it finished',
        });
        return DONE;
      case 'foreign':
        await end({
          phase: 'Failed',
          reason: 'RunJobNameTaken',
          message: `a Job ${namespace}/${name} exists that does not belong to this LaunchJob`,
        });
        return DONE;
      case 'succeeded':
        await end(
          { phase: 'Succeeded', reason: 'Completed', message: outcome.message },
          'Succeeded',
        );
        return DONE;
      case 'failed':
        await end({ phase: 'Failed', reason: outcome.reason, message: outcome.message });
        return DONE;
    }
  }

  /**
   * The run Job started running after waiting (`wait` undefined), or was suspended again after
   * it ran. A waiting run gives its max_jobs slot back; a running one counts again.
   */
  private async mirrorWait(
    key: string,
    job: CachedLaunchJob,
    wait: ReturnType<typeof runJobWaiting>,
  ): Promise<void> {
    const { parts } = this;
    const status = job.status!;
    const run: RunStarted = {
      image: status.image!,
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

  private async finish(key: string, job: CachedLaunchJob, end: FinishOptions): Promise<void> {
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

/** How a job ends: its phase, the condition reason and message, and the Event recorded. */
interface FinishOptions {
  phase: 'Succeeded' | 'Failed';
  reason: string;
  message: string;
  event: EventReason;
}

/** The status reason for a create the API server refused with `code`. */
export function createRefusalReason(code: number, error: unknown): string {
  const reason = error instanceof KubeRequestError ? error.reason : undefined;
  const text = error instanceof Error ? error.message : '';
  if (code === 403 && /exceeded quota|quota/i.test(text)) return 'QuotaExceeded';
  if (code === 403) return 'Forbidden';
  if (code === 404) return 'NamespaceNotFound';
  if (code === 422 || reason === 'Invalid') return 'RunJobInvalid';
  return reason ?? `RunJobRefused${code}`;
}
