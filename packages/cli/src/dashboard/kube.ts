// Every read and write the dashboard makes, with the kubeconfig it was started with: the caller's
// own credentials (or, in a cluster, its ServiceAccount's), so it shows exactly what their RBAC
// lets them read and nothing else.
import type * as k8s from '@kubernetes/client-node';
import type { LaunchJob, LaunchJobList } from '@launch-agent/runtime';
import type { Runtime } from '../runtime.js';

/** Which namespaces the dashboard reads: some, or every one the credentials may list. */
export type Scope = { allNamespaces: true } | { allNamespaces: false; namespaces: string[] };

const API = '/apis/launch-agent.dev/v1alpha1';

/** The collections to list and watch: one per namespace, or the cluster-wide one. */
export function launchJobsPaths(scope: Scope): string[] {
  return scope.allNamespaces
    ? [`${API}/launchjobs`]
    : scope.namespaces.map(
        (namespace) => `${API}/namespaces/${encodeURIComponent(namespace)}/launchjobs`,
      );
}

export function scopeLabel(scope: Scope): string {
  if (scope.allNamespaces) return 'all namespaces';
  return `${scope.namespaces.length === 1 ? 'namespace' : 'namespaces'} ${scope.namespaces.join(', ')}`;
}

/** A read the API server refused or failed, in words a person can act on. */
export function explainKubeError(runtime: Runtime, error: unknown, what: string): string {
  if (error instanceof runtime.KubeRequestError) {
    if (error.code === 403) {
      return `Your credentials may not ${what} (HTTP 403 Forbidden): ${error.message}`;
    }
    if (error.code === 404) return `Not found: ${what} (HTTP 404): ${error.message}`;
    return `Could not ${what}: ${error.message}`;
  }
  return `Could not ${what}: ${error instanceof Error ? error.message : String(error)}`;
}

/** The fields of an events.k8s.io/v1 Event the timeline shows. */
interface KubeEvent {
  metadata?: { creationTimestamp?: string };
  regarding?: { uid?: string };
  eventTime?: string;
  series?: { lastObservedTime?: string };
  deprecatedLastTimestamp?: string;
  type?: string;
  reason?: string;
  note?: string;
  reportingController?: string;
}

export interface EventSummary {
  time: string;
  type: string;
  reason: string;
  note: string;
  reporter: string;
}

export class DashboardKube {
  constructor(
    private readonly runtime: Runtime,
    readonly kubeConfig: k8s.KubeConfig,
    readonly scope: Scope,
  ) {}

