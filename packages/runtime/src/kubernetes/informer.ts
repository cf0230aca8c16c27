import type * as k8s from '@kubernetes/client-node';
import { API_BACKOFF, backoffDelay, pause, type BackoffOptions } from './backoff.js';
import { apiStatus } from './kube-client.js';
import { kubeJsonRequest, kubeWatch, withQuery } from './raw-request.js';

// Why not @kubernetes/client-node's makeInformer/ListWatch: on any error other than 410 it emits
// ERROR and stops for good (the caller must restart it, with no backoff), it diffs a re-list by
// name only (an object deleted and re-created under the same name shows up as an update, so a
// new uid is missed), and it has no notion of "connected" for a readiness probe. This is the
// small part of client-go's reflector + DeltaFIFO the agent needs: list, watch from the list's
// resourceVersion, resume after a close or a lost connection, re-list when the server says the
// resourceVersion is gone (410) or the watch failed, and emit what changed and what disappeared,
// deletions included; retry for ever with capped backoff. Lists are read a page at a time and
// every object goes through `transform` as it arrives, so the cache holds only what its users
// read (client-go's SetTransform) and a page's JSON is garbage as soon as the next one is asked.

export interface KubeObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    managedFields?: unknown;
  };
}

export interface InformerLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export interface InformerOptions<T extends KubeObject> {
  kubeConfig: k8s.KubeConfig;
  /** The collection's path, e.g. `/apis/batch/v1/namespaces/ns/jobs`. */
  path: string;
  /** `fieldSelector` / `labelSelector`, the same for the list and the watch. */
  selector?: { fieldSelector?: string; labelSelector?: string };
  /**
   * Lists the collection with the same selector. Default: GET `path`, LIST_PAGE_SIZE objects a
   * page (limit/continue), each transformed before the next page is read.
   */
  list?: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  /** What is watched, for logs: e.g. `LaunchJobs in ml`. */
  what: string;
  log?: InformerLog;
  backoff?: BackoffOptions;
  /**
   * Errors after which the informer stops (onFatal is called): for a one-off follow, e.g. a 403
   * that no retry fixes. By default nothing is fatal and the informer retries for ever.
   */
  isFatal?: (error: unknown) => boolean;
  onFatal?: (error: Error) => void;
  /** Asks the server to end each watch after this many seconds (randomised up to 2×). Default 300. */
  watchTimeoutSeconds?: number;
  /**
   * What the cache keeps of each object, applied before anything else sees it (handlers get the
   * transformed object). Default: the object without metadata.managedFields.
   */
  transform?: (object: T) => T;
}

export interface InformerHandlers<T> {
  add?: (object: T) => void;
  update?: (previous: T, object: T) => void;
  /** The last state the informer knew; after a re-list that is the state before the gap. */
  delete?: (object: T) => void;
}

export type RelistReason = 'initial' | 'expired' | 'gap';

/** Objects per list page, as client-go's reflector asks. */
export const LIST_PAGE_SIZE = 500;

interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : (name ?? '');
}

function withoutManagedFields<T extends KubeObject>(object: T): T {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata } as T;
}

/** The watch stream carried an ERROR event other than 410. */
class WatchFailed extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
    this.name = 'WatchFailed';
  }
}

class WatchExpired extends Error {
  constructor() {
    super('the watch resourceVersion is too old (410 Gone)');
    this.name = 'WatchExpired';
  }
}

