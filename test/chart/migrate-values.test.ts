// `launch-agent migrate-values` output must install with our chart and keep the meaning of the
// W&B values it came from: this converts each fixture, runs `helm template` on the result and
// reads the rendered manifests. The W&B files themselves must be refused by the chart with one
// message naming the command. Needs helm on PATH (scripts/test-chart provides it).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { migratedValuesYaml, migrateWandbValues } from '../../packages/config/src/migrate/index.js';

const run = promisify(execFile);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const chartDir = join(repo, 'charts', 'launch-agent');
const fixtures = join(repo, 'test', 'fixtures', 'wandb-values');
const { parse, parseAllDocuments } = createRequire(
  join(repo, 'packages', 'config', 'package.json'),
)('yaml') as typeof import('yaml');

type Manifest = {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [key: string]: unknown;
};

async function convertAndRender(fixture: string): Promise<Manifest[]> {
  const file = join(fixtures, fixture);
  const result = migrateWandbValues(readFileSync(file, 'utf8'), file);
  const dir = await mkdtemp(join(tmpdir(), 'migrate-chart-'));
  const values = join(dir, 'values.yaml');
  await writeFile(values, migratedValuesYaml(result, fixture));
  const { stdout } = await run(
    'helm',
    ['template', 'launch', chartDir, '--namespace', 'release-ns', '--values', values],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
}

function one(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (!name || m.metadata.name === name));
  expect(found).toHaveLength(1);
  return found[0]!;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe("migrate-values output renders with this chart's helm template", () => {
  it("W&B's own defaults: namespace wandb, target default (wandb, the agent's own, is left out), no PodDisruptionBudget for one replica", async () => {
    const manifests = await convertAndRender('chart-defaults.yaml');
    for (const m of manifests.filter((m) => m.metadata.namespace !== undefined)) {
      if (m.kind !== 'Role' && m.kind !== 'RoleBinding') expect(m.metadata.namespace).toBe('wandb');
    }
    const roleNamespaces = manifests
      .filter((m) => m.kind === 'RoleBinding')
      .map((m) => m.metadata.namespace)
      .sort();
    expect(roleNamespaces).toEqual(['default', 'wandb']);
    const config = parse((one(manifests, 'ConfigMap') as Any).data['launch-config.yaml']);
    expect(config.kubernetes['target-namespaces']).toEqual(['default']);
    // W&B's budget of minAvailable 1 on its single pod blocks every node drain; this chart
    // keeps the setting and makes the budget once there is more than one agent.
    expect(manifests.filter((m) => m.kind === 'PodDisruptionBudget')).toEqual([]);
    const deployment = one(manifests, 'Deployment') as Any;
    expect(deployment.spec.template.spec.containers[0].resources.limits).toEqual({
      cpu: '1000m',
      memory: '1Gi',
    });
    expect(config).toMatchObject({ max_jobs: 10, builder: { type: 'noop' } });
  });

  it('EKS with IRSA: role annotation, scheduling, env and Secret references', async () => {
    const manifests = await convertAndRender('eks-irsa.yaml');
    const accounts = manifests.filter((m) => m.kind === 'ServiceAccount');
    expect(accounts.length).toBe(2);
    for (const account of accounts) expect(account.metadata.namespace).toBe('launch');
    const agentAccount = accounts.find((a) => !a.metadata.name.endsWith('-build'))!;
    expect(agentAccount.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(
      'arn:aws:iam::123456789012:role/launch-agent',
    );
    // Build pods never get the agent's role: they push with tokens the agent mints.
    const buildAccount = accounts.find((a) => a.metadata.name.endsWith('-build'))!;
    expect(buildAccount.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBeUndefined();
    expect(agentAccount.metadata.annotations?.['example.com/owner']).toBe('ml-platform');
    const pod = (one(manifests, 'Deployment') as Any).spec.template;
    expect(pod.metadata.labels.team).toBe('ml-platform');
    expect(pod.metadata.annotations['prometheus.io/scrape']).toBe('false');
    expect(pod.spec.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'm6i.large' });
    expect(pod.spec.tolerations[0]).toMatchObject({ key: 'dedicated', value: 'launch' });
    expect(
      pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        .nodeSelectorTerms[0].matchExpressions[0].values,
    ).toEqual(['us-east-1a', 'us-east-1b']);
    const container = pod.spec.containers[0];
    expect(container.resources).toEqual({
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { cpu: '2', memory: '2Gi' },
    });
    const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e]));
    expect(env.HTTPS_PROXY.value).toBe('http://proxy.internal:3128');
    expect(env.HF_TOKEN.valueFrom.secretKeyRef).toEqual({
      name: 'launch-agent-secret-env-vars',
      key: 'HF_TOKEN',
    });
    const bindings = manifests
      .filter((m) => m.kind === 'RoleBinding')
      .map((m) => m.metadata.namespace);
    expect(bindings.sort()).toEqual(['eval', 'launch', 'training']);
    const configMap = one(manifests, 'ConfigMap') as Any;
    expect(JSON.stringify(configMap)).not.toContain('hf_supersecretvalue');
    const config = parse(configMap.data['launch-config.yaml']);
    expect(config.builder).toMatchObject({
      type: 'kaniko',
      'build-context-store': 's3://ml-launch-contexts/contexts',
    });
    expect(config.kubernetes['target-namespaces']).toEqual(['training', 'eval']);
  });

  it('CoreWeave with a PVC and a private registry: claim, docker config, git and CA mounts', async () => {
    const manifests = await convertAndRender('coreweave-pvc.yaml');
    const config = parse((one(manifests, 'ConfigMap') as Any).data['launch-config.yaml']);
    expect(config.builder).toMatchObject({
      'build-context-store': 'pvc://launch-kaniko-contexts',
      'docker-config-secret': 'registry-push',
    });
    const pod = (one(manifests, 'Deployment') as Any).spec.template.spec;
    const volumes = Object.fromEntries(pod.volumes.map((v: Any) => [v.name, v]));
    expect(volumes['build-contexts'].persistentVolumeClaim.claimName).toBe(
      'launch-kaniko-contexts',
    );
    expect(volumes['docker-config'].secret).toMatchObject({ secretName: 'registry-push' });
    expect(volumes['git-creds'].secret.secretName).toBe('git-creds');
    expect(volumes['git-ssh-key-0'].secret.secretName).toBe('github-deploy-key');
    expect(volumes['custom-ca-bundle'].configMap.name).toBe('corp-ca');
    const container = pod.containers[0];
    const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value]));
    expect(env.DOCKER_CONFIG).toBe('/var/run/launch-agent/docker');
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/etc/launch-agent/ca/custom-ca.crt');
    const mounts = container.volumeMounts.map((m: Any) => m.mountPath);
    expect(mounts).toEqual(
      expect.arrayContaining([
        '/var/run/launch-agent/docker',
        '/home/launch_agent/.git-credentials',
        '/home/launch_agent/.ssh/id_repo0',
      ]),
    );
    expect(pod.nodeSelector).toEqual({ 'node.coreweave.cloud/class': 'cpu' });
    for (const m of manifests) expect(JSON.stringify(m)).not.toContain('ghp_gitsecret');
  });

  it("W&B's CI values: converted, they render; the annotation left empty is not carried over", async () => {
    const manifests = await convertAndRender('ci-basic.yaml');
    const config = parse((one(manifests, 'ConfigMap') as Any).data['launch-config.yaml']);
    expect(config.queues).toEqual(['default']);
    expect(config.kubernetes['target-namespaces']).toEqual(['default']);
    for (const account of manifests.filter((m) => m.kind === 'ServiceAccount')) {
      expect(account.metadata.namespace).toBe('wandb');
      expect(account.metadata.annotations ?? {}).not.toHaveProperty(
        'iam.gke.io/gcp-service-account',
      );
    }
  });

  // ci-basic.yaml, W&B's own CI values, has an annotation left null: the schema lets a W&B file
  // through so that the refusal, not a schema error, is what helm prints.
  it.each(['chart-defaults.yaml', 'eks-irsa.yaml', 'coreweave-pvc.yaml', 'ci-basic.yaml'])(
    'the chart refuses the W&B file %s itself, naming launch-agent migrate-values',
    async (fixture) => {
      const error = await run('helm', [
        'template',
        'launch',
        chartDir,
        '--values',
        join(fixtures, fixture),
      ]).then(
        () => null,
        (e: { stderr: string }) => e.stderr,
      );
      expect(error).toMatch(/written for W&B's launch-agent chart \(agent, namespace/);
      expect(error).toContain('launch-agent migrate-values FILE > values.yaml');
      expect(
        error!
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('Error')),
      ).toHaveLength(1);
    },
  );
});
