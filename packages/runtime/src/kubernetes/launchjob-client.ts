import * as k8s from '@kubernetes/client-node';
import { apiStatus } from './kube-client.js';
import {
  LAUNCHJOB_API_VERSION,
  LAUNCHJOB_GROUP,
  LAUNCHJOB_KIND,
  LAUNCHJOB_PLURAL,
  LAUNCHJOB_VERSION,
  type LaunchJob,
  type LaunchJobList,
  type LaunchJobSpec,
  type LaunchJobStatus,
} from './launchjob-types.js';

const coordinates = {
  group: LAUNCHJOB_GROUP,
  version: LAUNCHJOB_VERSION,
  plural: LAUNCHJOB_PLURAL,
};

/** LaunchJob calls through the generic custom-objects API, typed. */
export class LaunchJobClient {
  private readonly api: k8s.CustomObjectsApi;

  constructor(readonly kubeConfig: k8s.KubeConfig) {
    this.api = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  }

  /** The collection path, for watches. */
  static path(namespace: string): string {
    return `/apis/${LAUNCHJOB_GROUP}/${LAUNCHJOB_VERSION}/namespaces/${namespace}/${LAUNCHJOB_PLURAL}`;
  }

  async get(namespace: string, name: string): Promise<LaunchJob> {
    return (await this.api.getNamespacedCustomObject({
      ...coordinates,
      namespace,
      name,
    })) as LaunchJob;
  }

  async list(namespace: string, labelSelector?: string): Promise<LaunchJobList> {
    return (await this.api.listNamespacedCustomObject({
      ...coordinates,
      namespace,
      ...(labelSelector ? { labelSelector } : {}),
    })) as LaunchJobList;
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
    return (await this.api.createNamespacedCustomObject({
      ...coordinates,
      namespace,
      body,
    })) as LaunchJob;
  }

  /**
   * Deletes the job only if it is still the object that was read (same uid and
   * resourceVersion): a job recreated under the same name, or changed since, is left alone.
   * Resolves false when it was already gone or changed (404, 409).
   */
  async deleteIfUnchanged(job: LaunchJob): Promise<boolean> {
    try {
      await this.api.deleteNamespacedCustomObject({
        ...coordinates,
        namespace: job.metadata.namespace!,
        name: job.metadata.name!,
        propagationPolicy: 'Background',
        body: {
          preconditions: {
            uid: job.metadata.uid!,
            resourceVersion: job.metadata.resourceVersion!,
          },
        },
      });
      return true;
    } catch (error) {
      const code = apiStatus(error);
      if (code === 404 || code === 409) return false;
      throw error;
    }
  }

  /**
   * Replaces the status subresource. The body carries `metadata.resourceVersion`, so the API
   * server refuses (409 Conflict) a write based on a stale copy: that is how two agents never
   * both claim one job.
   */
  async replaceStatus(job: LaunchJob, status: LaunchJobStatus): Promise<LaunchJob> {
    const body: LaunchJob = { ...job, status };
    return (await this.api.replaceNamespacedCustomObjectStatus({
      ...coordinates,
      namespace: job.metadata.namespace!,
      name: job.metadata.name!,
      body,
    })) as LaunchJob;
  }
}