/**
 * A cache of one collection kept by list + watch. Handlers see every change once, in order;
 * after a re-list they see the difference between what was cached and what the list says,
 * deletions included. Never gives up on the API server.
 */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: Array<InformerHandlers<T>> = [];
  private readonly abort = new AbortController();
  private watchController: AbortController | undefined;
  private resourceVersion: string | undefined;
  private started = false;
  private syncedOnce = false;
  private connectedNow = false;
  private lostAt: number | undefined;
  private failures = 0;
  private lastErrorText: string | undefined;
  private readonly relistCounts: Record<RelistReason, number> = { initial: 0, expired: 0, gap: 0 };
  private readonly transform: (object: T) => T;

  constructor(private readonly options: InformerOptions<T>) {
    this.transform = options.transform ?? withoutManagedFields;
  }

  on(handlers: InformerHandlers<T>): this {
    this.handlers.push(handlers);
    return this;
  }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
  }

  stop(): void {
    this.abort.abort();
    this.watchController?.abort();
  }

  /** The first list has been delivered. */
  hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** The last list or watch request reached the API server. */
  isConnected(): boolean {
    return this.connectedNow;
  }

  /** Why the informer is not connected, when it is not. */
  lastError(): string | undefined {
    return this.connectedNow ? undefined : this.lastErrorText;
  }

  relists(): Readonly<Record<RelistReason, number>> {
    return this.relistCounts;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  size(): number {
    return this.cache.size;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let reason: RelistReason = 'initial';
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) {
          await this.relist(reason);
          this.connected();
        }
        await this.watchOnce();
        // The server ended the watch at its timeout: resume from where it left off.
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof WatchExpired || apiStatus(error) === 410) {
          this.resourceVersion = undefined;
          reason = 'expired';
          this.options.log?.info('watch expired (410 Gone); listing again', {
            watching: this.options.what,
          });
          continue;
        }
        if (this.options.isFatal?.(error)) {
          this.stop();
          this.options.onFatal?.(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        // A broken connection or a failed request: the watch is resumed from the last
        // resourceVersion seen, which the server either continues from without a gap or
        // answers with 410 (then the collection is listed again). A watch that reported an
        // error of its own is not trusted to resume: list again.
        if (error instanceof WatchFailed) {
          this.resourceVersion = undefined;
          reason = 'gap';
        }
        this.disconnected(error);
        await pause(
          backoffDelay(this.failures - 1, this.options.backoff ?? API_BACKOFF),
          this.abort.signal,
        );
      }
    }
  }

  private connected(): void {
    this.failures = 0;
    if (this.connectedNow) return;
    this.connectedNow = true;
    if (this.lostAt !== undefined) {
      this.options.log?.info('connection to the API server restored', {
        watching: this.options.what,
        downSeconds: Math.round((Date.now() - this.lostAt) / 100) / 10,
      });
      this.lostAt = undefined;
    }
  }

  private disconnected(error: unknown): void {
    this.failures += 1;
    this.lastErrorText = describe(error);
    const delay = backoffDelay(this.failures - 1, this.options.backoff ?? API_BACKOFF);
    if (this.connectedNow || this.lostAt === undefined) {
      this.lostAt ??= Date.now();
      this.options.log?.warn('lost the connection to the API server; retrying', {
        watching: this.options.what,
        error: this.lastErrorText,
      });
    } else {
      this.options.log?.debug('API server still unreachable', {
        watching: this.options.what,
        attempt: this.failures,
        retryInMs: delay,
        error: this.lastErrorText,
      });
    }
    this.connectedNow = false;
  }

  /** Lists, replaces the cache and tells the handlers what differs from what was cached. */
  private async relist(reason: RelistReason): Promise<void> {
    const listed = this.options.list
      ? await this.listWith(this.options.list)
      : await this.listPages();
    if (this.stopped || !listed) return;
    this.relistCounts[reason] += 1;
    const { fresh } = listed;
    for (const [key, previous] of [...this.cache]) {
      const next = fresh.get(key);
      if (!next || next.metadata?.uid !== previous.metadata?.uid) {
        this.cache.delete(key);
        this.emit('delete', previous);
      }
    }
    for (const [key, object] of fresh) {
      const previous = this.cache.get(key);
      this.cache.set(key, object);
      if (!previous) this.emit('add', object);
      else if (previous.metadata?.resourceVersion !== object.metadata?.resourceVersion)
        this.emit('update', object, previous);
    }
    this.resourceVersion = listed.resourceVersion;
    this.syncedOnce = true;
  }

  private async listWith(
    list: NonNullable<InformerOptions<T>['list']>,
  ): Promise<{ fresh: Map<string, T>; resourceVersion: string }> {
    const listed = await list();
    const fresh = new Map<string, T>();
    for (const item of listed.items ?? []) {
      const object = this.transform(item);
      fresh.set(objectKey(object), object);
    }
    return { fresh, resourceVersion: listed.metadata?.resourceVersion ?? '' };
  }

  /**
   * The collection a page at a time. The pages are one consistent snapshot (the continue token
   * carries its resourceVersion); a token that expired (410) makes the caller list again.
   */
  private async listPages(): Promise<
    { fresh: Map<string, T>; resourceVersion: string } | undefined
  > {
    const fresh = new Map<string, T>();
    let token: string | undefined;
    let resourceVersion = '';
    do {
      const page = (await kubeJsonRequest(
        this.options.kubeConfig,
        'GET',
        withQuery(this.options.path, {
          ...this.options.selector,
          limit: LIST_PAGE_SIZE,
          continue: token,
        }),
        undefined,
        60_000,
      )) as ListPage<T>;
      if (this.stopped) return undefined;
      for (const item of page.items ?? []) {
        const object = this.transform(item);
        fresh.set(objectKey(object), object);
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?.continue || undefined;
    } while (token);
    return { fresh, resourceVersion };
  }

  private async watchOnce(): Promise<void> {
    const base = this.options.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.round(base * (1 + Math.random()));
    const controller = new AbortController();
    this.watchController = controller;
    if (this.stopped) return;
    let expired = false;
    let failed: WatchFailed | undefined;
    await kubeWatch(
      this.options.kubeConfig,
      withQuery(this.options.path, {
        ...this.options.selector,
        watch: true,
        allowWatchBookmarks: true,
        timeoutSeconds,
        resourceVersion: this.resourceVersion || undefined,
      }),
      {
        signal: controller.signal,
        // The server ends the watch at timeoutSeconds and sends bookmarks meanwhile; silence
        // well past that is a dead connection.
        idleTimeoutMs: (timeoutSeconds + 60) * 1000,
        onOpen: () => this.connected(),
        onEvent: (type, raw) => {
          if (expired || failed || this.stopped) return;
          const object = raw as T & { code?: number; message?: string };
          if (type === 'ERROR') {
            // A Status object; 410 means our resourceVersion is gone. The server ends the watch.
            if (object.code === 410) expired = true;
            else failed = new WatchFailed(object.message ?? 'watch error', object.code);
            controller.abort();
            return;
          }
          if (object.metadata?.resourceVersion)
            this.resourceVersion = object.metadata.resourceVersion;
          if (type === 'BOOKMARK') return;
          this.apply(type, this.transform(object));
        },
      },
    );
    if (expired) throw new WatchExpired();
    if (failed) throw failed;
  }

  private apply(type: string, object: T): void {
    const key = objectKey(object);
    const previous = this.cache.get(key);
    if (type === 'DELETED') {
      this.cache.delete(key);
      this.emit('delete', previous ?? object);
      return;
    }
    if (previous && previous.metadata?.uid !== object.metadata?.uid) {
      this.cache.delete(key);
      this.emit('delete', previous);
    }
    const known = this.cache.get(key);
    this.cache.set(key, object);
    if (!known) this.emit('add', object);
    else if (known.metadata?.resourceVersion !== object.metadata?.resourceVersion)
      this.emit('update', object, known);
  }

  private emit(kind: 'add' | 'delete', object: T): void;
  private emit(kind: 'update', object: T, previous: T): void;
  private emit(kind: 'add' | 'update' | 'delete', object: T, previous?: T): void {
    for (const handler of this.handlers) {
      try {
        if (kind === 'add') handler.add?.(object);
        else if (kind === 'update') handler.update?.(previous!, object);
        else handler.delete?.(object);
      } catch (error) {
        this.options.log?.warn('an informer handler threw', {
          watching: this.options.what,
          error: describe(error),
        });
      }
    }
  }
}

function describe(error: unknown): string {
  const status = apiStatus(error);
  const text = error instanceof Error ? error.message : String(error);
  return status ? `HTTP ${status}: ${text}` : text;
}
