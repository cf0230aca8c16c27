// The agent's Prometheus metrics, in the text exposition format (version 0.0.4). Small enough
// that a client library would be more code to configure than this is to read.

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escaped = entries.map(
    ([key, value]) =>
      `${key}="${value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
  );
  return `{${escaped.join(',')}}`;
}

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort());

/** Build durations: the default Prometheus buckets stretched to cover long image builds. */
export const BUILD_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

type CounterName = 'images' | 'claims' | 'run_jobs_created' | 'deleted';

export class AgentMetrics {
  private readonly jobsByPhase = new Map<string, number>();
  private readonly queueDepth = new Map<string, number>();
  private activeJobs = 0;
  private maxJobs = 0;
  private readonly counters = new Map<string, { labels: Labels; value: number }>();
  private readonly buildBuckets = BUILD_DURATION_BUCKETS.map(() => 0);
  private buildCount = 0;
  private buildSum = 0;

  /** Replaces the per-phase counts of the LaunchJobs the agent sees. */
  setJobsByPhase(counts: Record<string, number>): void {
    this.jobsByPhase.clear();
    for (const [phase, count] of Object.entries(counts)) this.jobsByPhase.set(phase, count);
  }

  setQueueDepth(depths: Record<string, number>): void {
    this.queueDepth.clear();
    for (const [queue, depth] of Object.entries(depths)) this.queueDepth.set(queue, depth);
  }

  setActiveJobs(active: number, max: number): void {
    this.activeJobs = active;
    this.maxJobs = max;
  }

  /** `launch_agent_images_total{result="built|reused|prebuilt"}` and the like. */
  count(name: CounterName, labels: Labels, by = 1): void {
    const id = `${name}${key(labels)}`;
    const current = this.counters.get(id) ?? { labels, value: 0 };
    current.value += by;
    this.counters.set(id, current);
  }

  counter(name: CounterName, labels: Labels): number {
    return this.counters.get(`${name}${key(labels)}`)?.value ?? 0;
  }

  observeBuildSeconds(seconds: number): void {
    this.buildCount += 1;
    this.buildSum += seconds;
    BUILD_DURATION_BUCKETS.forEach((bound, index) => {
      if (seconds <= bound) this.buildBuckets[index]! += 1;
    });
  }

  /** The exposition text served at /metrics. */
  render(): string {
    const lines: string[] = [];
    lines.push('# HELP launch_agent_jobs LaunchJobs in the agent queues, by phase.');
    lines.push('# TYPE launch_agent_jobs gauge');
    for (const phase of ['Pending', 'Building', 'Running', 'Succeeded', 'Failed']) {
      lines.push(`launch_agent_jobs${labelText({ phase })} ${this.jobsByPhase.get(phase) ?? 0}`);
    }
    lines.push('# HELP launch_agent_queue_depth LaunchJobs waiting to be claimed, by queue.');
    lines.push('# TYPE launch_agent_queue_depth gauge');
    for (const [queue, depth] of this.queueDepth) {
      lines.push(`launch_agent_queue_depth${labelText({ queue })} ${depth}`);
    }
    lines.push(
      '# HELP launch_agent_active_jobs Jobs this agent holds now (counted against max_jobs).',
    );
    lines.push('# TYPE launch_agent_active_jobs gauge');
    lines.push(`launch_agent_active_jobs ${this.activeJobs}`);
    lines.push('# HELP launch_agent_max_jobs The max_jobs setting; -1 is unlimited.');
    lines.push('# TYPE launch_agent_max_jobs gauge');
    lines.push(`launch_agent_max_jobs ${this.maxJobs}`);
    const help: Record<string, string> = {
      images:
        'Images resolved for jobs, by result: built, reused (already in the registry) or prebuilt.',
      claims: 'LaunchJob claims, by result: won, conflict (another agent won) or resumed.',
      run_jobs_created: 'Run Jobs created, by result: created or adopted (it already existed).',
      deleted:
        'Objects the agent deleted, by what: finished LaunchJobs past their TTL (launchjob), their run Jobs (run_job) and contexts (context), and run Jobs whose LaunchJob is gone (orphaned_run_job).',
    };
    for (const name of Object.keys(help)) {
      lines.push(`# HELP launch_agent_${name}_total ${help[name]}`);
      lines.push(`# TYPE launch_agent_${name}_total counter`);
      for (const [id, { labels, value }] of this.counters) {
        if (id.startsWith(`${name}[`))
          lines.push(`launch_agent_${name}_total${labelText(labels)} ${value}`);
      }
    }
    lines.push(
      '# HELP launch_agent_build_duration_seconds Time spent building images that had to be built.',
    );
    lines.push('# TYPE launch_agent_build_duration_seconds histogram');
    BUILD_DURATION_BUCKETS.forEach((bound, index) => {
      lines.push(
        `launch_agent_build_duration_seconds_bucket${labelText({ le: String(bound) })} ${this.buildBuckets[index]}`,
      );
    });
    lines.push(`launch_agent_build_duration_seconds_bucket{le="+Inf"} ${this.buildCount}`);
    lines.push(`launch_agent_build_duration_seconds_sum ${this.buildSum}`);
    lines.push(`launch_agent_build_duration_seconds_count ${this.buildCount}`);
    return `${lines.join('\n')}\n`;
  }
}
