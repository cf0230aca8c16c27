// What `launch-agent list` prints: one row per LaunchJob, as a table for people or JSON for
// programs. Pure (the clock is passed in), so the formats are unit-tested without a cluster.
import type { LaunchJob } from '@launch-agent/runtime';

export interface ListRow {
  name: string;
  namespace: string;
  queue: string;
  phase: string;
  /** The reason of the condition that changed last. */
  reason: string | null;
  /** 1-based place among the jobs that await a claim in its queue; null once claimed or ended. */
  position: number | null;
  created: string | null;
  image: string | null;
  /** built, reused or prebuilt. */
  imageStatus: string | null;
}

/** The reason of the latest condition (by lastTransitionTime; the last in the list on a tie). */
export function latestReason(job: LaunchJob): string | null {
  let latest: { at: number; reason: string | undefined } | undefined;
  for (const condition of job.status?.conditions ?? []) {
    const at = Date.parse(condition.lastTransitionTime ?? '') || 0;
    if (!latest || at >= latest.at) latest = { at, reason: condition.reason };
  }
  return latest?.reason ?? null;
}

export function listRows(jobs: readonly LaunchJob[], positions: Map<string, number>): ListRow[] {
  const rows = jobs.map((job): ListRow => {
    const { name = '', namespace = '', creationTimestamp } = job.metadata;
    return {
      name,
      namespace,
      queue: job.spec.queue,
      phase: job.status?.phase ?? 'Pending',
      reason: latestReason(job),
      position: positions.get(`${namespace}/${name}`) ?? null,
      created: creationTimestamp ? new Date(creationTimestamp).toISOString() : null,
      image: job.status?.image ?? null,
      imageStatus: job.status?.imageStatus ?? null,
    };
  });
  return rows.sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) ||
      a.queue.localeCompare(b.queue) ||
      (a.position ?? Infinity) - (b.position ?? Infinity) ||
      a.name.localeCompare(b.name),
  );
}

/** An age the way kubectl prints one: 45s, 12m, 5h, 3d. */
export function formatAge(created: string | null, now: Date): string {
  if (!created) return '-';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(created)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 120 * 60) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

const HEADERS = ['NAME', 'NAMESPACE', 'QUEUE', 'PHASE', 'REASON', 'POSITION', 'AGE', 'IMAGE'];

/** The table's lines: a header and one line per row, columns padded to their widest cell. */
export function formatTable(rows: readonly ListRow[], now: Date): string[] {
  const cells = rows.map((row) => [
    row.name,
    row.namespace,
    row.queue,
    row.phase,
    row.reason ?? '-',
    row.position === null ? '-' : String(row.position),
    formatAge(row.created, now),
    row.imageStatus ?? '-',
  ]);
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, ...cells.map((line) => line[column]!.length)),
  );
  return [HEADERS, ...cells].map((line) =>
    line
      .map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('   '),
  );
}
