export {
  loadKubeConfig,
  agentNamespace,
  apiStatus,
  deleteIgnoringMissing,
  KubernetesUnavailableError,
  IN_CLUSTER_NAMESPACE_FILE,
} from './kube-client.js';
export { observe, type ObserveOptions, type WatchEventType } from './watch-objects.js';
