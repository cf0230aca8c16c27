import * as k8s from '@kubernetes/client-node';
import {
  agentNamespace,
  apiStatus,
  deleteIgnoringMissing,
  isConflict,
  isNotFound,
  KubernetesUnavailableError,
  loadKubeConfig,
} from '../src/kubernetes/kube-client.js';

function kubeConfig(namespace?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u', ...(namespace ? { namespace } : {}) }],
    currentContext: 'x',
  });
  return kc;
}

describe('the namespace kaniko Jobs go to', () => {
  test('kubernetes.namespace first, then the in-cluster file, then the context, then default', () => {
    expect(agentNamespace(kubeConfig('ctx'), 'configured', () => 'pod-ns')).toBe('configured');
    expect(agentNamespace(kubeConfig('ctx'), undefined, () => 'pod-ns')).toBe('pod-ns');
    expect(agentNamespace(kubeConfig('ctx'), undefined, () => undefined)).toBe('ctx');
    expect(agentNamespace(kubeConfig(), undefined, () => undefined)).toBe('default');
  });
});

test('without KUBECONFIG or a cluster, loading says what to set', () => {
  expect(() => loadKubeConfig({})).toThrow(KubernetesUnavailableError);
  expect(() => loadKubeConfig({})).toThrow(/KUBECONFIG/);
});

test('a delete that finds nothing is success; other errors are not', async () => {
  const missing = Object.assign(new Error('not found'), { code: 404 });
  const forbidden = Object.assign(new Error('forbidden'), { code: 403 });
  expect(apiStatus(missing)).toBe(404);
  await expect(deleteIgnoringMissing(() => Promise.reject(missing))).resolves.toBeUndefined();
  await expect(deleteIgnoringMissing(() => Promise.reject(forbidden))).rejects.toThrow('forbidden');
});

test("isNotFound and isConflict read the API server's answer, from either error shape", () => {
  // KubeRequestError and client-node's ApiException carry `code`; older client errors `statusCode`.
  const notFound = [{ code: 404 }, { statusCode: 404 }].map((e) => Object.assign(new Error(), e));
  const conflict = [{ code: 409 }, { statusCode: 409 }].map((e) => Object.assign(new Error(), e));
  for (const error of notFound) {
    expect(isNotFound(error)).toBe(true);
    expect(isConflict(error)).toBe(false);
  }
  for (const error of conflict) {
    expect(isConflict(error)).toBe(true);
    expect(isNotFound(error)).toBe(false);
  }
  for (const error of [new Error('connect ECONNREFUSED'), { code: 'ECONNRESET' }, undefined]) {
    expect(isNotFound(error)).toBe(false);
    expect(isConflict(error)).toBe(false);
  }
});
