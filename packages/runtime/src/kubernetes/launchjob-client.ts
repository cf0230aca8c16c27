import type * as k8s from '@kubernetes/client-node';
import { isConflict, isNotFound } from './kube-client.js';
import { kubeJsonRequest, withQuery } from './raw-request.js';
import {
  LAUNCHJOB_API_VERSION,
  LAUNCHJOB_GROUP,
  LAUNCHJOB_KIND,
  LAUNCHJOB_PLURAL,
  LAUNCHJOB_VERSION,
  type LaunchJob,
  type LaunchJobCancel,
  type LaunchJobList,
  type LaunchJobSpec,
  type LaunchJobStatus,
} from './launchjob-types.js';

/** LaunchJob calls as plain JSON requests (raw-request.ts), typed. */
export class LaunchJobClient {
  constructor(readonly kubeConfig: k8s.KubeConfig) {}

  /** The collection path, for lists and watches. */
  static path(namespace: string): string {
    return `/apis/${LAUNCHJOB_GROUP}/${LAUNCHJOB_VERSION}/namespaces/${namespace}/${LAUNCHJOB_PLURAL}`;
  }

  private static itemPath(namespace: string, name: string): string {
    return `${LaunchJobClient.path(namespace)}/${encodeURIComponent(name)}`;
  }

  async get(namespace: string, name: string): Promise<LaunchJob> {
    return (await kubeJsonRequest(
      this.kubeConfig,
      'GET',
      LaunchJobClient.itemPath(namespace, name),
    )) as LaunchJob;
  }

  async list(namespace: string, labelSelector?: string): Promise<LaunchJobList> {
    return (await kubeJsonRequest(
      this.kubeConfig,
      'GET',
      withQuery(LaunchJobClient.path(namespace), { labelSelector }),
      undefined,
      60_000,
    )) as LaunchJobList;
  }

  /** LaunchJobs in every namespace (needs a cluster-wide list permission). */
  async listAll(labelSelector?: string): Promise<LaunchJobList> {
    return (await kubeJsonRequest(
      this.kubeConfig,
      'GET',
      withQuery(LaunchJobClient.allPath(), { labelSelector }),
      undefined,
      60_000,
    )) as LaunchJobList;
  }

  /** The cluster-wide collection path, for lists and watches across namespaces. */
  static allPath(): string {
    return `/apis/${LAUNCHJOB_GROUP}/${LAUNCHJOB_VERSION}/${LAUNCHJOB_PLURAL}`;
  }

  /**
   * Asks the agent to cancel the job: a merge patch of spec.cancel, the one part of the spec
   * that may change (needs `patch` on launchjobs). Resolves with the job as patched.
   */
  async requestCancel(
    namespace: string,
    name: string,
    cancel: LaunchJobCancel,
  ): Promise<LaunchJob> {
    return (await kubeJsonRequest(
      this.kubeConfig,
      'PATCH',
      LaunchJobClient.itemPath(namespace, name),
      { spec: { cancel } },
    )) as LaunchJob;
  }

  async create(
    namespace: string,
    metadata: k8s.V1ObjectMeta,
    spec: LaunchJobSpec,
  ): Promise<LaunchJob> {
    const body: LaunchJob = {
      apiVersion: LAUNCHJOB_API_VERSION,
      kind: LAUNCHJOB_KIND,
      metadata: { ...metadata, namespace },
      spec,
    };
    return (await kubeJsonRequest(
      this.kubeConfig,
      'POST',
      LaunchJobClient.path(namespace),
      body,
    )) as LaunchJob;
  }

  /**
   * Deletes the job only if it is still the object that was read (same uid and
   * resourceVersion): a job recreated under the same name, or changed since, is left alone.
   * Resolves false when it was already gone or changed (404, 409).
   */
  async deleteIfUnchanged(job: Pick<LaunchJob, 'metadata'>): Promise<boolean> {
    try {
      await kubeJsonRequest(
        this.kubeConfig,
        'DELETE',
        LaunchJobClient.itemPath(job.metadata.namespace!, job.metadata.name!),
        {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          preconditions: {
            uid: job.metadata.uid!,
            resourceVersion: job.metadata.resourceVersion!,
          },
        },
      );
      return true;
    } catch (error) {
      if (isNotFound(error) || isConflict(error)) return false;
      throw error;
    }
  }

  /**
   * Replaces the status subresource. The body carries `metadata.resourceVersion`, so the API
   * server refuses (409 Conflict) a write based on a stale copy: that is how two agents never
   * both claim one job. The server takes only the status from the body, so a copy with a
   * trimmed spec (the agent's cache) writes the same as the whole object.
   */
  async replaceStatus(
    job: Pick<LaunchJob, 'apiVersion' | 'kind' | 'metadata'>,
    status: LaunchJobStatus,
  ): Promise<LaunchJob> {
    const { namespace, name, uid, resourceVersion } = job.metadata;
    return (await kubeJsonRequest(
      this.kubeConfig,
      'PUT',
      `${LaunchJobClient.itemPath(namespace!, name!)}/status`,
      {
        apiVersion: LAUNCHJOB_API_VERSION,
        kind: LAUNCHJOB_KIND,
        metadata: { namespace, name, uid, resourceVersion },
        status,
      },
    )) as LaunchJob;
  }
}
