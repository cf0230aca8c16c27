import * as k8s from '@kubernetes/client-node';
import { apiStatus } from './kube-client.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObserveOptions<T> {
  kubeConfig: k8s.KubeConfig;
  /** The collection's path, e.g. `/apis/batch/v1/namespaces/ns/jobs`. */
  path: string;
  /** `fieldSelector` / `labelSelector`, the same for the list and the watch. */
  selector: { fieldSelector?: string; labelSelector?: string };
  /** Lists the collection with the same selector (typed client call). */
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  onEvent: (type: WatchEventType, object: T) => void;
  /** A watch or list failed for good (not a normal reconnect). */
  onError: (error: Error) => void;
}

/**
 * List-then-watch, as an informer does, without polling: the current objects are delivered as
 * ADDED, then the watch continues from the list's resourceVersion. When the server ends the
 * watch (its timeout) it is resumed from the last resourceVersion seen; when that version is
 * too old (410 Gone) the collection is listed again. Returns a function that stops it.
 */
export function observe<T extends { metadata?: { resourceVersion?: string } }>(
  options: ObserveOptions<T>,
): () => void {
  const watch = new k8s.Watch(options.kubeConfig);
  let stopped = false;
  let controller: AbortController | undefined;
  let resourceVersion: string | undefined;
  let failures = 0;

  const relist = async () => {
    const listed = await options.list();
    resourceVersion = listed.metadata?.resourceVersion;
    for (const item of listed.items) if (!stopped) options.onEvent('ADDED', item);
  };

  const start = async (): Promise<void> => {
    if (stopped) return;
    try {
      if (resourceVersion === undefined) await relist();
      if (stopped) return;
      controller = await watch.watch(
        options.path,
        {
          ...options.selector,
          allowWatchBookmarks: true,
          ...(resourceVersion ? { resourceVersion } : {}),
        },
        (type, object: T & { code?: number }) => {
          if (stopped) return;
          failures = 0;
          if (type === 'BOOKMARK') {
            resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
            return;
          }
          if (type === 'ERROR') {
            // A Status object: 410 means our resourceVersion expired.
            resourceVersion = undefined;
            return;
          }
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          options.onEvent(type as WatchEventType, object);
        },
        (error: unknown) => {
          if (stopped) return;
          if (error && apiStatus(error) === 410) resourceVersion = undefined;
          if (error) failures += 1;
          if (failures > 5) {
            options.onError(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          // The server closes watches after its timeout; resume (after a pause when it failed).
          setTimeout(() => void start(), error ? 500 * failures : 0).unref?.();
        },
      );
      // Stopped while the watch request was being made: end it now.
      if (stopped) controller.abort();
    } catch (error) {
      if (stopped) return;
      failures += 1;
      if (apiStatus(error) === 410) resourceVersion = undefined;
      if (failures > 5 || apiStatus(error) === 403 || apiStatus(error) === 401) {
        options.onError(error as Error);
        return;
      }
      setTimeout(() => void start(), 500 * failures).unref?.();
    }
  };
  void start();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
