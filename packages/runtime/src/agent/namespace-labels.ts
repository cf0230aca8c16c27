// The labels of the namespaces the agent serves, for queues offered by a namespace selector. A
// GET per namespace (RBAC can grant `get` on named namespaces; a cluster-wide list or watch
// would need more), kept for a short while: a relabelled namespace counts within that time.
import type * as k8s from '@kubernetes/client-node';
import { kubeJsonRequest } from '../kubernetes/raw-request.js';

const KEEP_MS = 30_000;

export class NamespaceLabels {
  private readonly known = new Map<string, { labels: Record<string, string>; at: number }>();

  constructor(
    private readonly kubeConfig: k8s.KubeConfig,
    private readonly now: () => Date,
  ) {}

  async get(namespace: string): Promise<Record<string, string>> {
    const now = this.now().getTime();
    const kept = this.known.get(namespace);
    if (kept && now - kept.at < KEEP_MS) return kept.labels;
    const read = (await kubeJsonRequest(
      this.kubeConfig,
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}`,
    )) as k8s.V1Namespace;
    const labels = read.metadata?.labels ?? {};
    this.known.set(namespace, { labels, at: now });
    return labels;
  }
}