  /** One collection's LaunchJobs and the resourceVersion to watch it from. */
  async listCollection(path: string): Promise<{ jobs: LaunchJob[]; resourceVersion: string }> {
    const list = (await this.runtime.kubeJsonRequest(
      this.kubeConfig,
      'GET',
      path,
    )) as LaunchJobList;
    return { jobs: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /** Every LaunchJob of the scope; fails if any of its namespaces cannot be listed. */
  async listJobs(): Promise<LaunchJob[]> {
    const lists = await Promise.all(
      launchJobsPaths(this.scope).map((path) => this.listCollection(path)),
    );
    return lists.flatMap((list) => list.jobs);
  }

  /** Whether `namespace` is one this dashboard serves: no reads outside its scope. */
  inScope(namespace: string): boolean {
    return this.scope.allNamespaces || this.scope.namespaces.includes(namespace);
  }

  async getJob(namespace: string, name: string): Promise<LaunchJob> {
    return (await this.runtime.kubeJsonRequest(
      this.kubeConfig,
      'GET',
      `${API}/namespaces/${encodeURIComponent(namespace)}/launchjobs/${encodeURIComponent(name)}`,
    )) as LaunchJob;
  }

  /** events.k8s.io Events regarding the LaunchJob, oldest first. */
  async jobEvents(job: LaunchJob): Promise<EventSummary[]> {
    const namespace = job.metadata.namespace!;
    const list = (await this.runtime.kubeJsonRequest(
      this.kubeConfig,
      'GET',
      this.runtime.withQuery(
        `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        { fieldSelector: `regarding.name=${job.metadata.name}` },
      ),
    )) as { items: KubeEvent[] };
    return list.items
      .filter((event) => !event.regarding?.uid || event.regarding.uid === job.metadata.uid)
      .map((event) => ({
        time: String(
          event.eventTime ??
            event.series?.lastObservedTime ??
            event.deprecatedLastTimestamp ??
            event.metadata?.creationTimestamp ??
            '',
        ),
        type: String(event.type ?? ''),
        reason: String(event.reason ?? ''),
        note: String(event.note ?? ''),
        reporter: String(event.reportingController ?? ''),
      }))
      .sort((a, b) => a.time.localeCompare(b.time));
  }

  /** What a SelfSubjectAccessReview says: may these credentials patch LaunchJobs in `namespace`? */
  mayPatch(namespace: string): Promise<boolean> {
    return this.runtime.selfAccessAllowed(this.kubeConfig, {
      namespace,
      verb: 'patch',
      group: 'launch-agent.dev',
      resource: 'launchjobs',
    });
  }

  /** The declarative cancel: the agent sees spec.cancel and stops the job. */
  async requestCancel(namespace: string, name: string, reason: string): Promise<void> {
    await this.runtime.kubeJsonRequest(
      this.kubeConfig,
      'PATCH',
      `${API}/namespaces/${encodeURIComponent(namespace)}/launchjobs/${encodeURIComponent(name)}`,
      { spec: { cancel: { requested: true, reason } } },
    );
  }

  /** Watches one collection from `resourceVersion` until the signal aborts. */
  watchCollection(
    path: string,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: (type: string, job: LaunchJob) => void,
  ): Promise<void> {
    return this.runtime.kubeWatch(
      this.kubeConfig,
      this.runtime.withQuery(path, {
        watch: true,
        resourceVersion,
        allowWatchBookmarks: true,
      }),
      {
        signal,
        idleTimeoutMs: 120_000,
        onEvent: (type, object) => {
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            onEvent(type, object as LaunchJob);
          }
        },
      },
    );
  }

  /** The run Job's newest pod (label batch.kubernetes.io/job-name), or why there is none. */
  async runPod(job: LaunchJob): Promise<{ namespace: string; pod: string } | string> {
    const runJob = job.status?.runJobName;
    const namespace = job.status?.runJobNamespace ?? job.metadata.namespace!;
    if (!runJob) return `No run Job yet (phase ${job.status?.phase ?? 'Pending'}): no log to show.`;
    const pods = (await this.runtime.kubeJsonRequest(
      this.kubeConfig,
      'GET',
      this.runtime.withQuery(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, {
        labelSelector: `batch.kubernetes.io/job-name=${runJob}`,
      }),
    )) as {
      items: Array<{
        metadata?: { name?: string; creationTimestamp?: string };
        spec?: { nodeName?: string };
        status?: { phase?: string };
      }>;
    };
    const newest = pods.items.sort((a, b) =>
      String(b.metadata?.creationTimestamp ?? '').localeCompare(
        String(a.metadata?.creationTimestamp ?? ''),
      ),
    )[0];
    if (!newest?.metadata?.name) return `The run Job ${namespace}/${runJob} has no pod yet.`;
    if (!newest.spec?.nodeName) {
      // The API server answers such a pod's log with nothing at all (204): say why instead.
      return `The pod ${namespace}/${newest.metadata.name} is not on a node yet (phase ${newest.status?.phase ?? 'Pending'}): it has no log until it is scheduled and started.`;
    }
    return { namespace, pod: newest.metadata.name };
  }

  /** Follows the pod's log until it ends or the signal aborts. */
  followLog(
    where: { namespace: string; pod: string },
    signal: AbortSignal,
    onText: (text: string) => void,
  ): Promise<void> {
    return this.runtime.kubeTextStream(
      this.kubeConfig,
      this.runtime.withQuery(
        `/api/v1/namespaces/${encodeURIComponent(where.namespace)}/pods/${encodeURIComponent(where.pod)}/log`,
        { follow: true, tailLines: 2000 },
      ),
      { signal, onText },
    );
  }
}
