// What the dashboard shows of LaunchJobs, computed from the objects alone: pure functions, so the
// pages and their unit tests agree on what "waiting", "depth" and "throughput" mean.
import type { LaunchJob, LaunchJobCondition } from '@launch-agent/runtime';

/** One row of the jobs table; also what the live stream sends for a changed job. */
export interface JobRow {
  key: string;
  namespace: string;
  name: string;
  queue: string;
  phase: string;
  reason: string;
  message: string;
  created: string;
  image: string;
}

export interface QueueSummary {
  queue: string;
  /** Not claimed by any agent yet. */
  depth: number;
  building: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Unclaimed jobs, oldest first: index + 1 is the position. */
  waiting: Array<{ namespace: string; name: string; created: string; waitingSeconds: number }>;
  /** Jobs completed in each of the last `hours` hours, the current hour last. */
  completedPerHour: number[];
}

export const THROUGHPUT_HOURS = 6;

export function isUnclaimed(job: LaunchJob): boolean {
  const phase = job.status?.phase ?? 'Pending';
  return phase === 'Pending' && !job.status?.claimedTime && !job.status?.agent;
}

/** The condition that changed last: its reason is the job's reason in the table. */
export function latestCondition(job: LaunchJob): LaunchJobCondition | undefined {
  const conditions = [...(job.status?.conditions ?? [])];
  conditions.sort((a, b) => (b.lastTransitionTime ?? '').localeCompare(a.lastTransitionTime ?? ''));
  return conditions[0];
}

export function jobRow(job: LaunchJob): JobRow {
  const condition = latestCondition(job);
  const namespace = job.metadata.namespace ?? '';
  const name = job.metadata.name ?? '';
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    queue: job.spec?.queue ?? '',
    phase: job.status?.phase ?? 'Pending',
    reason: condition?.reason ?? (isUnclaimed(job) ? 'Unclaimed' : ''),
    message: job.status?.message ?? condition?.message ?? '',
    created: String(job.metadata.creationTimestamp ?? ''),
    image: job.status?.image ?? job.spec?.source?.image ?? '',
  };
}

export interface RowFilter {
  queue?: string;
  namespace?: string;
  phase?: string;
  reason?: string;
}

export function matchesFilter(row: JobRow, filter: RowFilter): boolean {
  return (
    (!filter.queue || row.queue === filter.queue) &&
    (!filter.namespace || row.namespace === filter.namespace) &&
    (!filter.phase || row.phase === filter.phase) &&
    (!filter.reason || row.reason === filter.reason)
  );
}

const time = (value: unknown) => new Date(String(value ?? 0)).getTime();

export function summarizeQueues(jobs: LaunchJob[], now: Date): QueueSummary[] {
  const byQueue = new Map<string, QueueSummary>();
  const hourMs = 3600_000;
  for (const job of jobs) {
    const queue = job.spec?.queue ?? '';
    let summary = byQueue.get(queue);
    if (!summary) {
      summary = {
        queue,
        depth: 0,
        building: 0,
        running: 0,
        succeeded: 0,
        failed: 0,
        waiting: [],
        completedPerHour: new Array<number>(THROUGHPUT_HOURS).fill(0),
      };
      byQueue.set(queue, summary);
    }
    const phase = job.status?.phase ?? 'Pending';
    if (isUnclaimed(job)) {
      summary.depth++;
      summary.waiting.push({
        namespace: job.metadata.namespace ?? '',
        name: job.metadata.name ?? '',
        created: String(job.metadata.creationTimestamp ?? ''),
        waitingSeconds: Math.max(
          0,
          Math.round((now.getTime() - time(job.metadata.creationTimestamp)) / 1000),
        ),
      });
    }
    if (phase === 'Building') summary.building++;
    if (phase === 'Running') summary.running++;
    if (phase === 'Succeeded') summary.succeeded++;
    if (phase === 'Failed') summary.failed++;
    const completion = job.status?.completionTime;
    if (completion) {
      const hoursAgo = Math.floor((now.getTime() - time(completion)) / hourMs);
      if (hoursAgo >= 0 && hoursAgo < THROUGHPUT_HOURS) {
        summary.completedPerHour[THROUGHPUT_HOURS - 1 - hoursAgo]!++;
      }
    }
  }
  for (const summary of byQueue.values()) {
    summary.waiting.sort(
      (a, b) => time(a.created) - time(b.created) || a.name.localeCompare(b.name),
    );
  }
  return [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue));
}

/** Why the job is not running, in words, or undefined when it is running or done. */
export function notRunningReason(job: LaunchJob, position: number | undefined): string | undefined {
  const phase = job.status?.phase ?? 'Pending';
  if (phase === 'Running' || phase === 'Succeeded') return undefined;
  const condition = latestCondition(job);
  const detail = job.status?.message ?? condition?.message;
  if (phase === 'Failed') {
    return `Failed${condition?.reason ? ` (${condition.reason})` : ''}${detail ? `: ${detail}` : ''}`;
  }
  if (phase === 'Building') return `Its image is being built${detail ? `: ${detail}` : ''}.`;
  if (isUnclaimed(job)) {
    const where = position ? `, number ${position} in queue ${job.spec.queue}` : '';
    return `Waiting for an agent serving queue ${job.spec.queue} to claim it${where}.`;
  }
  const reason = condition?.reason ? ` (${condition.reason})` : '';
  return `Claimed by ${job.status?.agent ?? 'an agent'}, not running yet${reason}${detail ? `: ${detail}` : ''}.`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
