// Installs the chart, one ci/ scenario or example at a time, on the real kube-apiserver of
// scripts/testenv and checks what a cluster would:
//   - every rendered object passes the API server's own validation (server-side dry run with
//     fieldValidation=Strict: unknown or duplicate fields are errors);
//   - `helm install` succeeds in a namespace that enforces the "restricted" Pod Security
//     Standard, and the agent's pod (the Deployment's template) is admitted there;
//   - the installed ConfigMap carries the launch-config that `launch-agent render` computes;
//   - SubjectAccessReviews: the agent's ServiceAccount can do exactly what the runtime needs in
//     its namespace and each tenant namespace (and get those), nothing else; the build one nothing.
// The testenv has no scheduler or kubelet, so pods are never run: this is about admission,
// validation and authorization.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { renderChartValues } from '../../packages/config/src/render/index.js';
import { kubeRequest, repoRoot, requireServices, uniqueName } from './testenv.js';

const run = promisify(execFile);
// Jest applies testTimeout globally, not per project: the SubjectAccessReview tables take seconds.
const TIMEOUT = 120_000;
const chartDir = join(repoRoot, 'charts', 'launch-agent');
const { parse, parseAllDocuments } = createRequire(
  join(repoRoot, 'packages', 'config', 'package.json'),
)('yaml') as typeof import('yaml');

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
};

let helmEnv: NodeJS.ProcessEnv;
let kubeConfig: KubeConfig;
let core: CoreV1Api;
let authz: AuthorizationV1Api;
const namespacesToDelete: string[] = [];
const releases: Array<{ name: string; namespace: string }> = [];

async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('helm', args, { env: helmEnv, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: error });
  }
}

async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
  namespacesToDelete.push(name);
}

const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
};

// The collection path of each kind the chart renders.
const COLLECTIONS: Record<string, string> = {
  'v1/ServiceAccount': '/api/v1/namespaces/NS/serviceaccounts',
  'v1/ConfigMap': '/api/v1/namespaces/NS/configmaps',
  'v1/Secret': '/api/v1/namespaces/NS/secrets',
  'v1/PersistentVolumeClaim': '/api/v1/namespaces/NS/persistentvolumeclaims',
  'rbac.authorization.k8s.io/v1/Role': '/apis/rbac.authorization.k8s.io/v1/namespaces/NS/roles',
  'rbac.authorization.k8s.io/v1/RoleBinding':
    '/apis/rbac.authorization.k8s.io/v1/namespaces/NS/rolebindings',
  'apps/v1/Deployment': '/apis/apps/v1/namespaces/NS/deployments',
  'policy/v1/PodDisruptionBudget': '/apis/policy/v1/namespaces/NS/poddisruptionbudgets',
  'networking.k8s.io/v1/NetworkPolicy': '/apis/networking.k8s.io/v1/namespaces/NS/networkpolicies',
  'rbac.authorization.k8s.io/v1/ClusterRole': '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding':
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy':
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding':
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
};

/**
 * A server-side dry run of one object, sent as rendered (a typed client would drop unknown
 * fields before the server sees them), with fieldValidation=Strict.
 */
async function dryRunCreate(doc: Manifest): Promise<void> {
  const collection = COLLECTIONS[`${doc.apiVersion}/${doc.kind}`];
  if (!collection) {
    throw new Error(
      `the chart rendered a ${doc.apiVersion} ${doc.kind}, which this test does not know`,
    );
  }
  const { status, body } = await kubeRequest(
    kubeConfig,
    'POST',
    `${collection.replace('NS', doc.metadata.namespace ?? '')}?dryRun=All&fieldValidation=Strict`,
    JSON.stringify(doc),
    'application/json',
  );
  if (status !== 201 && status !== 200) {
    throw new Error(`${doc.kind} ${doc.metadata.name}: HTTP ${status}: ${body}`);
  }
}

/** The agent's pod as the Deployment controller would create it, admitted in a dry run. */
async function dryRunPod(
  deployment: V1Deployment,
  namespace: string,
  mutate?: (pod: V1Pod) => void,
) {
  const template = structuredClone(deployment.spec!.template);
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, name: uniqueName('agent-pod'), namespace },
    spec: template.spec,
  };
  mutate?.(pod);
  return core.createNamespacedPod({
    namespace,
    body: pod,
    dryRun: 'All',
    fieldValidation: 'Strict',
  });
}

