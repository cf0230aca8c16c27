// Which LaunchJobs this agent holds, and whether it may claim another (max_jobs). A claim is
// the job's status.agent; it is safe while that agent's Lease is renewed (lease.ts).
import type { CachedLaunchJob } from '../kubernetes/launchjob-types.js';
import { isTerminal } from '../kubernetes/launchjob-types.js';

export class Slots {
  /** Unfinished jobs whose status names this agent (as observed, or as just written). */
  private readonly held = new Set<string>();
  /** Held jobs whose run waits for Kueue to admit it: Kueue is their queue, they take no slot. */
  private readonly parked = new Set<string>();
  /** Claims being written now: they count against max_jobs until they succeed or fail. */
  private readonly claiming = new Set<string>();
  /** Jobs that found no free slot: queued again, oldest first, when one frees. */
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly identity: string,
    private readonly maxJobs: number,
  ) {}

  /**
   * Keeps the held set in step with what the informer (or a write) shows of a job. True when
   * that freed a slot: the job ended, went to another agent, or its run now waits for Kueue.
   */
  observe(key: string, job: CachedLaunchJob | undefined): boolean {
    const mine = job !== undefined && !isTerminal(job) && job.status?.agent === this.identity;
    const counted = this.counts(key);
    if (mine) this.held.add(key);
    else this.held.delete(key);
    if (mine && waitsForAdmission(job)) this.parked.add(key);
    else this.parked.delete(key);
    if (!job) this.waiting.delete(key);
    return counted && !this.counts(key);
  }

  private counts(key: string): boolean {
    return this.held.has(key) && !this.parked.has(key);
  }

  isHeld(key: string): boolean {
    return this.held.has(key);
  }

  heldKeys(): string[] {
    return [...this.held];
  }

  /** Slots in use: held jobs, less those whose run waits for Kueue, plus claims being written. */
  count(): number {
    return this.held.size - this.parked.size + this.claiming.size;
  }

  /** Reserves a slot for a claim of `key`; false (and the key waits) when there is none. */
  reserve(key: string, created: number): boolean {
    if (this.held.has(key) || this.claiming.has(key)) return true;
    if (this.maxJobs >= 0 && this.count() >= this.maxJobs) {
      this.waiting.set(key, created);
      return false;
    }
    this.waiting.delete(key);
    this.claiming.add(key);
    return true;
  }

  /** The claim write ended; `won` makes the job held at once, before the watch shows it. */
  claimed(key: string, won: boolean): void {
    this.claiming.delete(key);
    if (won) this.held.add(key);
  }

  release(key: string): void {
    this.held.delete(key);
    this.parked.delete(key);
  }

  /** The jobs that waited for a slot, oldest first; they are no longer waiting. */
  takeWaiting(): string[] {
    const keys = [...this.waiting.entries()]
      .sort(([keyA, createdA], [keyB, createdB]) =>
        claimOrder({ key: keyA, created: createdA }, { key: keyB, created: createdB }),
      )
      .map(([key]) => key);
    this.waiting.clear();
    return keys;
  }

  hasRoom(): boolean {
    return this.maxJobs < 0 || this.count() < this.maxJobs;
  }
}

/** When the job was claimed, as a time; legacy heartbeats count as claims. */
export function claimedAt(job: CachedLaunchJob): number | undefined {
  const times = [job.status?.claimedTime, job.status?.heartbeatTime]
    .map((time) => Date.parse(time ?? ''))
    .filter((time) => !Number.isNaN(time));
  return times.length > 0 ? Math.max(...times) : undefined;
}

/**
 * The order in which waiting jobs are claimed: oldest creationTimestamp first, and for jobs made
 * in the same second (the timestamp's resolution) by `namespace/name`. `launch-agent list`
 * computes its queue positions with it.
 */
export function claimOrder(
  a: { key: string; created: number },
  b: { key: string; created: number },
): number {
  return a.created - b.created || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

export function creationTime(job: CachedLaunchJob): number {
  const time = Date.parse(String(job.metadata.creationTimestamp ?? ''));
  return Number.isNaN(time) ? 0 : time;
}

/** The job's run exists and waits to be admitted (by Kueue): status Pending with a run Job. */
export function waitsForAdmission(job: CachedLaunchJob): boolean {
  return job.status?.phase === 'Pending' && job.status.runJobName !== undefined;
}
