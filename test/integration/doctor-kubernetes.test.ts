// `doctor` Kubernetes check against the test environment's API server (RBAC on): a ServiceAccount
// token with part of the agent's Role is told exactly what it lacks; with the whole Role it passes.
import * as k8s from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig } from '../../packages/config/src/index.js';
import { checkKubernetesAccess } from '../../packages/runtime/src/doctor/kubernetes-check.js';
import { runDoctor } from '../../packages/runtime/src/doctor/run-doctor.js';
import { grantRole, requireServices, serviceAccountKubeConfig, uniqueName } from './testenv.js';

let admin: k8s.KubeConfig;
const ns = uniqueName('doctor-k8s');
const target = uniqueName('doctor-target');
const sa = 'launch-agent';

beforeAll(async () => {
  const env = await requireServices('kubernetes');
  admin = new k8s.KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  for (const name of [ns, target]) await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
});

function grant(namespace: string, name: string, rules: k8s.V1PolicyRule[]): Promise<void> {
  return grantRole(admin, { namespace, name, rules }, [{ namespace: ns, name: sa }]);
}

function kubeConfigForServiceAccount(): Promise<k8s.KubeConfig> {
  return serviceAccountKubeConfig(admin, ns, sa, 600);
}

const JOBS: k8s.V1PolicyRule = {
  apiGroups: ['batch'],
  resources: ['jobs'],
  verbs: ['create', 'get', 'list', 'watch', 'delete'],
};
const PODS: k8s.V1PolicyRule = {
  apiGroups: [''],
  resources: ['pods'],
  verbs: ['get', 'list', 'watch'],
};
const LOGS: k8s.V1PolicyRule = { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] };
const LAUNCHJOBS: k8s.V1PolicyRule[] = [
  {
    apiGroups: ['launch-agent.dev'],
    resources: ['launchjobs'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  { apiGroups: ['launch-agent.dev'], resources: ['launchjobs/status'], verbs: ['update', 'patch'] },
];
const SECRETS: k8s.V1PolicyRule = {
  apiGroups: [''],
  resources: ['secrets'],
  verbs: ['create', 'delete'],
};

test('names the missing verbs per namespace, then passes once the Role is complete', async () => {
  await grant(ns, 'partial', [JOBS, PODS]);
  const kc = await kubeConfigForServiceAccount();
  const options = { kubeConfig: kc, targetNamespaces: [target], kaniko: true };

  const before = await checkKubernetesAccess(options);
  expect(before).toHaveLength(2);
  expect(before[0]).toMatchObject({
    ok: false,
    summary: `Kubernetes: system:serviceaccount:${ns}:${sa} may not get pods/log, get launchjobs.launch-agent.dev, list launchjobs.launch-agent.dev, watch launchjobs.launch-agent.dev, update launchjobs/status.launch-agent.dev, patch launchjobs/status.launch-agent.dev, create secrets, delete secrets in namespace ${ns}`,
    fix: expect.stringContaining('rbac.create: true'),
  });
  // The tenant namespace: the LaunchJob queue and the run Jobs.
  expect(before[1]).toMatchObject({
    ok: false,
    summary: expect.stringContaining(
      'update launchjobs.launch-agent.dev, patch launchjobs.launch-agent.dev',
    ),
    fix: expect.stringContaining(`${target} in additionalTargetNamespaces`),
  });

  await grant(ns, 'rest', [LOGS, SECRETS, ...LAUNCHJOBS]);
  await grant(target, 'jobs', [JOBS, PODS, LOGS, ...LAUNCHJOBS]);
  // The authorizer learns of new bindings through a watch: give it a few seconds.
  let after = await checkKubernetesAccess(options);
  for (let i = 0; i < 20 && !after.every((c) => c.ok); i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    after = await checkKubernetesAccess(options);
  }
  expect(after.map((c) => c.ok)).toEqual([true, true]);
  expect(after[0]!.summary).toContain(
    `may refuse LaunchJobs created in its own namespace ${ns} and run kaniko builds there`,
  );
  expect(after[1]!.summary).toContain(
    `may work the LaunchJob queue and run jobs in tenant namespace ${target}`,
  );
});

test('runDoctor uses the config namespace, and an unreachable API server fails with the fix', async () => {
  const checked = checkConfigText(
    `builder: {type: noop}\nkubernetes: {namespace: ${ns}}\n`,
    'doctor.yaml',
  );
  const settings = normalizeConfig(checked.config!);
  const kc = await kubeConfigForServiceAccount();
  const checks = await runDoctor(settings, { kubeConfig: kc });
  expect(checks.find((c) => c.id === 'kubernetes.access')).toMatchObject({ ok: true });

  const nowhere = new k8s.KubeConfig();
  nowhere.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'c', cluster: 'none', user: 'u' }],
    currentContext: 'c',
  });
  const down = await runDoctor(settings, { kubeConfig: nowhere });
  expect(down.find((c) => c.id === 'kubernetes.access')).toMatchObject({
    ok: false,
    fix: expect.stringContaining('KUBECONFIG'),
  });
});
