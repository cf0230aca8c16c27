/**
 * Capped exponential backoff with full jitter, as client-go's wait.Backoff and the work queue's
 * per-item rate limiter use it: attempt n waits a random time in [base·2ⁿ / 2, base·2ⁿ], never
 * more than the cap. Jitter keeps many agents (or many keys) from retrying in lock step after
 * one API-server restart.
 */
export interface BackoffOptions {
  initialMs: number;
  capMs: number;
  /** Random source in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

export const API_BACKOFF: BackoffOptions = { initialMs: 500, capMs: 30_000 };

export function backoffDelay(attempt: number, options: BackoffOptions = API_BACKOFF): number {
  const exponential = options.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30);
  const ceiling = Math.min(options.capMs, exponential);
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Resolves after `ms`, or at once when the signal aborts (then it resolves, it never rejects). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref?.();
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