async function can(
  user: { namespace: string; name: string },
  attributes: {
    namespace?: string;
    verb: string;
    group: string;
    resource: string;
    subresource?: string;
    name?: string;
  },
): Promise<boolean> {
  const review = await authz.createSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${user.namespace}:${user.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${user.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: attributes,
      },
    },
  });
  return review.status?.allowed === true;
}

type Rule = [group: string, resource: string, verbs: string[]];

// What the runtime does in its own namespace: these and nothing else (no LaunchJob runs here).
const RELEASE_NAMESPACE_RULES: Rule[] = [
  ['batch', 'jobs', ['create', 'get', 'list', 'watch', 'delete']],
  ['', 'pods', ['get', 'list', 'watch']],
  ['', 'pods/log', ['get']],
  ['', 'secrets', ['create', 'delete']],
  ['launch-agent.dev', 'launchjobs', ['get', 'list', 'watch']],
  ['launch-agent.dev', 'launchjobs/status', ['update', 'patch']],
];
// What serving a tenant namespace needs: its LaunchJobs, and the run Jobs made for them.
const TARGET_NAMESPACE_RULES: Rule[] = [
  ['launch-agent.dev', 'launchjobs', ['get', 'list', 'watch', 'update', 'patch', 'delete']],
  ['launch-agent.dev', 'launchjobs/status', ['update', 'patch']],
  ['batch', 'jobs', ['create', 'get', 'list', 'watch', 'delete']],
  ['', 'pods', ['get', 'list', 'watch']],
  ['', 'pods/log', ['get']],
];
const ALL_VERBS = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
];
// Resources to probe beyond the granted ones: anything here must be denied.
const PROBED: Array<[group: string, resource: string]> = [
  ['batch', 'jobs'],
  ['', 'pods'],
  ['', 'pods/log'],
  ['', 'pods/exec'],
  ['', 'configmaps'],
  ['', 'secrets'],
  ['', 'serviceaccounts'],
  ['', 'serviceaccounts/token'],
  ['launch-agent.dev', 'launchjobs'],
  ['launch-agent.dev', 'launchjobs/status'],
  ['rbac.authorization.k8s.io', 'roles'],
  ['rbac.authorization.k8s.io', 'rolebindings'],
  ['apps', 'deployments'],
];

function attributes(namespace: string | undefined, group: string, resource: string, verb: string) {
  const [name, subresource] = resource.split('/');
  return { namespace, verb, group, resource: name!, ...(subresource ? { subresource } : {}) };
}

/** Every (verb, resource) of PROBED in `namespace`, and whether `rules` allow it. */
async function permissionTable(
  user: { namespace: string; name: string },
  namespace: string | undefined,
) {
  const table: Record<string, boolean> = {};
  await Promise.all(
    PROBED.flatMap(([group, resource]) =>
      ALL_VERBS.map(async (verb) => {
        table[`${verb} ${group || 'core'}/${resource}`] = await can(
          user,
          attributes(namespace, group, resource, verb),
        );
      }),
    ),
  );
  return table;
}

function expectedTable(rules: Rule[]) {
  const table: Record<string, boolean> = {};
  for (const [group, resource] of PROBED) {
    for (const verb of ALL_VERBS) {
      table[`${verb} ${group || 'core'}/${resource}`] = rules.some(
        ([g, r, verbs]) => g === group && r === resource && verbs.includes(verb),
      );
    }
  }
  return table;
}

// Every ci/ scenario, and every documented example (README: one per cloud and CoreWeave).
const scenarios = [
  ...readdirSync(join(chartDir, 'ci'))
    .filter((name) => name.endsWith('-values.yaml'))
    .sort()
    .map((name) => `ci/${name}`),
  ...readdirSync(join(chartDir, 'examples'))
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => `examples/${name}`),
];

