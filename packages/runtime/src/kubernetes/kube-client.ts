import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';

export const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The API server is not configured: neither in a cluster nor given a KUBECONFIG. */
export class KubernetesUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubernetesUnavailableError';
  }
}

/**
 * The API client configuration, as kubectl finds it: KUBECONFIG (a `:`-separated list merged in
 * order, the first current-context winning), else the in-cluster ServiceAccount.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kubeConfig = new k8s.KubeConfig();
  if (env.KUBECONFIG) {
    const [first, ...rest] = env.KUBECONFIG.split(':').filter((file) => file !== '');
    kubeConfig.loadFromFile(first!);
    for (const file of rest) {
      const more = new k8s.KubeConfig();
      more.loadFromFile(file);
      kubeConfig.mergeConfig(more, true);
    }
    return kubeConfig;
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  throw new KubernetesUnavailableError(
    'the kaniko builder needs a Kubernetes API server: run the agent in a cluster, or set KUBECONFIG',
  );
}

/**
 * The agent's namespace: kubernetes.namespace from the config, else the in-cluster
 * ServiceAccount's namespace, else the kubeconfig context's, else `default`. Never a fixed name.
 */
export function agentNamespace(
  kubeConfig: k8s.KubeConfig,
  configured?: string,
  readNamespaceFile: () => string | undefined = () => {
    try {
      return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
): string {
  if (configured) return configured;
  const fromFile = readNamespaceFile();
  if (fromFile) return fromFile;
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  return context?.namespace || 'default';
}

/** The HTTP status of a client error, when the API server answered. */
export function apiStatus(error: unknown): number | undefined {
  // Anything may be thrown; a catch block asking for the status must not fail on a non-object.
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The API server answered 404 Not Found: the object is not there (any more). */
export function isNotFound(error: unknown): boolean {
  return apiStatus(error) === 404;
}

/**
 * The API server answered 409 Conflict: a create found the name taken, or a write carried a
 * resourceVersion (or a delete precondition) that is no longer current.
 */
export function isConflict(error: unknown): boolean {
  return apiStatus(error) === 409;
}

/** Runs a delete; a 404 (already gone) is success. */
export async function deleteIgnoringMissing(remove: () => Promise<unknown>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
