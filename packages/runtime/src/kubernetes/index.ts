export {
  loadKubeConfig,
  agentNamespace,
  apiStatus,
  deleteIgnoringMissing,
  KubernetesUnavailableError,
  IN_CLUSTER_NAMESPACE_FILE,
} from './kube-client.js';
export {
  Informer,
  objectKey,
  type InformerHandlers,
  type InformerOptions,
  type RelistReason,
} from './informer.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
