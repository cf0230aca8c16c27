import { isAbsolute, join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import { BuildPlanError } from '../build/build-plan.js';
import { buildImage, type BuildReport } from '../build-engine.js';
import {
  BuildFailedError,
  BuilderUnavailableError,
  PushFailedError,
  type Builder,
} from '../builders/builder.js';
import { selectBuilder } from '../builders/select-builder.js';
import { apiStatus, deleteIgnoringMissing } from '../kubernetes/kube-client.js';
import { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import {
  isTerminal,
  LABEL_LAUNCHJOB,
  LABEL_LAUNCHJOB_NAMESPACE,
  LABEL_LAUNCHJOB_UID,
  LABEL_ROLE,
  setCondition,
  type LaunchJob,
  type LaunchJobPhase,
  type LaunchJobStatus,
} from '../kubernetes/launchjob-types.js';
import { observe } from '../kubernetes/watch-objects.js';
import { RegistryError } from '../registries/registry.js';
import type { RegistryOptions } from '../registries/select-registry.js';
import { cleanUpKanikoLeftovers } from '../builders/kaniko/leftovers.js';
import type { BuildContextStore } from '../storage/context-store.js';
import { silentLogger, redactText, type AgentLogger } from './agent-log.js';
import { AgentMetrics } from './agent-metrics.js';
import { BuildContextUnavailableError, localBuildContext } from './build-context-source.js';
import { checkGitSource, fetchGitSource } from './git-source.js';
import { runJobName, runJobSpec, secureModeViolations } from './run-job-spec.js';

export interface LaunchAgentOptions {
  kubeConfig: k8s.KubeConfig;
  settings: AgentSettings;
  /** Where the agent's LaunchJobs live: its own namespace. */
  namespace: string;
  /** This agent's name in status.agent: the pod name in a cluster. Unique among live agents. */
  identity: string;
  log?: AgentLogger;
  metrics?: AgentMetrics;
  /** Default: selectBuilder(settings.builder), made on the first build. */
  builder?: () => Promise<Builder>;
  /** Where source.context keys are read from; default none (jobs with a context then fail). */
  contextStore?: BuildContextStore;
  registryOptions?: RegistryOptions;
  /** How often a held job's status.heartbeatTime is renewed. Default launchjobs.heartbeat-seconds. */
  heartbeatIntervalMs?: number;
  /** A claimed job whose heartbeat is older than this is taken over. Default launchjobs.stale-after-seconds. */
  staleAfterMs?: number;
  /** A run Job whose LaunchJob is gone is deleted once it is this old. Default 60 s. */
  orphanGraceMs?: number;
  now?: () => Date;
}

/** Another agent owns the job now (it took over after our heartbeat went stale). */
class ClaimLostError extends Error {
  constructor(key: string, owner: string | undefined) {
    super(`${key} is now held by ${owner ?? 'no agent'}`);
    this.name = 'ClaimLostError';
  }
}

/** The job cannot run as asked; `reason` goes into status.conditions. */
class JobRejectedError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobRejectedError';
  }
}

interface HeldJob {
  key: string;
  uid: string;
  stage: 'claiming' | 'working' | 'running';
  /** The latest copy this agent wrote or read: its resourceVersion is what the next write sends. */
  latest: LaunchJob;
  abort: AbortController;
  work?: Promise<void>;
  /** Set once the final phase is being written, so it is written once. */
  finishing?: boolean;
  /** Status writes on this job, one after another: the agent never races itself. */
  writes: Promise<unknown>;
}

/** One in-flight build that several jobs wait on (see sharedBuild). */
interface SharedBuild {
  promise: Promise<BuildReport>;
  waiters: number;
  abort: AbortController;
}

const MESSAGE_LIMIT = 4000;

const keyOf = (job: LaunchJob) => `${job.metadata.namespace}/${job.metadata.name}`;

function failureReason(error: unknown): string {
  if (error instanceof JobRejectedError || error instanceof BuildContextUnavailableError)
    return error.reason;
  if (error instanceof BuildFailedError) return 'BuildFailed';
  if (error instanceof PushFailedError) return 'PushFailed';
  if (error instanceof BuilderUnavailableError) return 'BuilderUnavailable';
  if (error instanceof BuildPlanError) return 'InvalidBuildContext';
  if (error instanceof RegistryError) return 'RegistryUnavailable';
  return 'AgentError';
}

