// launchjobs.source-budget-bytes: what the sources of all builds in progress may take of the
// agent's /tmp together. Each build reserves one source's cap (max-source-bytes) before it writes
// anything, since nothing tells in advance how much a source will take; once written, the
// reservation shrinks to what the source really takes, and it is released when the build ends.
// A build whose reservation does not fit waits, first come first served, rather than failing:
// the space frees as other builds end, and a job should not fail because others run.

export interface SourceReservation {
  /** Keeps only `bytes` (what the source really takes) until release. */
  shrink(bytes: number): void;
  release(): void;
}

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class SourceBudget {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly totalBytes: number) {}

  /** Bytes reserved now, for metrics and tests. */
  reservedBytes(): number {
    return this.used;
  }

  /** Builds waiting for room. */
  waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * Resolves once `bytes` fit in the budget (at once when they do), or rejects with the
   * signal's reason when it aborts first. A request larger than the whole budget is capped to it
   * (the config refuses such a budget; this keeps a build from waiting forever).
   */
  reserve(bytes: number, signal?: AbortSignal): Promise<SourceReservation> {
    const wanted = Math.min(bytes, this.totalBytes);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes: wanted,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.used += wanted;
          resolve(this.reservation(wanted));
        },
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        this.grantWaiting();
        reject(signal!.reason);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.grantWaiting();
    });
  }

  private reservation(initial: number): SourceReservation {
    let held = initial;
    return {
      shrink: (bytes) => {
        const keep = Math.max(0, Math.min(held, bytes));
        this.used -= held - keep;
        held = keep;
        this.grantWaiting();
      },
      release: () => {
        this.used -= held;
        held = 0;
        this.grantWaiting();
      },
    };
  }

  /** Grants waiters in order while the first one fits: a large request is not starved by small ones. */
  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.totalBytes) {
      this.waiting.shift()!.grant();
    }
  }
}
