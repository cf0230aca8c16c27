// The agent's Prometheus metrics, through prom-client: the agent's own gauges, counters and build
// histogram, and the library's default process metrics (resident memory, heap, event-loop lag,
// CPU, open file descriptors) on the same /metrics page. Each AgentMetrics has its own registry,
// so several agents in one process (tests) do not share counts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type Labels = Record<string, string>;

/** Build durations: the default Prometheus buckets stretched to cover long image builds. */
export const BUILD_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

type CounterName = 'images' | 'claims' | 'run_jobs_created' | 'deleted';

/** Every phase is always exposed, at 0 when no LaunchJob is in it, so alerts need no absent(). */
const PHASES = ['Pending', 'Building', 'Running', 'Succeeded', 'Failed', 'Cancelled'];

const COUNTERS: Record<CounterName, { help: string; label: string }> = {
  images: {
    help: 'Images resolved for jobs, by result: built, reused (already in the registry) or prebuilt.',
    label: 'result',
  },
  claims: {
    help: 'LaunchJob claims, by result: won, conflict (another agent won) or resumed.',
    label: 'result',
  },
  run_jobs_created: {
    help: 'Run Jobs created, by result: created or adopted (it already existed).',
    label: 'result',
  },
  deleted: {
    help: 'Objects the agent deleted, by what: finished LaunchJobs past their TTL (launchjob), their run Jobs (run_job) and contexts (context), and run Jobs whose LaunchJob is gone (orphaned_run_job).',
    label: 'what',
  },
};

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort());

export class AgentMetrics {
  /** The registry behind /metrics; add collectors here to expose them beside the agent's. */
  readonly registry = new Registry();
  /** Served as the Content-Type of /metrics. */
  readonly contentType = this.registry.contentType;
  private readonly jobs = new Gauge({
    name: 'launch_agent_jobs',
    help: 'LaunchJobs in the agent queues, by phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: 'launch_agent_queue_depth',
    help: 'LaunchJobs waiting to be claimed, by queue.',
    labelNames: ['queue'],
    registers: [this.registry],
  });
  private readonly activeJobs = new Gauge({
    name: 'launch_agent_active_jobs',
    help: 'Jobs this agent holds now (counted against max_jobs).',
    registers: [this.registry],
  });
  private readonly maxJobs = new Gauge({
    name: 'launch_agent_max_jobs',
    help: 'The max_jobs setting; -1 is unlimited.',
    registers: [this.registry],
  });
  private readonly counters: Record<CounterName, Counter>;
  /** What counter() answers: prom-client reads its values only asynchronously. */
  private readonly counted = new Map<string, number>();
  private readonly buildSeconds = new Histogram({
    name: 'launch_agent_build_duration_seconds',
    help: 'Time spent building images that had to be built.',
    buckets: BUILD_DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly reconcileSeconds = new Histogram({
    name: 'launch_agent_reconcile_duration_seconds',
    help: 'Time one reconcile of a LaunchJob took, failed ones included.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly reconcileErrors = new Counter({
    name: 'launch_agent_reconcile_errors_total',
    help: 'Reconciles that failed and were retried with backoff.',
    registers: [this.registry],
  });

  constructor() {
    this.counters = Object.fromEntries(
      Object.entries(COUNTERS).map(([name, { help, label }]) => [
        name,
        new Counter({
          name: `launch_agent_${name}_total`,
          help,
          labelNames: [label],
          registers: [this.registry],
        }),
      ]),
    ) as Record<CounterName, Counter>;
    this.setJobsByPhase({});
    this.setActiveJobs(0, 0);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Replaces the per-phase counts of the LaunchJobs the agent sees. */
  setJobsByPhase(counts: Record<string, number>): void {
    this.jobs.reset();
    for (const phase of PHASES) this.jobs.set({ phase }, counts[phase] ?? 0);
    for (const [phase, count] of Object.entries(counts)) {
      if (!PHASES.includes(phase)) this.jobs.set({ phase }, count);
    }
  }

  setQueueDepth(depths: Record<string, number>): void {
    this.queueDepth.reset();
    for (const [queue, depth] of Object.entries(depths)) this.queueDepth.set({ queue }, depth);
  }

  setActiveJobs(active: number, max: number): void {
    this.activeJobs.set(active);
    this.maxJobs.set(max);
  }

  /** `launch_agent_images_total{result="built|reused|prebuilt"}` and the like. */
  count(name: CounterName, labels: Labels, by = 1): void {
    this.counters[name].inc(labels, by);
    const id = `${name}${key(labels)}`;
    this.counted.set(id, (this.counted.get(id) ?? 0) + by);
  }

  counter(name: CounterName, labels: Labels): number {
    return this.counted.get(`${name}${key(labels)}`) ?? 0;
  }

  observeBuildSeconds(seconds: number): void {
    this.buildSeconds.observe(seconds);
  }

  /** One reconcile's duration, and whether it failed (it is then retried with backoff). */
  observeReconcile(seconds: number, failed: boolean): void {
    this.reconcileSeconds.observe(seconds);
    if (failed) this.reconcileErrors.inc();
  }

  /** The exposition text served at /metrics (text format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
