/**
 * Capped exponential backoff with equal jitter: attempt n waits half of c = min(cap, base·2ⁿ)
 * plus a random share of the other half, a time in [c/2, c]. The fixed half keeps a retry from
 * coming straight back; the random half keeps many agents (or many keys) from retrying in lock
 * step after one API-server restart. (client-go differs: wait.Backoff adds its jitter above the
 * step, and the work queue's per-item rate limiter has none.)
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
