import { API_BACKOFF, backoffDelay, type BackoffOptions } from '../kubernetes/backoff.js';

/**
 * A keyed work queue in the shape of client-go's workqueue: it holds keys, not objects; a key
 * added several times before it is processed is processed once; a key is never processed by two
 * workers at once (added while in process, it is processed again right after); retries are
 * delayed per key with capped exponential backoff until `forget`.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private waiting: Array<() => void> = [];
  private shut = false;

  constructor(private readonly backoff: BackoffOptions = API_BACKOFF) {}

  add(key: string): void {
    if (this.shut) return;
    const later = this.delayed.get(key);
    if (later) {
      clearTimeout(later.timer);
      this.delayed.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.wake();
  }

  /** Adds the key after `ms`; an earlier pending time for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shut) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** Adds the key after its next backoff step; returns the delay. */
  addRateLimited(key: string): number {
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    const delay = backoffDelay(attempt, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the backoff again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down. Call done(key) when finished. */
  async get(): Promise<string | undefined> {
    while (this.queue.length === 0) {
      if (this.shut) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Keys queued now (not those waiting for a delay): the controller's backlog. */
  length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shut = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.wake(true);
  }

  private wake(all = false): void {
    const waiters = all ? this.waiting : this.waiting.slice(0, 1);
    this.waiting = all ? [] : this.waiting.slice(1);
    for (const resolve of waiters) resolve();
  }
}
