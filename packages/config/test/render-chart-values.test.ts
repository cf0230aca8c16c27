// renderChartValues against the repository's chart: values.yaml defaults, -f files, --set lines,
// values.schema.json and the chart's own checks. test/chart/render-equivalence.test.ts compares
// the same function with `helm template` output.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChartRenderError, defaultChartDir, renderChartValues } from '../src/render/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'render-chart-values-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const wandbFixtures = fileURLToPath(
  new URL('../../../test/fixtures/wandb-values', import.meta.url),
);

async function valuesFile(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('renderChartValues', () => {
  test('finds charts/launch-agent of this repository', () => {
    expect(defaultChartDir()).toMatch(/charts[/\\]launch-agent$/);
  });

  test('defaults: noop builder, default queue, the kubernetes block for release-name in default', async () => {
    const { launchConfig, values, yaml } = await renderChartValues({ valueFiles: [], sets: [] });
    expect(launchConfig).toEqual({
      queues: ['default'],
      builder: { type: 'noop' },
      kubernetes: {
        namespace: 'default',
        'service-account': 'release-name-launch-agent',
        'build-service-account': 'release-name-launch-agent-build',
        'target-namespaces': [],
      },
    });
    expect(values).toMatchObject({ serviceAccount: { create: true }, logFormat: 'json' });
    // Keys sorted like Helm's toYaml.
    expect(yaml.split('\n').filter((line) => /^\S/.test(line))).toEqual([
      'builder:',
      'kubernetes:',
      'queues:',
    ]);
  });

  test('release name, namespace, overrides and target namespaces feed the kubernetes block', async () => {
    const file = await valuesFile(
      'targets.yaml',
      'namespaceOverride: ml\nadditionalTargetNamespaces: [training, eval]\nserviceAccount:\n  name: agent\n',
    );
    const { launchConfig } = await renderChartValues({
      valueFiles: [file],
      sets: ['buildServiceAccount.create=false'],
      releaseName: 'team-a',
      namespace: 'launch',
    });
    expect(launchConfig.kubernetes).toEqual({
      namespace: 'ml',
      'service-account': 'agent',
      'build-service-account': 'default',
      'target-namespaces': ['training', 'eval'],
    });
  });

  test("the release namespace is never a tenant namespace, and the agent never runs as 'default'", async () => {
    const own = await valuesFile('own.yaml', 'additionalTargetNamespaces: [team-a, launch]\n');
    await expect(
      renderChartValues({ valueFiles: [own], sets: [], namespace: 'launch' }),
    ).rejects.toThrow(/additionalTargetNamespaces lists "launch", the release namespace/);
    await expect(
      renderChartValues({ valueFiles: [], sets: ['serviceAccount.create=false'] }),
    ).rejects.toThrow(
      /serviceAccount.name is empty: the agent's Roles would be bound to the namespace's "default"/,
    );
  });

  test('keys the user set under agentConfig.kubernetes win', async () => {
    const { launchConfig } = await renderChartValues({
      valueFiles: [],
      sets: [
        'agentConfig.kubernetes.namespace=elsewhere',
        'agentConfig.kubernetes.target-namespaces={a,b}',
      ],
    });
    expect(launchConfig.kubernetes).toEqual({
      namespace: 'elsewhere',
      'service-account': 'release-name-launch-agent',
      'build-service-account': 'release-name-launch-agent-build',
      'target-namespaces': ['a', 'b'],
    });
  });

  test('later files and --set lines win; lists replace', async () => {
    const first = await valuesFile(
      'first.yaml',
      'agentConfig:\n  queues: [a, b]\n  max_jobs: 2\n  builder:\n    type: docker\n    destination: registry.internal:5000/ml/launch\n',
    );
    const second = await valuesFile('second.yaml', 'agentConfig:\n  queues: [c]\n');
    const { launchConfig } = await renderChartValues({
      valueFiles: [first, second],
      sets: ['agentConfig.max_jobs=4'],
    });
    expect(launchConfig).toMatchObject({
      queues: ['c'],
      max_jobs: 4,
      builder: { type: 'docker', destination: 'registry.internal:5000/ml/launch' },
    });
  });

  test('kaniko with a PVC context store and a dockerconfigjson secret is written into builder', async () => {
    const { launchConfig } = await renderChartValues({
      valueFiles: [],
      sets: [
        'agentConfig.builder.type=kaniko',
        'agentConfig.builder.destination=registry.example.com/ml/images',
        'kaniko.contextPvc.enabled=true',
        'kaniko.contextPvc.path=/builds/',
        'kaniko.dockerConfigSecret.existingSecret=push-creds',
      ],
      releaseName: 'cw',
    });
    expect(launchConfig.builder).toEqual({
      type: 'kaniko',
      destination: 'registry.example.com/ml/images',
      'build-context-store': 'pvc://cw-launch-agent-contexts/builds',
      'context-pvc-mount-path': '/var/run/launch-agent/contexts',
      'docker-config-secret': 'push-creds',
    });
  });

  test('an inline dockerconfigjson names the chart-made Secret; an Azure storage key Secret is referenced', async () => {
    const file = await valuesFile(
      'inline-docker-config.yaml',
      'kaniko:\n  dockerConfigSecret:\n    dockerConfigJson: \'{"auths": {}}\'\n',
    );
    const { launchConfig } = await renderChartValues({
      valueFiles: [file],
      sets: [
        'agentConfig.builder.type=kaniko',
        'agentConfig.builder.build-context-store=https://acct.blob.core.windows.net/contexts',
        'kaniko.azureStorageSecret.name=storage-key',
      ],
    });
    expect(launchConfig.builder).toMatchObject({
      'docker-config-secret': 'release-name-launch-agent-docker-config',
      'azure-storage-secret': { name: 'storage-key', key: 'AZURE_STORAGE_ACCESS_KEY' },
    });
  });

  test('builder keys the user set win over the kaniko.* values', async () => {
    const { launchConfig } = await renderChartValues({
      valueFiles: [],
      sets: [
        'agentConfig.builder.type=kaniko',
        'agentConfig.builder.build-context-store=pvc://shared/x',
        'agentConfig.builder.context-pvc-mount-path=/mnt/contexts',
        'agentConfig.builder.docker-config-secret=mine',
        'kaniko.dockerConfigSecret.existingSecret=theirs',
      ],
    });
    expect(launchConfig.builder).toEqual({
      type: 'kaniko',
      'build-context-store': 'pvc://shared/x',
      'context-pvc-mount-path': '/mnt/contexts',
      'docker-config-secret': 'mine',
    });
  });

  test('an invalid agentConfig is refused with the key path and the files involved', async () => {
    const file = await valuesFile(
      'bad-builder.yaml',
      'agentConfig:\n  builder:\n    type: buildah\n',
    );
    const attempt = renderChartValues({ valueFiles: [file], sets: [] });
    await expect(attempt).rejects.toThrow(ChartRenderError);
    await expect(attempt).rejects.toThrow(
      'agentConfig.builder.type: invalid value (got "buildah"; expected one of docker, kaniko, noop)',
    );
    await expect(attempt).rejects.toThrow(file);
  });

  test('unknown keys are refused, at the chart level and inside agentConfig', async () => {
    await expect(renderChartValues({ valueFiles: [], sets: ['replicas=2'] })).rejects.toThrow(
      'replicas: unknown key',
    );
    await expect(
      renderChartValues({
        valueFiles: [],
        sets: [
          'agentConfig.builder.type=kaniko',
          'agentConfig.builder.build_context_store=s3://b/p',
        ],
      }),
    ).rejects.toThrow(
      'agentConfig.builder.build_context_store: unknown key; did you mean "build-context-store"?',
    );
  });

  test('kaniko needs a build-context-store unless kaniko.contextPvc provides one', async () => {
    await expect(
      renderChartValues({ valueFiles: [], sets: ['agentConfig.builder.type=kaniko'] }),
    ).rejects.toThrow(
      'agentConfig.builder.build-context-store: missing; build-context-store is required by the kaniko builder',
    );
    await expect(
      renderChartValues({
        valueFiles: [],
        sets: ['agentConfig.builder.type=kaniko', 'kaniko.contextPvc.enabled=true'],
      }),
    ).resolves.toBeDefined();
  });

  test.each([
    [
      ['kaniko.contextPvc.enabled=true'],
      'kaniko.contextPvc.enabled is set, but agentConfig.builder.type is "noop"',
    ],
    [
      ['kaniko.azureStorageSecret.name=k', 'agentConfig.builder.type=docker'],
      'kaniko.azureStorageSecret.name is set, but agentConfig.builder.type is "docker"',
    ],
    [
      [
        'agentConfig.builder.type=kaniko',
        'agentConfig.builder.build-context-store=s3://bucket/contexts',
        'kaniko.contextPvc.enabled=true',
      ],
      'agentConfig.builder.build-context-store is "s3://bucket/contexts" but kaniko.contextPvc.enabled asks for "pvc://release-name-launch-agent-contexts"',
    ],
    [
      ['credentials.existingSecret=s', 'credentials.env.TOKEN=x'],
      'credentials: set existingSecret or env, not both.',
    ],
    [
      ['podDisruptionBudget.enabled=true', 'podDisruptionBudget.maxUnavailable=1'],
      'podDisruptionBudget: set minAvailable or maxUnavailable, not both',
    ],
  ])('refuses what the chart refuses: %j', async (sets, message) => {
    await expect(renderChartValues({ valueFiles: [], sets })).rejects.toThrow(message);
  });

  test('a missing or broken values file is named in the error', async () => {
    const missing = join(dir, 'nope.yaml');
    await expect(renderChartValues({ valueFiles: [missing], sets: [] })).rejects.toThrow(
      `${missing}: cannot read values file: no such file`,
    );
    const broken = await valuesFile('broken.yaml', 'agentConfig: [\n');
    await expect(renderChartValues({ valueFiles: [broken], sets: [] })).rejects.toThrow(
      new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: not valid YAML`),
    );
  });

  test('a broken --set line is named in the error', async () => {
    await expect(
      renderChartValues({ valueFiles: [], sets: ['agentConfig.queues'] }),
    ).rejects.toThrow('--set "agentConfig.queues": key "queues" has no value');
  });

  test('a null deletes a default: agentConfig.builder=null leaves the builder to the agent', async () => {
    const { launchConfig } = await renderChartValues({
      valueFiles: [],
      sets: ['agentConfig.builder=null'],
    });
    expect(launchConfig).not.toHaveProperty('builder');
    expect(launchConfig.queues).toEqual(['default']);
  });

  test.each(['ci-basic.yaml', 'chart-defaults.yaml', 'eks-irsa.yaml', 'coreweave-pvc.yaml'])(
    "W&B's values (%s) meet the refusal naming migrate-values, not a schema problem",
    async (fixture) => {
      const attempt = renderChartValues({ valueFiles: [join(wandbFixtures, fixture)], sets: [] });
      await expect(attempt).rejects.toThrow(
        /written for W&B's launch-agent chart \(agent, namespace.*launch-agent migrate-values FILE/,
      );
      await expect(attempt).rejects.not.toThrow(/don't meet/);
    },
  );

  test('a W&B key lets anything else through to that refusal; without one, the schema checks it', async () => {
    const broken = await valuesFile(
      'wandb-and-broken.yaml',
      'volcano: true\nreplicaCount: many\nserviceAccount:\n  annotations:\n    owner:\n',
    );
    await expect(renderChartValues({ valueFiles: [broken], sets: [] })).rejects.toThrow(
      "written for W&B's launch-agent chart (volcano)",
    );
    const ours = await valuesFile(
      'null-annotation.yaml',
      'serviceAccount:\n  annotations:\n    owner:\n',
    );
    await expect(renderChartValues({ valueFiles: [ours], sets: [] })).rejects.toThrow(
      /don't meet .*values\.schema\.json:\n- serviceAccount\.annotations\.owner/,
    );
  });
});
