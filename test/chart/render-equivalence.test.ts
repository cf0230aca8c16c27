// `launch-agent render` (renderChartValues) and the chart must produce the same launch-config:
// for every ci/ scenario and example, and for the naming and override cases below, this runs
// `helm template` and compares the ConfigMap's parsed launch-config.yaml with
// renderChartValues for the same values. Values helm refuses must be refused by render too.
// Needs helm on PATH: scripts/test-chart provides it (scripts/install-chart-tools).
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { renderChartValues } from '../../packages/config/src/render/index.js';

const run = promisify(execFile);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// The YAML parser of the config package, which is what the agent reads launch-config.yaml with.
const { parse, parseAllDocuments } = createRequire(
  join(repo, 'packages', 'config', 'package.json'),
)('yaml') as typeof import('yaml');
const chartDir = join(repo, 'charts', 'launch-agent');

interface Scenario {
  valueFiles?: string[];
  sets?: string[];
  releaseName?: string;
  namespace?: string;
}

function helmArgs(s: Scenario): string[] {
  return [
    'template',
    s.releaseName ?? 'release-name',
    chartDir,
    '--namespace',
    s.namespace ?? 'default',
    ...(s.valueFiles ?? []).flatMap((file) => ['--values', file]),
    ...(s.sets ?? []).flatMap((line) => ['--set', line]),
  ];
}

async function helmLaunchConfig(s: Scenario): Promise<unknown> {
  const { stdout } = await run(
    'helm',
    [...helmArgs(s), '--show-only', 'templates/configmap.yaml'],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const docs = parseAllDocuments(stdout).map((doc) => doc.toJS() as Record<string, unknown> | null);
  const configMaps = docs.filter((doc) => doc?.kind === 'ConfigMap');
  expect(configMaps).toHaveLength(1);
  const data = configMaps[0]!.data as Record<string, string>;
  return parse(data['launch-config.yaml']!);
}

async function helmError(s: Scenario): Promise<string | null> {
  try {
    await run('helm', helmArgs(s), { maxBuffer: 16 * 1024 * 1024 });
    return null;
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
}

function renderOptions(s: Scenario) {
  return {
    valueFiles: s.valueFiles ?? [],
    sets: s.sets ?? [],
    releaseName: s.releaseName,
    namespace: s.namespace,
    chartDir,
  };
}

const files = (dir: string, pattern: RegExp) =>
  readdirSync(join(chartDir, dir))
    .filter((name) => pattern.test(name))
    .sort()
    .map((name) => join(chartDir, dir, name));

const fileScenarios: Array<[string, Scenario]> = [
  ...files('ci', /-values\.yaml$/),
  ...files('examples', /\.yaml$/),
].map((file) => [
  relative(chartDir, file),
  { valueFiles: [file], releaseName: 'agent', namespace: 'launch' },
]);

const ci = (name: string) => join(chartDir, 'ci', name);

const otherScenarios: Array<[string, Scenario]> = [
  ['chart defaults as helm template names them', {}],
  ['release name containing the chart name', { releaseName: 'gpu-launch-agent', namespace: 'ml' }],
  [
    'long release name cut to 63 characters',
    { releaseName: 'a-very-long-release-name-for-a-team-with-long-names-x' },
  ],
  [
    'fullnameOverride ending in a dash after the cut',
    { sets: [`fullnameOverride=${'f'.repeat(62)}-tail`] },
  ],
  ['nameOverride', { sets: ['nameOverride=agent'] }],
  [
    'namespaceOverride and additional target namespaces',
    { sets: ['namespaceOverride=ml', 'additionalTargetNamespaces={training,eval}'] },
  ],
  [
    'existing ServiceAccounts by name',
    {
      sets: [
        'serviceAccount.create=false',
        'serviceAccount.name=platform-agent',
        'buildServiceAccount.create=false',
      ],
    },
  ],
  [
    'user keys under agentConfig.kubernetes win',
    {
      sets: [
        'agentConfig.kubernetes.namespace=other',
        'agentConfig.kubernetes.target-namespaces={a,b}',
      ],
    },
  ],
  [
    'user builder keys win over kaniko.* values',
    {
      valueFiles: [ci('coreweave-values.yaml')],
      sets: [
        'agentConfig.builder.docker-config-secret=mine',
        'agentConfig.builder.context-pvc-mount-path=/mnt/contexts',
      ],
    },
  ],
  [
    'kaniko.contextPvc.existingClaim with a path',
    {
      valueFiles: [ci('coreweave-values.yaml')],
      sets: ['kaniko.contextPvc.existingClaim=shared', 'kaniko.contextPvc.path=team/a'],
    },
  ],
  [
    'a pvc:// store written into agentConfig',
    {
      sets: [
        'agentConfig.builder.type=kaniko',
        'agentConfig.builder.build-context-store=pvc://shared/x',
      ],
    },
  ],
  [
    'two files, later wins, plus --set',
    {
      valueFiles: [ci('aws-values.yaml'), ci('gcp-values.yaml')],
      sets: ['agentConfig.max_jobs=-1'],
    },
  ],
  ['null deletes the default builder', { sets: ['agentConfig.builder=null'] }],
  [
    'YAML 1.1 booleans and escaped dots in --set',
    { sets: ['agentConfig.secure_mode=TRUE', 'agentConfig.entity=ml\\.platform'] },
  ],
];

const refusedScenarios: Array<[string, Scenario]> = [
  ['unknown builder type', { sets: ['agentConfig.builder.type=buildah'] }],
  ['kaniko without a build-context-store', { sets: ['agentConfig.builder.type=kaniko'] }],
  ['snake_case builder key', { sets: ['agentConfig.builder.build_context_store=s3://b/p'] }],
  ['unknown chart value', { sets: ['replicas=2'] }],
  ['kaniko.* values with the noop builder', { sets: ['kaniko.contextPvc.enabled=true'] }],
  [
    'kaniko.contextPvc against a different store',
    { valueFiles: [ci('aws-values.yaml')], sets: ['kaniko.contextPvc.enabled=true'] },
  ],
];

describe('launch-agent render and the chart agree on launch-config.yaml', () => {
  beforeAll(async () => {
    await run('helm', ['version', '--short']).catch(() => {
      throw new Error(
        'helm is not on PATH: run scripts/install-chart-tools and eval its --env output',
      );
    });
  });

  test('there are ci/ scenarios and examples to compare', () => {
    expect(files('ci', /-values\.yaml$/).length).toBeGreaterThanOrEqual(6);
    expect(files('examples', /\.yaml$/).map((f) => relative(chartDir, f))).toEqual(
      expect.arrayContaining([
        'examples/aws.yaml',
        'examples/gcp.yaml',
        'examples/azure.yaml',
        'examples/coreweave.yaml',
      ]),
    );
  });

  test.each([...fileScenarios, ...otherScenarios])('%s', async (_name, scenario) => {
    const [fromHelm, rendered] = await Promise.all([
      helmLaunchConfig(scenario),
      renderChartValues(renderOptions(scenario)),
    ]);
    expect(rendered.launchConfig).toEqual(fromHelm);
    expect(parse(rendered.yaml)).toEqual(fromHelm);
  });

  test.each(refusedScenarios)('both refuse: %s', async (_name, scenario) => {
    const helmMessage = await helmError(scenario);
    expect(helmMessage).not.toBeNull();
    await expect(renderChartValues(renderOptions(scenario))).rejects.toThrow();
  });
});