beforeAll(
  async () => {
    const env = await requireServices('kubernetes');
    // helm and its plugins from the chart tools cache (built by scripts/install-chart-tools; warm
    // when scripts/test-all has run the chart tier first).
    await run('bash', [join(repoRoot, 'scripts', 'install-chart-tools'), '--quiet'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const { stdout } = await run('bash', [
      join(repoRoot, 'scripts', 'install-chart-tools'),
      '--env',
    ]);
    helmEnv = { ...process.env, KUBECONFIG: env.kubeconfig };
    for (const line of stdout.split('\n')) {
      const m = /^export (\w+)="(.*)"$/.exec(line);
      if (m) helmEnv[m[1]!] = m[2]!.replace('$PATH', process.env.PATH ?? '');
    }
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(env.kubeconfig);
    core = kubeConfig.makeApiClient(CoreV1Api);
    authz = kubeConfig.makeApiClient(AuthorizationV1Api);
  },
  20 * 60 * 1000,
);

afterAll(async () => {
  for (const { name, namespace } of releases) {
    await helm(['uninstall', name, '--namespace', namespace]).catch(() => undefined);
  }
  // Without a namespace controller the namespaces stay Terminating; their contents are gone.
  await Promise.all(
    namespacesToDelete.map((name) => core?.deleteNamespace({ name }).catch(() => undefined)),
  );
}, TIMEOUT);

describe.each(scenarios)('helm install -f %s', (file) => {
  const valuesFile = join(chartDir, file);
  const scenario = `${dirname(file).slice(0, 2)}-${basename(file, '.yaml').replace(/-values$/, '')}`;
  const release = 'launch-agent';
  let namespace: string;
  let targets: string[];
  let sets: string[];
  let launchConfig: Record<string, unknown>;
  let manifests: Manifest[];

  beforeAll(async () => {
    namespace = uniqueName(`chart-${scenario}`);
    await createNamespace(namespace, RESTRICTED);
    // Target namespaces named in the scenario get names unique to this run.
    const values = (parse(readFileSync(valuesFile, 'utf8')) ?? {}) as Record<string, unknown>;
    const wanted = Array.isArray(values.additionalTargetNamespaces)
      ? values.additionalTargetNamespaces
      : [];
    targets = wanted.map((_, i) => `${namespace}-t${i}`);
    for (const target of targets) await createNamespace(target);
    sets = targets.length > 0 ? [`additionalTargetNamespaces={${targets.join(',')}}`] : [];
    const setArgs = sets.flatMap((line) => ['--set', line]);

    const rendered = await renderChartValues({
      valueFiles: [valuesFile],
      sets,
      releaseName: release,
      namespace,
    });
    launchConfig = rendered.launchConfig;
    const text = await helm([
      'template',
      release,
      chartDir,
      '--namespace',
      namespace,
      '-f',
      valuesFile,
      ...setArgs,
    ]);
    manifests = parseAllDocuments(text)
      .map((doc) => doc.toJS() as Manifest | null)
      .filter((doc): doc is Manifest => doc !== null);
  }, TIMEOUT);

  // The tests below run in order: validate, install, then inspect what was installed.
  test(
    'every rendered object passes the API server validation with strict field checking',
    async () => {
      expect(manifests.length).toBeGreaterThanOrEqual(6);
      for (const doc of manifests) {
        // Cluster-wide: the ClusterRoles (get on the served namespaces; the submitter role) and
        // their bindings, and the admission policy and its binding.
        const clusterWide = [
          'ClusterRole',
          'ClusterRoleBinding',
          'ValidatingAdmissionPolicy',
          'ValidatingAdmissionPolicyBinding',
        ].includes(doc.kind);
        expect(clusterWide ? [undefined] : [namespace, ...targets]).toContain(
          doc.metadata.namespace,
        );
        await expect(dryRunCreate(doc)).resolves.toBeUndefined();
      }
    },
    TIMEOUT,
  );

  test(
    'helm install succeeds in a namespace enforcing the restricted Pod Security Standard',
    async () => {
      const setArgs = sets.flatMap((line) => ['--set', line]);
      await helm([
        'install',
        release,
        chartDir,
        '--namespace',
        namespace,
        '-f',
        valuesFile,
        ...setArgs,
      ]);
      releases.push({ name: release, namespace });
      const status = await helm(['status', release, '--namespace', namespace, '--output', 'json']);
      expect((JSON.parse(status) as { info: { status: string } }).info.status).toBe('deployed');
    },
    TIMEOUT,
  );

  test(
    'the agent pod is admitted under the restricted Pod Security Standard',
    async () => {
      const deployment = manifests.find(
        (doc) => doc.kind === 'Deployment',
      ) as unknown as V1Deployment;
      const pod = await dryRunPod(deployment, namespace);
      expect(pod.spec?.serviceAccountName).toBe(
        launchConfig.kubernetes &&
          (launchConfig.kubernetes as Record<string, string>)['service-account'],
      );
    },
    TIMEOUT,
  );

  test(
    'the installed ConfigMap holds the launch-config that launch-agent render computes',
    async () => {
      const name = manifests.find((doc) => doc.kind === 'ConfigMap')!.metadata.name;
      const configMap = await core.readNamespacedConfigMap({ name, namespace });
      expect(parse(configMap.data!['launch-config.yaml']!)).toEqual(launchConfig);
    },
    TIMEOUT,
  );

  test(
    'the agent ServiceAccount can do exactly what the runtime needs in its namespace',
    async () => {
      const kube = launchConfig.kubernetes as Record<string, unknown>;
      const agent = { namespace, name: kube['service-account'] as string };
      await core.readNamespacedServiceAccount({ name: agent.name, namespace });
      expect(await permissionTable(agent, namespace)).toEqual(
        expectedTable(RELEASE_NAMESPACE_RULES),
      );
    },
    TIMEOUT,
  );

  test(
    'the agent ServiceAccount serves LaunchJobs in each tenant namespace, and can only read those namespaces cluster-wide',
    async () => {
      const kube = launchConfig.kubernetes as Record<string, unknown>;
      const agent = { namespace, name: kube['service-account'] as string };
      const getNamespace = (name: string) =>
        can(agent, { verb: 'get', group: '', resource: 'namespaces', name });
      expect(kube['target-namespaces'] ?? []).toEqual(targets);
      for (const target of targets) {
        expect(await permissionTable(agent, target)).toEqual(expectedTable(TARGET_NAMESPACE_RULES));
        expect(await getNamespace(target)).toBe(true);
      }
      expect(await permissionTable(agent, 'default')).toEqual(expectedTable([]));
      expect(await permissionTable(agent, undefined)).toEqual(expectedTable([]));
      expect(await can(agent, { verb: 'list', group: '', resource: 'nodes' })).toBe(false);
      expect(await can(agent, { verb: 'list', group: '', resource: 'namespaces' })).toBe(false);
      for (const other of ['default', namespace]) expect(await getNamespace(other)).toBe(false);
    },
    TIMEOUT,
  );

  test(
    'the build ServiceAccount has no Kubernetes permissions and no API token',
    async () => {
      const kube = launchConfig.kubernetes as Record<string, unknown>;
      const build = { namespace, name: kube['build-service-account'] as string };
      const sa = await core.readNamespacedServiceAccount({ name: build.name, namespace });
      expect(sa.automountServiceAccountToken).toBe(false);
      expect(await permissionTable(build, namespace)).toEqual(expectedTable([]));
    },
    TIMEOUT,
  );
});

describe('the checks above can fail', () => {
  test(
    'strict field validation refuses a field the API does not know',
    async () => {
      const namespace = uniqueName('chart-strict');
      await createNamespace(namespace);
      const text = await helm([
        'template',
        'launch-agent',
        chartDir,
        '--namespace',
        namespace,
        '--show-only',
        'templates/deployment.yaml',
      ]);
      const deployment = parse(text) as Manifest & { spec: Record<string, unknown> };
      await expect(dryRunCreate(deployment)).resolves.toBeUndefined();
      deployment.spec.replica = 1;
      await expect(dryRunCreate(deployment)).rejects.toThrow(/unknown field \W*spec\.replica/);
    },
    TIMEOUT,
  );

  test(
    'a pod template weakened to run as root is refused in the same kind of namespace',
    async () => {
      const namespace = uniqueName('chart-psa');
      await createNamespace(namespace, RESTRICTED);
      const text = await helm([
        'template',
        'launch-agent',
        chartDir,
        '--namespace',
        namespace,
        '--show-only',
        'templates/deployment.yaml',
      ]);
      const deployment = parse(text) as V1Deployment;
      // The pod needs an existing ServiceAccount before Pod Security admission looks at it.
      await core.createNamespacedServiceAccount({
        namespace,
        body: { metadata: { name: 'probe' } },
      });
      const asIs = (pod: V1Pod) => void (pod.spec!.serviceAccountName = 'probe');
      await expect(dryRunPod(deployment, namespace, asIs)).resolves.toBeDefined();
      await expect(
        dryRunPod(deployment, namespace, (pod) => {
          pod.spec!.serviceAccountName = 'probe';
          pod.spec!.securityContext = { runAsNonRoot: false, runAsUser: 0 };
          pod.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: true };
        }),
      ).rejects.toThrow(/violates PodSecurity \W*restricted/);
    },
    TIMEOUT,
  );
});
