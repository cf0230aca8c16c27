import type * as k8s from '@kubernetes/client-node';
import { DEFAULT_BUILD_TIMEOUT_SECONDS } from '@launch-agent/config';
import { deleteIgnoringMissing } from '../../kubernetes/kube-client.js';
import { kubeJsonRequest, withQuery } from '../../kubernetes/raw-request.js';
import type { BuildContextStore } from '../../storage/context-store.js';
import {
  COMPONENT_LABEL,
  CONTEXT_KEY_ANNOTATION,
  KANIKO_COMPONENT,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  pushSecretName,
} from './kaniko-job-spec.js';

export interface KanikoLeftoversOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  /** The build-context store, to delete the context a leftover Job names. */
  store?: BuildContextStore;
  /**
   * Only Jobs older than this are removed: a younger one may belong to a build another agent
   * replica is running. Default: the default build timeout plus ten minutes.
   */
  olderThanSeconds?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface KanikoLeftovers {
  jobs: string[];
  /** Per-build push credential Secrets. */
  secrets: string[];
  contexts: string[];
  /** What could not be removed, with why. */
  failures: string[];
}

/**
 * Removes what earlier kaniko builds left behind when the agent stopped mid-build: Jobs labelled
 * as ours (`app.kubernetes.io/managed-by: launch-agent`, component kaniko-build) older than the
 * threshold, their per-build push credential Secrets and the build contexts their annotation
 * names. The agent calls it at start. It needs only the chart's Role: list and delete Jobs,
 * delete Secrets.
 */
export async function cleanUpKanikoLeftovers(
  options: KanikoLeftoversOptions,
): Promise<KanikoLeftovers> {
  const { kubeConfig, namespace, store } = options;
  // Plain JSON requests (raw-request.ts): the agent runs this at start, and the generated API
  // classes would be loaded for it alone.
  const remove = (path: string) =>
    deleteIgnoringMissing(() =>
      kubeJsonRequest(kubeConfig, 'DELETE', withQuery(path, { propagationPolicy: 'Background' })),
    );
  const threshold = (options.olderThanSeconds ?? DEFAULT_BUILD_TIMEOUT_SECONDS + 600) * 1000;
  const now = (options.now ?? Date.now)();
  const result: KanikoLeftovers = { jobs: [], secrets: [], contexts: [], failures: [] };

  const jobs = (await kubeJsonRequest(
    kubeConfig,
    'GET',
    withQuery(`/apis/batch/v1/namespaces/${namespace}/jobs`, {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${COMPONENT_LABEL}=${KANIKO_COMPONENT}`,
    }),
    undefined,
    60_000,
  )) as k8s.V1JobList;
  for (const job of jobs.items) {
    const name = job.metadata?.name;
    const created = job.metadata?.creationTimestamp;
    if (!name || !created || now - new Date(created).valueOf() < threshold) continue;
    const attempt = async (what: string, run: () => Promise<unknown>, done: string[]) => {
      try {
        await run();
        done.push(what);
      } catch (error) {
        result.failures.push(`${what}: ${(error as Error).message}`);
      }
    };
    await attempt(
      name,
      () => remove(`/apis/batch/v1/namespaces/${namespace}/jobs/${encodeURIComponent(name)}`),
      result.jobs,
    );
    // Owned by the Job, so a garbage collector removes it too; deleted here for clusters without one.
    const secret = pushSecretName(name);
    await attempt(
      secret,
      () => remove(`/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(secret)}`),
      result.secrets,
    );
    const key = job.metadata?.annotations?.[CONTEXT_KEY_ANNOTATION];
    if (store && key) await attempt(store.uri(key), () => store.delete(key), result.contexts);
  }
  return result;
}

/** What logKanikoLeftovers logs through (the agent's logger fits). */
interface LeftoversLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Removes the build Jobs, push Secrets and contexts an agent stopped mid-build left behind, and
 * logs what it removed or could not; never throws (the agent runs it in the background).
 */
export async function logKanikoLeftovers(
  log: LeftoversLog,
  options: KanikoLeftoversOptions,
): Promise<void> {
  try {
    const removed = await cleanUpKanikoLeftovers(options);
    if (removed.jobs.length + removed.secrets.length + removed.contexts.length > 0) {
      log.info('removed leftovers of earlier kaniko builds', { ...removed });
    }
    for (const failure of removed.failures)
      log.warn('could not remove a kaniko leftover', { failure });
  } catch (error) {
    log.warn('could not look for kaniko leftovers', { error: (error as Error).message });
  }
}