function shortMessage(error: unknown): string {
  const text = redactText(error instanceof Error ? error.message : String(error));
  return text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT)}…` : text;
}

/**
 * The agent: watches the LaunchJobs of its queues, claims at most max_jobs of them through a
 * status write that carries the resourceVersion (the API server lets exactly one agent win),
 * builds the image when the job needs one (skipped when the registry has it), runs it as a
 * batch/v1 Job with a deterministic name, and mirrors the Job's outcome into the LaunchJob's
 * status. A held job's heartbeat is renewed; a job whose holder stopped renewing is taken over
 * and resumed from what its status says was done.
 */
export class LaunchAgent {
  readonly metrics: AgentMetrics;
  private readonly log: AgentLogger;
  private readonly client: LaunchJobClient;
  private readonly batch: k8s.BatchV1Api;
  private readonly jobs = new Map<string, LaunchJob>();
  /** Run Jobs by the LaunchJob uid in their label. */
  private readonly runJobs = new Map<string, k8s.V1Job>();
  private readonly held = new Map<string, HeldJob>();
  private readonly runNamespaces: string[];
  private readonly synced = new Set<string>();
  private readonly stops: Array<() => void> = [];
  private timers: NodeJS.Timeout[] = [];
  private builderPromise: Promise<Builder> | undefined;
  private pumpScheduled = false;
  private heartbeating = false;
  private stopping = false;
  private abandoned = false;
  private watchError: Error | undefined;
  private readonly heartbeatIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly ttlMs: number | undefined;
  private readonly orphanGraceMs: number;
  private sweeping = false;
  private readonly sharedBuilds = new Map<string, SharedBuild>();
  private readonly now: () => Date;

  constructor(private readonly options: LaunchAgentOptions) {
    this.log = options.log ?? silentLogger;
    this.metrics = options.metrics ?? new AgentMetrics();
    this.client = new LaunchJobClient(options.kubeConfig);
    this.batch = options.kubeConfig.makeApiClient(k8s.BatchV1Api);
    this.runNamespaces = [
      ...new Set([options.namespace, ...options.settings.kubernetes.targetNamespaces]),
    ];
    const launchJobs = options.settings.launchJobs;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? launchJobs.heartbeatSeconds * 1000;
    this.staleAfterMs = options.staleAfterMs ?? launchJobs.staleAfterSeconds * 1000;
    this.ttlMs =
      launchJobs.ttlSecondsAfterFinished !== undefined
        ? launchJobs.ttlSecondsAfterFinished * 1000
        : undefined;
    this.orphanGraceMs = options.orphanGraceMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
    this.metrics.setActiveJobs(0, options.settings.maxJobs);
  }

  /** The watches are alive (liveness). */
  isLive(): boolean {
    return this.watchError === undefined;
  }

  /** Listed everything and taking jobs (readiness). */
  isReady(): boolean {
    return (
      !this.stopping &&
      this.isLive() &&
      this.synced.has('launchjobs') &&
      this.runNamespaces.every((ns) => this.synced.has(`jobs/${ns}`))
    );
  }

  /**
   * Removes kaniko build Jobs, ConfigMaps and contexts that an agent stopped mid-build left
   * behind. In the background: readiness does not wait for it, and a failure is only logged.
   */
  private async removeKanikoLeftovers(): Promise<void> {
    try {
      const removed = await cleanUpKanikoLeftovers({
        kubeConfig: this.options.kubeConfig,
        namespace: this.options.namespace,
        olderThanSeconds: this.options.settings.builder.buildTimeoutSeconds + 600,
        ...(this.options.contextStore ? { store: this.options.contextStore } : {}),
      });
      if (removed.jobs.length + removed.configMaps.length + removed.contexts.length > 0) {
        this.log.info('removed leftovers of earlier kaniko builds', { ...removed });
      }
      for (const failure of removed.failures) {
        this.log.warn('could not remove a kaniko leftover', { failure });
      }
    } catch (error) {
      this.log.warn('could not look for kaniko leftovers', { error: (error as Error).message });
    }
  }

  /** Jobs this agent holds now. */
  activeJobs(): string[] {
    return [...this.held.keys()];
  }

  /** Starts the watches; resolves when the first lists are in (the agent is ready). */
  async start(): Promise<void> {
    const { namespace } = this.options;
    this.log.info('agent starting', {
      agent: this.options.identity,
      namespace,
      queues: this.options.settings.queues,
      maxJobs: this.options.settings.maxJobs,
      secureMode: this.options.settings.secureMode,
      runNamespaces: this.runNamespaces,
    });
    if (this.options.settings.builder.type === 'kaniko') void this.removeKanikoLeftovers();
    const ready = new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.watchError) reject(this.watchError);
        else if (this.isReady()) resolve();
        else setTimeout(check, 20).unref();
      };
      check();
    });
    this.stops.push(
      observe<LaunchJob>({
        kubeConfig: this.options.kubeConfig,
        path: LaunchJobClient.path(namespace),
        selector: {},
        list: async () => {
          const listed = await this.client.list(namespace);
          // After observe() has delivered the listed items.
          setImmediate(() => this.markSynced('launchjobs'));
          return listed;
        },
        onEvent: (type, job) => this.onLaunchJob(type, job),
        onError: (error) => this.onWatchError('LaunchJobs', error),
      }),
    );
    for (const ns of this.runNamespaces) {
      const labelSelector = `${LABEL_ROLE}=run`;
      this.stops.push(
        observe<k8s.V1Job>({
          kubeConfig: this.options.kubeConfig,
          path: `/apis/batch/v1/namespaces/${ns}/jobs`,
          selector: { labelSelector },
          list: async () => {
            const listed = await this.batch.listNamespacedJob({ namespace: ns, labelSelector });
            setImmediate(() => this.markSynced(`jobs/${ns}`));
            return listed;
          },
          onEvent: (type, job) => this.onRunJob(type, job),
          onError: (error) => this.onWatchError(`Jobs in ${ns}`, error),
        }),
      );
    }
    this.timers.push(setInterval(() => void this.heartbeat(), this.heartbeatIntervalMs));
    // Stale claims are found in the watch cache; this timer only re-reads the cache.
    this.timers.push(setInterval(() => this.schedulePump(), Math.max(250, this.staleAfterMs / 3)));
    // Expired and orphaned objects are found in the watch caches too; at most once a minute.
    const sweepMs = Math.min(60_000, Math.max(500, (this.ttlMs ?? this.orphanGraceMs) / 2));
    this.timers.push(setInterval(() => void this.sweep(), sweepMs));
    this.timers.forEach((timer) => timer.unref());
    await ready;
    this.log.info('agent ready', { agent: this.options.identity });
  }

  /**
   * Graceful shutdown (SIGTERM): take no new job, stop builds, hand every held job back (status
   * says so) so another agent resumes it at once instead of after the stale timeout. Run Jobs
   * keep running: whoever resumes the LaunchJob follows the same Job.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.forEach(clearInterval);
    this.log.info('agent stopping', { agent: this.options.identity, held: this.held.size });
    for (const entry of this.held.values()) entry.abort.abort();
    await Promise.allSettled([...this.held.values()].map((entry) => entry.work));
    await Promise.allSettled([...this.held.values()].map((entry) => this.release(entry)));
    this.held.clear();
    this.stops.forEach((stopWatch) => stopWatch());
    this.log.info('agent stopped', { agent: this.options.identity });
  }

  /**
   * Stops everything without writing a thing, as if the process had been killed: what a test
   * uses to play a crashed agent.
   */
  abandon(): void {
    this.abandoned = true;
    this.stopping = true;
    this.timers.forEach(clearInterval);
    for (const entry of this.held.values()) entry.abort.abort();
    this.stops.forEach((stopWatch) => stopWatch());
  }

  private markSynced(what: string): void {
    if (!this.synced.has(what)) {
      this.synced.add(what);
      this.schedulePump();
    }
  }

  private onWatchError(what: string, error: Error): void {
    this.watchError = error;
    this.log.error(`watching ${what} failed`, { error: shortMessage(error) });
  }

  private onLaunchJob(type: 'ADDED' | 'MODIFIED' | 'DELETED', job: LaunchJob): void {
    const key = keyOf(job);
    if (type === 'DELETED') {
      this.jobs.delete(key);
      const entry = this.held.get(key);
      if (entry) {
        this.log.info('LaunchJob deleted; dropping it', { job: key });
        entry.abort.abort();
        this.held.delete(key);
      }
      if (this.inMyQueues(job)) void this.removeRunJobAcrossNamespaces(job);
    } else {
      this.jobs.set(key, job);
    }
    this.updateGauges();
    this.schedulePump();
  }

  private onRunJob(type: 'ADDED' | 'MODIFIED' | 'DELETED', job: k8s.V1Job): void {
    const uid = job.metadata?.labels?.[LABEL_LAUNCHJOB_UID];
    if (!uid) return;
    if (type === 'DELETED') this.runJobs.delete(uid);
    else this.runJobs.set(uid, job);
    const entry = [...this.held.values()].find((held) => held.uid === uid);
    if (entry?.stage === 'running') void this.mirrorRunJob(entry, type === 'DELETED');
  }

  /**
   * In the LaunchJob's own namespace its run Job has an ownerReference and the garbage collector
   * removes it; in a target namespace nothing points at it, so the agent deletes it. Every agent
   * of the queue may try: deleting a deleted Job is not an error.
   */
  private async removeRunJobAcrossNamespaces(job: LaunchJob): Promise<void> {
    const namespace = job.status?.runJobNamespace;
    const name = job.status?.runJobName;
    if (!namespace || !name || namespace === job.metadata.namespace) return;
    try {
      await this.deleteRunJob(namespace, name);
      this.metrics.count('deleted', { what: 'run_job' });
      this.log.info('deleted the run Job of a deleted LaunchJob', {
        job: keyOf(job),
        runJob: `${namespace}/${name}`,
      });
    } catch (error) {
      this.log.warn('could not delete the run Job of a deleted LaunchJob', {
        job: keyOf(job),
        runJob: `${namespace}/${name}`,
        error: shortMessage(error),
      });
    }
  }

  /** Deletes a run Job and, through Background propagation, its pods; a missing Job is fine. */
  private deleteRunJob(namespace: string, name: string): Promise<void> {
    return deleteIgnoringMissing(() =>
      this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
    );
  }

  /** One round of retention: finished jobs past their TTL, then orphaned run Jobs. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopping || !this.isReady()) return;
    this.sweeping = true;
    try {
      if (this.ttlMs !== undefined) await this.removeExpired(this.ttlMs);
      await this.removeOrphanedRunJobs();
    } catch (error) {
      this.log.warn('retention sweep failed', { error: shortMessage(error) });
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Deletes this agent's queues' LaunchJobs that finished more than `ttlMs` ago, their run Jobs
   * and, when no other LaunchJob names it, their uploaded context. The delete carries the uid
   * and resourceVersion that were read, so of several agents exactly one succeeds and does the
   * rest, and a job that changed meanwhile is left for the next round.
   */
  private async removeExpired(ttlMs: number): Promise<void> {
    const now = this.now().getTime();
    for (const job of [...this.jobs.values()]) {
      if (this.stopping) return;
      if (!this.inMyQueues(job) || !isTerminal(job)) continue;
      const finished = Date.parse(job.status?.completionTime ?? '');
      if (Number.isNaN(finished) || now - finished < ttlMs) continue;
      if (!(await this.client.deleteIfUnchanged(job))) continue;
      this.jobs.delete(keyOf(job));
      this.metrics.count('deleted', { what: 'launchjob' });
      const removed: Record<string, string> = {};
      const { runJobName: name, runJobNamespace: namespace } = job.status ?? {};
      try {
        if (name && namespace) {
          await this.deleteRunJob(namespace, name);
          this.metrics.count('deleted', { what: 'run_job' });
          removed.runJob = `${namespace}/${name}`;
        }
        const key = job.spec.source?.context?.key;
        const store = this.options.contextStore;
        const inUse = (k: string) =>
          [...this.jobs.values()].some((other) => other.spec.source?.context?.key === k);
        if (key && store && !inUse(key)) {
          await store.delete(key);
          this.metrics.count('deleted', { what: 'context' });
          removed.context = store.uri(key);
        }
        this.log.info('deleted a finished LaunchJob past its TTL', {
          job: keyOf(job),
          phase: job.status?.phase,
          completionTime: job.status?.completionTime,
          ...removed,
        });
      } catch (error) {
        this.log.warn('deleted a finished LaunchJob but not all it left', {
          job: keyOf(job),
          ...removed,
          error: shortMessage(error),
        });
      }
    }
  }

  /**
   * A run Job in a target namespace whose LaunchJob was deleted while no agent watched (the
   * garbage collector cannot follow labels across namespaces). Only Jobs older than the grace
   * period count, and the LaunchJob is read once more before deleting: a watch that lags behind
   * must not make the agent delete a Job another agent has just created.
   */
  private async removeOrphanedRunJobs(): Promise<void> {
    const now = this.now().getTime();
    const known = new Set([...this.jobs.values()].map((job) => job.metadata.uid));
    for (const [uid, run] of [...this.runJobs]) {
      if (this.stopping) return;
      const labels = run.metadata?.labels ?? {};
      const created = Date.parse(String(run.metadata?.creationTimestamp ?? ''));
      if (
        known.has(uid) ||
        labels[LABEL_LAUNCHJOB_NAMESPACE] !== this.options.namespace ||
        run.metadata?.namespace === this.options.namespace ||
        Number.isNaN(created) ||
        now - created < this.orphanGraceMs
      ) {
        continue;
      }
      const owner = labels[LABEL_LAUNCHJOB];
      const current = owner
        ? await this.client.get(this.options.namespace, owner).catch((error: unknown) => {
            if (apiStatus(error) === 404) return undefined;
            throw error;
          })
        : undefined;
      if (current?.metadata.uid === uid) continue;
      const name = run.metadata!.name!;
      const namespace = run.metadata!.namespace!;
      await this.deleteRunJob(namespace, name);
      this.runJobs.delete(uid);
      this.metrics.count('deleted', { what: 'orphaned_run_job' });
      this.log.info('deleted a run Job whose LaunchJob no longer exists', {
        runJob: `${namespace}/${name}`,
        launchJob: `${this.options.namespace}/${owner ?? '?'}`,
      });
    }
  }

  private inMyQueues(job: LaunchJob): boolean {
    return this.options.settings.queues.includes(job.spec?.queue);
  }

  private hasSlot(): boolean {
    const max = this.options.settings.maxJobs;
    return max < 0 || this.held.size < max;
  }

  /** Free for this agent: unclaimed, its own from before a restart, or its holder went silent. */
  private claimable(job: LaunchJob): boolean {
    const status = job.status ?? {};
    if (!status.agent || status.agent === this.options.identity) return true;
    const last = Date.parse(status.heartbeatTime ?? status.claimedTime ?? '');
    return Number.isNaN(last) || this.now().getTime() - last > this.staleAfterMs;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopping || !this.isReady()) return;
    const candidates = [...this.jobs.values()]
      .filter(
        (job) =>
          this.inMyQueues(job) &&
          !isTerminal(job) &&
          !this.held.has(keyOf(job)) &&
          this.claimable(job),
      )
      .sort(
        (a, b) =>
          Date.parse(a.metadata.creationTimestamp as unknown as string) -
            Date.parse(b.metadata.creationTimestamp as unknown as string) ||
          keyOf(a).localeCompare(keyOf(b)),
      );
    for (const job of candidates) {
      if (!this.hasSlot()) break;
      const entry: HeldJob = {
        key: keyOf(job),
        uid: job.metadata.uid!,
        stage: 'claiming',
        latest: job,
        abort: new AbortController(),
        writes: Promise.resolve(),
      };
      this.held.set(entry.key, entry);
      entry.work = this.claimAndWork(entry);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    const phases: Record<string, number> = {};
    const depth: Record<string, number> = Object.fromEntries(
      this.options.settings.queues.map((queue) => [queue, 0]),
    );
    for (const job of this.jobs.values()) {
      if (!this.inMyQueues(job)) continue;
      const phase = job.status?.phase ?? 'Pending';
      phases[phase] = (phases[phase] ?? 0) + 1;
      if (!isTerminal(job) && !job.status?.agent)
        depth[job.spec.queue] = (depth[job.spec.queue] ?? 0) + 1;
    }
    this.metrics.setJobsByPhase(phases);
    this.metrics.setQueueDepth(depth);
    this.metrics.setActiveJobs(this.held.size, this.options.settings.maxJobs);
  }

  private async claimAndWork(entry: HeldJob): Promise<void> {
    const job = entry.latest;
    const previous = job.status?.agent;
    const resumed = previous !== undefined && previous !== this.options.identity;
    const now = this.now().toISOString();
    try {
      // The claim is the one write that must not be retried: a conflict means another agent won.
      entry.latest = await this.client.replaceStatus(job, {
        ...job.status,
        phase: job.status?.phase ?? 'Pending',
        agent: this.options.identity,
        heartbeatTime: now,
        claimedTime: now,
        conditions: setCondition(
          job.status?.conditions,
          {
            type: 'Claimed',
            status: 'True',
            reason: resumed
              ? 'ResumedFromStaleAgent'
              : previous
                ? 'ResumedAfterRestart'
                : 'Claimed',
            message: resumed
              ? `claimed by ${this.options.identity} after ${previous} stopped renewing its heartbeat`
              : `claimed by ${this.options.identity}`,
          },
          this.now(),
        ),
      });
    } catch (error) {
      this.held.delete(entry.key);
      this.updateGauges();
      if (apiStatus(error) === 409 || apiStatus(error) === 404) {
        this.metrics.count('claims', { result: 'conflict' });
        this.log.debug('claim lost to another writer', { job: entry.key });
        return;
      }
      this.log.error('claim failed', { job: entry.key, error: shortMessage(error) });
      return;
    }
    this.metrics.count('claims', { result: resumed ? 'resumed' : 'won' });
    this.log.info(resumed ? 'resumed a job from a stale agent' : 'claimed job', {
      job: entry.key,
      queue: job.spec.queue,
      phase: entry.latest.status?.phase,
      ...(resumed ? { previousAgent: previous } : {}),
    });
    entry.stage = 'working';
    try {
      await this.work(entry);
    } catch (error) {
      if (this.abandoned) return;
      if (error instanceof ClaimLostError) {
        this.log.warn('another agent took the job over', { job: entry.key, error: error.message });
        this.dropHeld(entry);
        return;
      }
      if (this.stopping && entry.abort.signal.aborted) return; // stop() releases it
      const reason = failureReason(error);
      this.log.error('job failed', { job: entry.key, reason, error: shortMessage(error) });
      await this.finish(entry, 'Failed', reason, shortMessage(error)).catch((finishError) =>
        this.log.error('could not record the failure', {
          job: entry.key,
          error: shortMessage(finishError),
        }),
      );
    }
  }

  private async work(entry: HeldJob): Promise<void> {
    const job = entry.latest;
    const status = job.status ?? {};
    if (status.runJobName && status.image) {
      // A previous holder got as far as the run Job: follow it, never create another.
      await this.startRun(entry, status.image, {});
      return;
    }
    if (this.options.settings.secureMode) {
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
      this.metrics.count('images', { result: 'prebuilt' });
      await this.startRun(entry, source.image, { imageStatus: 'prebuilt' });
      return;
    }
    if (!source.context && !source.git) {
      throw new JobRejectedError('InvalidSource', 'spec.source has none of image, context, git');
    }
    if (source.git) checkGitSource(source.git);
    const what = source.context
      ? source.context.key
      : `${source.git!.url}${source.git!.ref ? `@${source.git!.ref}` : ''}`;
    await this.update(entry, (s) => ({
      ...s,
      phase: 'Building',
      conditions: setCondition(
        s.conditions,
        { type: 'Built', status: 'Unknown', reason: 'Building', message: `building ${what}` },
        this.now(),
      ),
    }));
    const destination = this.options.settings.builder.destination;
    if (!destination) {
      throw new JobRejectedError(
        'NoDestination',
        'the job needs a build but the agent config has no builder.destination',
      );
    }
    // Jobs with the same source, Dockerfile, build args and platform (a sweep) share one
    // fetch, hash, registry check and build while it is in flight.
    const shareKey = JSON.stringify([
      source.context ? ['context', source.context.key] : ['git', source.git!.url, source.git!.ref],
      job.spec.dockerfile ?? 'Dockerfile',
      job.spec.buildArgs ?? {},
      this.options.settings.builder.platform ?? '',
    ]);
    const { report, leader } = await this.sharedBuild(shareKey, entry.abort.signal, (signal) =>
      this.buildSource(entry, destination, what, signal),
    );
    const imageStatus = report.status === 'built' && leader ? 'built' : 'reused';
    this.metrics.count('images', { result: imageStatus });
    if (imageStatus === 'built' && report.timings.buildMs !== undefined) {
      this.metrics.observeBuildSeconds(
        (report.timings.buildMs + (report.timings.pushMs ?? 0)) / 1000,
      );
    }
    const outcome =
      imageStatus === 'built'
        ? 'image built'
        : report.status === 'built'
          ? 'image built for another job of the same source'
          : 'image exists; build skipped';
    this.log.info(outcome, {
      job: entry.key,
      image: report.image,
      digest: report.digest,
    });
    await this.startRun(entry, report.image, {
      imageStatus,
      ...(report.digest ? { digest: report.digest } : {}),
      buildDurationSeconds: Math.round(report.timings.totalMs) / 1000,
    });
  }

  /** Fetches the job's source and builds it (or finds its image): the work shared by sharedBuild. */
  private async buildSource(
    entry: HeldJob,
    destination: NonNullable<AgentSettings['builder']['destination']>,
    what: string,
    signal: AbortSignal,
  ): Promise<BuildReport> {
    const job = entry.latest;
    const source = job.spec.source;
    const local = source.context
      ? await localBuildContext(this.options.contextStore, source.context.key)
      : await fetchGitSource(source.git!, signal);
    try {
      const dockerfile = join(local.directory, job.spec.dockerfile ?? 'Dockerfile');
      const inside = relative(local.directory, dockerfile);
      if (inside.startsWith('..') || isAbsolute(inside)) {
        throw new JobRejectedError(
          'InvalidDockerfile',
          `spec.dockerfile ${job.spec.dockerfile} is outside the context`,
        );
      }
      this.log.info('building', { job: entry.key, source: what });
      return await buildImage({
        plan: {
          contextDir: local.directory,
          dockerfile,
          ...(job.spec.buildArgs ? { buildArgs: job.spec.buildArgs } : {}),
          ...(this.options.settings.builder.platform
            ? { platform: this.options.settings.builder.platform }
            : {}),
          cacheDir: false,
        },
        destination,
        ...(this.options.registryOptions ? { registryOptions: this.options.registryOptions } : {}),
        builder: () => this.builder(),
        signal,
      });
    } finally {
      await local.cleanup();
    }
  }

  /**
   * Runs `build` once for every job that asks with the same key while it is in flight. The
   * first job to ask leads; the others wait for its result (and report the image as reused).
   * The shared work is aborted only when every job waiting on it was aborted.
   */
  private sharedBuild(
    key: string,
    signal: AbortSignal,
    build: (signal: AbortSignal) => Promise<BuildReport>,
  ): Promise<{ report: BuildReport; leader: boolean }> {
    let shared = this.sharedBuilds.get(key);
    const leader = shared === undefined;
    if (!shared) {
      const abort = new AbortController();
      const created: SharedBuild = { abort, waiters: 0, promise: build(abort.signal) };
      created.promise
        .catch(() => undefined)
        .finally(() => {
          if (this.sharedBuilds.get(key) === created) this.sharedBuilds.delete(key);
        });
      this.sharedBuilds.set(key, created);
      shared = created;
    }
    const current = shared;
    current.waiters += 1;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        current.waiters -= 1;
        if (current.waiters === 0) {
          current.abort.abort(signal.reason);
          if (this.sharedBuilds.get(key) === current) this.sharedBuilds.delete(key);
        }
        reject(signal.reason);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      current.promise
        .then(
          (report) => resolve({ report, leader }),
          (error: unknown) => reject(error),
        )
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private targetNamespace(job: LaunchJob): string {
    const wanted = job.spec.run?.namespace || job.metadata.namespace!;
    if (!this.runNamespaces.includes(wanted)) {
      throw new JobRejectedError(
        'NamespaceNotAllowed',
        `spec.run.namespace ${wanted} is neither the agent's namespace nor one of kubernetes.target-namespaces (${this.runNamespaces.join(', ')})`,
      );
    }
    return wanted;
  }

  private builder(): Promise<Builder> {
    this.builderPromise ??= this.options.builder
      ? this.options.builder()
      : selectBuilder(this.options.settings.builder, {
          // Build Jobs go where the agent works, as the agent: its namespace and connection.
          agent: {
            ...this.options.settings,
            kubernetes: { ...this.options.settings.kubernetes, namespace: this.options.namespace },
          },
          kubeConfig: this.options.kubeConfig,
          ...(this.options.contextStore ? { contextStore: this.options.contextStore } : {}),
        }).then((selected) => selected.builder);
    return this.builderPromise;
  }

  private async startRun(
    entry: HeldJob,
    image: string,
    extra: Pick<LaunchJobStatus, 'imageStatus' | 'digest' | 'buildDurationSeconds'>,
  ): Promise<void> {
    if (entry.abort.signal.aborted) throw entry.abort.signal.reason;
    const job = entry.latest;
    const namespace = job.status?.runJobNamespace ?? this.targetNamespace(job);
    const name = runJobName(job);
    const body = runJobSpec(job, {
      image,
      namespace,
      secureMode: this.options.settings.secureMode,
      agentName: this.options.identity,
    });
    try {
      const created = await this.batch.createNamespacedJob({ namespace, body });
      this.runJobs.set(entry.uid, created);
      this.metrics.count('run_jobs_created', { result: 'created' });
      this.log.info('run Job created', { job: entry.key, runJob: `${namespace}/${name}`, image });
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
      // Same deterministic name: it is this LaunchJob's Job if the uid label says so.
      const existing = await this.batch.readNamespacedJob({ name, namespace });
      if (existing.metadata?.labels?.[LABEL_LAUNCHJOB_UID] !== entry.uid) {
        throw new JobRejectedError(
          'RunJobNameTaken',
          `a Job ${namespace}/${name} exists that does not belong to this LaunchJob`,
        );
      }
      this.runJobs.set(entry.uid, existing);
      this.metrics.count('run_jobs_created', { result: 'adopted' });
      this.log.info('run Job already exists; following it', {
        job: entry.key,
        runJob: `${namespace}/${name}`,
      });
    }
    await this.update(entry, (s) => ({
      ...s,
      ...extra,
      phase: 'Running',
      image,
      runJobName: name,
      runJobNamespace: namespace,
      startTime: s.startTime ?? this.now().toISOString(),
      conditions: setCondition(
        extra.imageStatus
          ? setCondition(
              s.conditions,
              {
                type: 'Built',
                status: 'True',
                reason:
                  extra.imageStatus === 'built'
                    ? 'Built'
                    : extra.imageStatus === 'reused'
                      ? 'ImageExists'
                      : 'Prebuilt',
                message: image,
              },
              this.now(),
            )
          : s.conditions,
        {
          type: 'Running',
          status: 'True',
          reason: 'RunJobCreated',
          message: `${namespace}/${name}`,
        },
        this.now(),
      ),
    }));
    entry.stage = 'running';
    await this.mirrorRunJob(entry, false);
  }

  /** Mirrors the run Job's end into the LaunchJob. */
  private async mirrorRunJob(entry: HeldJob, deleted: boolean): Promise<void> {
    if (entry.stage !== 'running' || !this.held.has(entry.key)) return;
    if (deleted) {
      await this.finish(
        entry,
        'Failed',
        'RunJobDeleted',
        'the run Job was deleted before it finished',
      );
      return;
    }
    const run = this.runJobs.get(entry.uid);
    const conditions = run?.status?.conditions ?? [];
    const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
    const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
    try {
      if (complete)
        await this.finish(
          entry,
          'Succeeded',
          'Completed',
          complete.message ?? 'the run Job completed',
        );
      else if (failed)
        await this.finish(
          entry,
          'Failed',
          failed.reason ?? 'RunJobFailed',
          failed.message ?? 'the run Job failed',
        );
    } catch (error) {
      if (error instanceof ClaimLostError) this.dropHeld(entry);
      else
        this.log.error('could not mirror the run Job', {
          job: entry.key,
          error: shortMessage(error),
        });
    }
  }

  private async finish(
    entry: HeldJob,
    phase: LaunchJobPhase,
    reason: string,
    message: string,
  ): Promise<void> {
    if (!this.held.has(entry.key) || entry.finishing) return;
    entry.finishing = true;
    try {
      await this.update(entry, (s) => ({
        ...s,
        phase,
        message,
        completionTime: this.now().toISOString(),
        conditions: setCondition(
          setCondition(
            s.conditions,
            { type: 'Running', status: 'False', reason, message },
            this.now(),
          ),
          { type: phase === 'Succeeded' ? 'Succeeded' : 'Failed', status: 'True', reason, message },
          this.now(),
        ),
      }));
    } catch (error) {
      entry.finishing = false; // the next heartbeat round tries again
      throw error;
    }
    this.log.info(`job ${phase.toLowerCase()}`, { job: entry.key, reason });
    this.dropHeld(entry);
  }

  private dropHeld(entry: HeldJob): void {
    this.held.delete(entry.key);
    this.updateGauges();
    this.schedulePump();
  }

  /**
   * A status write on a held job. On a conflict the job is read again; if another agent holds
   * it now the write is abandoned (ClaimLostError), else it is retried on the fresh copy.
   */
  private update(
    entry: HeldJob,
    mutate: (status: LaunchJobStatus) => LaunchJobStatus,
  ): Promise<void> {
    const write = entry.writes.then(() => this.write(entry, mutate));
    entry.writes = write.catch(() => undefined);
    return write;
  }

  private async write(
    entry: HeldJob,
    mutate: (status: LaunchJobStatus) => LaunchJobStatus,
  ): Promise<void> {
    let current = entry.latest;
    for (let attempt = 0; ; attempt += 1) {
      if (current.status?.agent !== this.options.identity) {
        throw new ClaimLostError(entry.key, current.status?.agent);
      }
      try {
        const next = mutate(current.status ?? {});
        // Every write by the holder renews the heartbeat; a hand-back carries none.
        if (next.agent === this.options.identity) next.heartbeatTime = this.now().toISOString();
        entry.latest = await this.client.replaceStatus(current, next);
        return;
      } catch (error) {
        if (apiStatus(error) !== 409 || attempt >= 5) throw error;
        current = await this.client.get(current.metadata.namespace!, current.metadata.name!);
      }
    }
  }

  private async heartbeat(): Promise<void> {
    // A slow API server must not pile up heartbeat rounds.
    if (this.heartbeating) return;
    this.heartbeating = true;
    try {
      await this.heartbeatRound();
    } finally {
      this.heartbeating = false;
    }
  }

  private async heartbeatRound(): Promise<void> {
    for (const entry of [...this.held.values()]) {
      if (entry.stage === 'claiming' || this.stopping) continue;
      try {
        await this.update(entry, (s) => s);
        // Also retries a mirror that failed: the Job's last event is not delivered twice.
        if (entry.stage === 'running') await this.mirrorRunJob(entry, false);
      } catch (error) {
        if (error instanceof ClaimLostError) {
          this.log.warn('another agent took the job over', {
            job: entry.key,
            error: error.message,
          });
          entry.abort.abort(error);
          this.dropHeld(entry);
        } else if (apiStatus(error) === 404) {
          entry.abort.abort(error);
          this.dropHeld(entry);
        } else {
          this.log.warn('heartbeat failed', { job: entry.key, error: shortMessage(error) });
        }
      }
    }
  }

  /** Hands a job back on shutdown: no agent, phase back to Pending unless its Job runs. */
  private async release(entry: HeldJob): Promise<void> {
    try {
      await this.update(entry, (s) => {
        const { agent: _agent, heartbeatTime: _heartbeat, ...rest } = s;
        return {
          ...rest,
          phase: s.runJobName ? 'Running' : 'Pending',
          conditions: setCondition(
            s.conditions,
            {
              type: 'Claimed',
              status: 'False',
              reason: 'AgentShutdown',
              message: `${this.options.identity} shut down`,
            },
            this.now(),
          ),
        };
      });
      this.log.info('job handed back', { job: entry.key });
    } catch (error) {
      if (!(error instanceof ClaimLostError)) {
        this.log.warn('could not hand the job back; it is resumed when its heartbeat goes stale', {
          job: entry.key,
          error: shortMessage(error),
        });
      }
    }
  }
}
