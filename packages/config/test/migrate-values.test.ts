import { MigrateValuesError, migrateWandbValues, type MigrationNote } from '../src/index.js';

function note(notes: MigrationNote[], key: string): MigrationNote {
  const found = notes.find((n) => n.key === key);
  if (!found) throw new Error(`no note for ${key}`);
  return found;
}

function refusal(text: string): MigrateValuesError {
  try {
    migrateWandbValues(text, 'v.yaml');
  } catch (error) {
    if (error instanceof MigrateValuesError) return error;
    throw error;
  }
  throw new Error('converted');
}

describe('migrateWandbValues', () => {
  it('moves Azure workload identity and drops the pod label the chart sets itself', () => {
    const { values, notes } = migrateWandbValues(
      [
        'agent:',
        '  labels:',
        '    azure.workload.identity/use: "true"',
        '    team: ml',
        'serviceAccount:',
        '  annotations:',
        '    azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000001',
        'launchConfig: |',
        '  environment: {type: azure}',
        '  builder:',
        '    type: kaniko',
        '    destination: https://myregistry.azurecr.io/launch',
        '    build-context-store: https://acct123.blob.core.windows.net/contexts',
        'azureStorageAccessKey: c2VjcmV0LWtleQ==',
      ].join('\n'),
      'v.yaml',
    );
    expect(values.workloadIdentity).toEqual({
      azure: { clientId: '00000000-0000-0000-0000-000000000001' },
    });
    expect(values.podLabels).toEqual({ team: 'ml' });
    expect(values.kaniko).toEqual({
      azureStorageSecret: { name: 'azure-storage-access-key', key: 'password' },
    });
    expect(note(notes, 'azureStorageAccessKey').outcome).toBe('attention');
    expect(JSON.stringify({ values, notes })).not.toContain('c2VjcmV0LWtleQ==');
  });

  it('lets kanikoPvcName win over a build-context-store, as the W&B agent did', () => {
    const { values, notes } = migrateWandbValues(
      'launchConfig: |\n  builder:\n    type: kaniko\n    destination: registry.example.com/ml\n    build-context-store: s3://bucket/x\nkanikoPvcName: ctx\n',
      'v.yaml',
    );
    expect(values.agentConfig).toEqual({
      builder: { type: 'kaniko', destination: 'registry.example.com/ml' },
    });
    expect(values.kaniko).toEqual({ contextPvc: { enabled: true, existingClaim: 'ctx' } });
    expect(note(notes, 'kanikoPvcName')).toMatchObject({ outcome: 'attention', line: 6 });
  });

  it('drops kaniko-only keys when the builder is not kaniko, saying why', () => {
    const { values, notes } = migrateWandbValues(
      'launchConfig: "builder: {type: noop}"\nkanikoDockerConfigSecret: push\n',
      'v.yaml',
    );
    expect(values.kaniko).toBeUndefined();
    expect(note(notes, 'kanikoDockerConfigSecret')).toMatchObject({
      outcome: 'dropped',
      message: expect.stringContaining('only kaniko builds use it'),
    });
  });

  it('never shows a secret value in a type error', () => {
    const error = refusal('agent:\n  apiKey: [not, a, string, hunter2]\n');
    expect(error.problems[0]).toMatchObject({ path: 'agent.apiKey', message: 'wrong type (list)' });
    expect(JSON.stringify(error.problems)).not.toContain('hunter2');
  });

  it('names a bad additionalEnvVars entry by index and line', () => {
    const error = refusal('additionalEnvVars:\n  - name: OK\n    value: x\n  - value: y\n');
    expect(error.problems[0]).toMatchObject({
      path: 'additionalEnvVars[1].name',
      location: { file: 'v.yaml', line: 4 },
    });
  });

  it('carries the W&B defaults a file leaves out and says so', () => {
    const { values, notes } = migrateWandbValues('launchConfig: "queues: [q]"\n', 'v.yaml');
    expect(values.namespaceOverride).toBe('wandb');
    // wandb, the agent's own namespace, is never a tenant here.
    expect(values.additionalTargetNamespaces).toEqual(['default']);
    expect(note(notes, 'namespace')).toMatchObject({ outcome: 'mapped', fromDefault: true });
    expect(note(notes, 'additionalTargetNamespaces')).toMatchObject({
      outcome: 'attention',
      message: expect.stringContaining("wandb, the agent's own namespace, is left out"),
    });
  });

  it('keeps targets that are not the agent namespace as they are', () => {
    const { values, notes } = migrateWandbValues(
      'launchConfig: "queues: [q]"\nnamespace: ml\nadditionalTargetNamespaces: [team-a, team-b]\n',
      'v.yaml',
    );
    expect(values.additionalTargetNamespaces).toEqual(['team-a', 'team-b']);
    expect(note(notes, 'additionalTargetNamespaces')).toMatchObject({ outcome: 'mapped' });
  });

  it('lets a file remove a W&B default with null, as helm does', () => {
    const { values } = migrateWandbValues(
      'launchConfig: "queues: [q]"\nnamespace: null\nadditionalTargetNamespaces: []\n',
      'v.yaml',
    );
    expect(values.namespaceOverride).toBeUndefined();
    expect(values.additionalTargetNamespaces).toBeUndefined();
  });
});

describe('migrateWandbValues on the W&B chart defaults', () => {
  it('reports every key of the W&B chart', async () => {
    const { readFileSync } = await import('node:fs');
    const { WANDB_CHART_KEYS } = await import('../src/index.js');
    const file = new URL(
      '../../../test/fixtures/wandb-values/chart-defaults.yaml',
      import.meta.url,
    );
    const { notes } = migrateWandbValues(readFileSync(file, 'utf8'), 'chart-defaults.yaml');
    const reported = new Set(notes.map((n) => n.key));
    const expected = Object.entries(WANDB_CHART_KEYS).flatMap(([key, spec]) =>
      key === 'agent' ? Object.keys(spec.children!).map((child) => `agent.${child}`) : [key],
    );
    const missing = expected.filter(
      (key) => ![...reported].some((r) => r === key || r.startsWith(`${key}.`)),
    );
    expect(missing).toEqual([]);
  });
});
