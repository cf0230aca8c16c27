// Where an unclaimed job stands in its queue: the order in which agents take waiting jobs
// (claims.ts claimOrder: oldest creationTimestamp first, then namespace/name), among the jobs
// given. `launch-agent list` shows it; it counts only the jobs the caller could list.
import {
  cancelRequest,
  isTerminal,
  type CachedLaunchJob,
  type LaunchJob,
} from '../kubernetes/launchjob-types.js';
import { claimOrder, creationTime } from './slots.js';

/** A job an agent may still claim: not finished, held by no agent, no cancel requested. */
export function awaitsClaim(job: LaunchJob | CachedLaunchJob): boolean {
  return !isTerminal(job) && !job.status?.agent && !cancelRequest(job);
}

/** 1-based positions per queue of the jobs that await a claim, keyed by `namespace/name`. */
export function queuePositions(
  jobs: ReadonlyArray<LaunchJob | CachedLaunchJob>,
): Map<string, number> {
  const byQueue = new Map<string, Array<{ key: string; created: number }>>();
  for (const job of jobs) {
    if (!awaitsClaim(job)) continue;
    const entry = {
      key: `${job.metadata.namespace}/${job.metadata.name}`,
      created: creationTime(job),
    };
    const list = byQueue.get(job.spec.queue) ?? [];
    list.push(entry);
    byQueue.set(job.spec.queue, list);
  }
  const positions = new Map<string, number>();
  for (const list of byQueue.values()) {
    list.sort(claimOrder).forEach((entry, index) => positions.set(entry.key, index + 1));
  }
  return positions;
}
