// The agent as a Kubernetes controller: informers fill caches and only queue keys; workers take
// keys from the queue and run one reconcile each (reconcile.ts); an agent Lease (lease.ts) tells
// the others it is alive. This file wires those parts and answers the health probes.
import type * as k8s from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import type { Builder } from '../builders/builder.js';
import { logKanikoLeftovers } from '../builders/kaniko/leftovers.js';
import { Informer, type RelistReason } from '../kubernetes/informer.js';
import { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import {
  cachedLaunchJob,
  isTerminal,
  LAUNCHJOB_KIND,
  type CachedLaunchJob,
} from '../kubernetes/launchjob-types.js';
import type { RegistryOptions } from '../registries/select-registry.js';
import type { BuildContextStore } from '../storage/context-store.js';
import { silentLogger, type AgentLogger } from './agent-log.js';
import { AgentMetrics } from './agent-metrics.js';
import { Builds } from './builds.js';
import { Slots } from './slots.js';
import { EventRecorder } from './events.js';
import { Retention } from './retention.js';
import { AgentLease } from './lease.js';
import { NamespaceLabels } from './namespace-labels.js';
import { Reconciler } from './reconcile.js';
import { RunJobs } from './run-jobs.js';
import { releasedStatus, StatusWriter, statusMessage } from './status.js';
import { WorkQueue } from './work-queue.js';

export interface LaunchAgentOptions {
  kubeConfig: k8s.KubeConfig;
  settings: AgentSettings;
  /**
   * The agent's own namespace: its Lease, build Jobs and credentials. LaunchJobs live and run in
   * the tenant namespaces of settings.kubernetes.targetNamespaces; one created here is refused.
   */
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
  /** Where job sources are written (stored contexts, git checkouts). Default the system's temporary directory. */
  sourceDir?: string;
  /** How often the agent's Lease is renewed. Default launchjobs.heartbeat-seconds. */
  heartbeatIntervalMs?: number;
  /** An agent whose Lease was not renewed for this long is gone. Default launchjobs.stale-after-seconds. */
  staleAfterMs?: number;
  /** A run Job whose LaunchJob is gone is deleted once it is this old. Default 60 s. */
  orphanGraceMs?: number;
  /** Every job is reconciled again this often, whatever the watches say. Default 5 min. */
  resyncMs?: number;
  /** Reconciles run at once (each is a few API calls; builds run beside them). Default 4. */
  workers?: number;
  /** A reconcile still running after this long means the process is wedged (/healthz 503). Default 10 min. */
  wedgedAfterMs?: number;
  now?: () => Date;
}

/** API writes this agent made, by kind: the scale benchmark's measure. */
export interface AgentWrites {
  status: number;
  lease: number;
  events: number;
  runJobs: number;
}

export class LaunchAgent {
  readonly metrics: AgentMetrics;
  private readonly log: AgentLogger;
  private readonly client: LaunchJobClient;
  private readonly launchJobs: Array<Informer<CachedLaunchJob>>;
  private readonly runJobs: RunJobs;
  private readonly lease: AgentLease;
  private readonly queue = new WorkQueue();
  private readonly slots: Slots;
  private readonly status: StatusWriter;
  private readonly events: EventRecorder;
  private readonly builds: Builds;
  private readonly retention: Retention;
  private readonly reconciler: Reconciler;
  private readonly tombstones = new Map<string, CachedLaunchJob>();
  /** The tenant namespaces the agent serves: LaunchJobs live and run there. */
  private readonly servedNamespaces: string[];
  private readonly timers: NodeJS.Timeout[] = [];
  private workers: Array<Promise<void>> = [];
  private gaugesScheduled = false;
  private sweeping = false;
  private stopping = false;
  /** When each reconcile in progress started: a stuck one is what liveness reports. */
  private readonly inProgress = new Map<string, number>();
  private readonly now: () => Date;

  constructor(private readonly options: LaunchAgentOptions) {
    const { kubeConfig, settings, namespace, identity } = options;
    this.log = options.log ?? silentLogger;
    this.metrics = options.metrics ?? new AgentMetrics();
    this.now = options.now ?? (() => new Date());
    this.client = new LaunchJobClient(kubeConfig);
    this.servedNamespaces = [...new Set(settings.kubernetes.targetNamespaces)].filter(
      (served) => served !== namespace,
    );
    const launchJobs = settings.launchJobs;
    this.slots = new Slots(identity, settings.maxJobs);
    this.status = new StatusWriter(this.client);
    this.events = new EventRecorder(kubeConfig, identity, this.log, this.now);
    this.lease = new AgentLease({
      kubeConfig,
      namespace,
      identity,
      renewMs: options.heartbeatIntervalMs ?? launchJobs.heartbeatSeconds * 1000,
      durationMs: options.staleAfterMs ?? launchJobs.staleAfterSeconds * 1000,
      log: this.log,
      now: this.now,
    });
    // The cache keeps what every reconcile reads; a step that needs the whole spec reads it. One
    // informer per served namespace (namespace RBAC is the tenants' permission, so the agent needs
    // no cluster-wide read), and one on its own namespace, only to refuse what is created there.
    this.launchJobs = [...this.servedNamespaces, namespace].map(
      (where) =>
        new Informer<CachedLaunchJob>({
          kubeConfig,
          path: LaunchJobClient.path(where),
          what: `LaunchJobs in ${where}`,
          log: this.log,
          transform: cachedLaunchJob,
        }),
    );
    this.runJobs = new RunJobs(kubeConfig, this.servedNamespaces, this.log);
    this.builds = new Builds({
      kubeConfig,
      settings,
      namespace,
      log: this.log,
      ...(options.contextStore ? { contextStore: options.contextStore } : {}),
      ...(options.registryOptions ? { registryOptions: options.registryOptions } : {}),
      ...(options.builder ? { builder: options.builder } : {}),
      ...(options.sourceDir ? { sourceDir: options.sourceDir } : {}),
      settled: (key) => this.queue.add(key),
    });
    this.retention = new Retention({
      client: this.client,
      runJobs: this.runJobs,
      log: this.log,
      metrics: this.metrics,
      ...(options.contextStore ? { contextStore: options.contextStore } : {}),
      ...(launchJobs.ttlSecondsAfterFinished !== undefined
        ? { ttlMs: launchJobs.ttlSecondsAfterFinished * 1000 }
        : {}),
      orphanGraceMs: options.orphanGraceMs ?? 60_000,
      jobs: () => this.allLaunchJobs(),
      now: this.now,
    });
    const namespaceLabels = new NamespaceLabels(kubeConfig, this.now);
    this.reconciler = new Reconciler({
      identity,
      settings,
      agentNamespace: namespace,
      servedNamespaces: this.servedNamespaces,
      namespaceLabels: (where) => namespaceLabels.get(where),
      observed: (key) => this.launchJob(key),
      client: this.client,
      takeTombstone: (key) => {
        const last = this.tombstones.get(key);
        this.tombstones.delete(key);
        return last;
      },
      status: this.status,
      slots: this.slots,
      lease: this.lease,
      builds: this.builds,
      runJobs: this.runJobs,
      retention: this.retention,
      events: this.events,
      metrics: this.metrics,
      log: this.log,
      stopping: () => this.stopping,
      slotFreed: () => {
        for (const key of this.slots.takeWaiting()) this.queue.add(key);
      },
      now: this.now,
    });
    this.wireInformers();
    this.metrics.setActiveJobs(0, settings.maxJobs);
  }

  private wireInformers(): void {
    const keyOf = (job: CachedLaunchJob) => `${job.metadata.namespace}/${job.metadata.name}`;
    const changed = (job: CachedLaunchJob) => {
      const key = keyOf(job);
      this.tombstones.delete(key);
      this.queue.add(key);
      this.scheduleGauges();
    };
    for (const informer of this.launchJobs) {
      informer.on({
        add: changed,
        update: (_previous, job) => changed(job),
        delete: (job) => {
          const key = keyOf(job);
          this.tombstones.set(key, job);
          this.queue.add(key);
          this.scheduleGauges();
        },
      });
    }
    // A run Job's change is its LaunchJob's business: queue the key its owner reference names
    // (the run lives in its LaunchJob's namespace; a label value may be a shortened name).
    const owner = (run: k8s.V1Job) => {
      const ref = run.metadata?.ownerReferences?.find((r) => r.kind === LAUNCHJOB_KIND);
      if (ref) this.queue.add(`${run.metadata!.namespace}/${ref.name}`);
    };
    for (const informer of this.runJobs.informers) {
      informer.on({ add: owner, update: (_previous, run) => owner(run), delete: owner });
    }
  }

  private informers(): Array<Informer<{ metadata?: object }>> {
    return [...this.launchJobs, ...this.runJobs.informers, this.lease.informerState()] as Array<
      Informer<{ metadata?: object }>
    >;
  }

  /**
   * The process works (liveness): false only when it is wedged and a restart would help, i.e. a
   * reconcile (a few API calls) has not returned for wedgedAfterMs. An unreachable API server is
   * not that: requests to it fail and are retried.
   */
  isLive(): boolean {
    return this.wedgedKey() === undefined;
  }

  private wedgedKey(): string | undefined {
    const limit = this.options.wedgedAfterMs ?? 600_000;
    const now = Date.now();
    for (const [key, started] of this.inProgress) if (now - started > limit) return key;
    return undefined;
  }

  /** Listed everything, connected to the API server, Lease held (readiness). */
  isReady(): boolean {
    return this.notReadyBecause() === undefined;
  }

  /** Why the agent is not ready, for /readyz and the logs; undefined when it is. */
  notReadyBecause(): string | undefined {
    if (this.stopping) return 'shutting down';
    const wedged = this.wedgedKey();
    if (wedged) return `wedged: the reconcile of ${wedged} has not returned`;
    for (const informer of this.informers()) {
      if (!informer.hasSynced()) {
        const error = informer.lastError();
        return error ? `cannot list from the API server: ${error}` : 'listing from the API server';
      }
      if (!informer.isConnected()) {
        return `disconnected from the API server: ${informer.lastError() ?? 'reconnecting'}`;
      }
    }
    if (!this.lease.isHeld()) return 'the agent Lease is not renewed';
    return undefined;
  }

  /** Jobs this agent holds now. */
  activeJobs(): string[] {
    return this.slots.heldKeys();
  }

  /** API writes made so far, by kind. */
  writes(): AgentWrites {
    return {
      status: this.status.writes,
      lease: this.lease.writes,
      events: this.events.written,
      runJobs: this.runJobs.writes,
    };
  }

  /** How often the LaunchJob informer listed, by why: the first list, a 410, a failed watch. */
  relists(): Readonly<Record<RelistReason, number>> {
    const total: Record<string, number> = {};
    for (const informer of this.launchJobs) {
      for (const [why, n] of Object.entries(informer.relists())) total[why] = (total[why] ?? 0) + n;
    }
    return total as Record<RelistReason, number>;
  }

  /** The cached LaunchJob `namespace/name`, from the informer of its namespace. */
  private launchJob(key: string): CachedLaunchJob | undefined {
    const namespace = key.slice(0, key.indexOf('/'));
    const index =
      namespace === this.options.namespace
        ? this.launchJobs.length - 1
        : this.servedNamespaces.indexOf(namespace);
    return index < 0 ? undefined : this.launchJobs[index]!.get(key);
  }

  private allLaunchJobs(): CachedLaunchJob[] {
    return this.launchJobs.flatMap((informer) => informer.list());
  }

  /** Objects the agent keeps in memory: LaunchJobs and run Jobs cached, builds in flight. */
  cacheSizes(): { launchJobs: number; runJobs: number; builds: number; queued: number } {
    return {
      launchJobs: this.launchJobs.reduce((n, informer) => n + informer.size(), 0),
      runJobs: this.runJobs.all().length,
      builds: this.builds.inFlight(),
      queued: this.queue.length(),
    };
  }

  /** Starts the informers, the Lease and the workers; resolves once the agent is ready. */
  async start(): Promise<void> {
    const { namespace, settings, identity } = this.options;
    this.log.info('agent starting', {
      agent: identity,
      namespace,
      queues: settings.queues,
      maxJobs: settings.maxJobs,
      secureMode: settings.secureMode,
      servedNamespaces: this.servedNamespaces,
      lease: this.lease.name,
    });
    if (this.servedNamespaces.length === 0) {
      this.log.warn('the agent serves no namespace: kubernetes.target-namespaces is empty', {
        namespace,
      });
    }
    if (settings.builder.type === 'kaniko') {
      // In the background: readiness does not wait for it, and a failure is only logged.
      void logKanikoLeftovers(this.log, {
        kubeConfig: this.options.kubeConfig,
        namespace: this.options.namespace,
        olderThanSeconds: settings.builder.buildTimeoutSeconds + 600,
        ...(this.options.contextStore ? { store: this.options.contextStore } : {}),
      });
    }
    for (const informer of this.launchJobs) informer.start();
    for (const informer of this.runJobs.informers) informer.start();
    this.lease.start();
    const workers = this.options.workers ?? 4;
    this.workers = Array.from({ length: workers }, () => this.work());
    const resync = this.options.resyncMs ?? 300_000;
    this.timers.push(setInterval(() => this.resync(), resync));
    const orphanGrace = this.options.orphanGraceMs ?? 60_000;
    this.timers.push(
      setInterval(() => void this.sweep(), Math.min(60_000, Math.max(500, orphanGrace / 2))),
    );
    this.timers.forEach((timer) => timer.unref());
    let reported: string | undefined;
    while (!this.isReady()) {
      if (this.stopping) throw new Error('the agent stopped before it was ready');
      const why = this.notReadyBecause();
      if (why !== reported && why?.startsWith('cannot')) this.log.warn('not ready yet', { why });
      reported = why;
      await new Promise((resolve) => setTimeout(resolve, 20).unref());
    }
    this.log.info('agent ready', { agent: identity });
  }

  /**
   * Graceful shutdown (SIGTERM): take no new job, stop builds, hand every held job back (status
   * says so) so another agent resumes it at once instead of after the Lease expires, delete the
   * Lease. Run Jobs keep running: whoever resumes the LaunchJob follows the same Job.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.forEach(clearInterval);
    const held = this.slots.heldKeys();
    this.log.info('agent stopping', { agent: this.options.identity, held: held.length });
    await this.builds.abortAll(new Error('the agent is shutting down'));
    this.queue.shutDown();
    await Promise.allSettled(this.workers);
    await Promise.allSettled(held.map((key) => this.release(key)));
    await this.lease.stop(true);
    for (const informer of this.launchJobs) informer.stop();
    for (const informer of this.runJobs.informers) informer.stop();
    this.log.info('agent stopped', { agent: this.options.identity });
  }

  /**
   * Stops everything without writing a thing, as if the process had been killed: what a test
   * uses to play a crashed agent.
   */
  abandon(): void {
    this.stopping = true;
    this.timers.forEach(clearInterval);
    void this.builds.abortAll(new Error('abandoned'));
    this.queue.shutDown();
    void this.lease.stop(false);
    for (const informer of this.launchJobs) informer.stop();
    for (const informer of this.runJobs.informers) informer.stop();
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = Date.now();
      let failed = false;
      this.inProgress.set(key, started);
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined && !this.stopping) {
          this.queue.addAfter(key, result.requeueAfterMs);
        }
      } catch (error) {
        failed = true;
        if (!this.stopping) {
          const delay = this.queue.addRateLimited(key);
          this.log.warn('reconcile failed; retrying', {
            job: key,
            attempt: this.queue.retries(key),
            retryInMs: delay,
            error: statusMessage(error),
          });
        }
      } finally {
        this.metrics.observeReconcile((Date.now() - started) / 1000, failed);
        this.inProgress.delete(key);
        this.queue.done(key);
        this.scheduleGauges();
      }
    }
  }

  /** Every known job again: whatever a watch missed is caught here. */
  private resync(): void {
    for (const job of this.allLaunchJobs()) {
      this.queue.add(`${job.metadata.namespace}/${job.metadata.name}`);
    }
  }

  private async release(key: string): Promise<void> {
    const observed = this.launchJob(key);
    if (!observed || isTerminal(observed)) return;
    const job = this.status.freshest(key, observed);
    if (job.status?.agent !== this.options.identity) return;
    try {
      const released = await this.status.write(
        key,
        job,
        releasedStatus(job, this.options.identity, this.now()),
      );
      this.events.record(released, 'Released', `${this.options.identity} shut down`);
      this.log.info('job handed back', { job: key });
    } catch (error) {
      this.log.warn('could not hand the job back; it is resumed when the Lease expires', {
        job: key,
        error: statusMessage(error),
      });
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopping || !this.isReady()) return;
    this.sweeping = true;
    try {
      await this.retention.removeOrphanedRunJobs(() => this.stopping);
    } catch (error) {
      this.log.warn('retention sweep failed', { error: statusMessage(error) });
    } finally {
      this.sweeping = false;
    }
  }

  private scheduleGauges(): void {
    if (this.gaugesScheduled) return;
    this.gaugesScheduled = true;
    setImmediate(() => {
      this.gaugesScheduled = false;
      this.updateGauges();
    });
  }

  private updateGauges(): void {
    const { settings } = this.options;
    const phases: Record<string, number> = {};
    const depth: Record<string, number> = Object.fromEntries(settings.queues.map((q) => [q, 0]));
    for (const job of this.allLaunchJobs()) {
      if (!settings.queues.includes(job.spec?.queue)) continue;
      const phase = job.status?.phase ?? 'Pending';
      phases[phase] = (phases[phase] ?? 0) + 1;
      if (!isTerminal(job) && !job.status?.agent)
        depth[job.spec.queue] = (depth[job.spec.queue] ?? 0) + 1;
    }
    this.metrics.setJobsByPhase(phases);
    this.metrics.setQueueDepth(depth);
    this.metrics.setActiveJobs(this.slots.count(), settings.maxJobs);
  }
}
