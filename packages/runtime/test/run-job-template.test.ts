import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type LaunchJob } from '@launch-agent/runtime';
import {
  runJobSpec,
  runJobWaiting,
  runTemplateForQueue,
  RunTemplateError,
} from '../src/agent/run-job-spec.js';

const { parse } = createRequire(
  fileURLToPath(new URL('../../config/package.json', import.meta.url)),
)('yaml') as typeof import('yaml');

const template = parse(
  readFileSync(
    fileURLToPath(new URL('../../../test/fixtures/run-templates/gpu-queue.yaml', import.meta.url)),
    'utf8',
  ),
) as Record<string, unknown>;

function launchJob(run: LaunchJob['spec']['run'] = {}): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: {
      name: 'train-7',
      namespace: 'research',
      uid: '0b8a1c2e-1111-2222-3333-444455556666',
      labels: { 'launch-agent.dev/project': 'llm-eval' },
    },
    spec: { queue: 'gpu', source: { image: 'busybox:1' }, run },
  };
}

const options = {
  image: 'registry.local/ml/launch:abc123',
  agentName: 'agent-0',
};

describe('runTemplateForQueue', () => {
  it('picks the queue’s template and carries the entity for ${entity_name}', () => {
    const settings = { runTemplates: { gpu: template }, entity: 'ml-platform' };
    expect(runTemplateForQueue(settings, 'gpu')).toEqual({
      queue: 'gpu',
      job: template,
      entity: 'ml-platform',
    });
    expect(runTemplateForQueue(settings, 'cpu')).toBeUndefined();
  });
});

describe('runJobSpec with a run template', () => {
  const settings = { runTemplates: { gpu: template }, entity: 'ml-platform' };
  const job = runJobSpec(
    launchJob({
      env: [{ name: 'EPOCHS', value: '3' }],
      nodeSelector: { pool: 'training' },
      args: ['--lr=0.1'],
    }),
    { ...options, template: runTemplateForQueue(settings, 'gpu') },
  );
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('fills in the macros', () => {
    expect(job.metadata!.annotations).toMatchObject({
      'launch.example.com/run': 'train-7',
      'launch.example.com/project': 'llm-eval',
      'launch-agent.dev/agent': 'agent-0',
    });
    expect(job.spec!.template.metadata!.labels!['launch.example.com/queue']).toBe('gpu');
    expect(container.image).toBe('registry.local/ml/launch:abc123');
    expect(container.env).toEqual([
      { name: 'EPOCHS', value: '3' },
      { name: 'WANDB_PROJECT', value: 'llm-eval' },
      { name: 'RUN_IMAGE', value: 'registry.local/ml/launch:abc123' },
    ]);
  });

  it('merges mappings, appends lists and lets the template’s scalars win', () => {
    expect(pod.nodeSelector).toEqual({
      pool: 'training',
      'nvidia.com/gpu.product': 'A100-SXM4-80GB',
    });
    expect(pod.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(pod.serviceAccountName).toBe('trainer');
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-pull' }]);
    expect(pod.volumes).toEqual([
      { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '16Gi' } },
    ]);
    expect(container.volumeMounts).toEqual([{ name: 'dshm', mountPath: '/dev/shm' }]);
    expect(container.resources!.limits).toEqual({ 'nvidia.com/gpu': '1', memory: '64Gi' });
    expect(container.args).toEqual(['--lr=0.1']);
    expect(job.spec!.activeDeadlineSeconds).toBe(86400);
    expect(job.spec!.ttlSecondsAfterFinished).toBe(3600);
  });

  it('keeps the agent’s name, namespace, container name and labels', () => {
    const bare = runJobSpec(launchJob(), options);
    expect(job.metadata!.name).toBe(bare.metadata!.name);
    expect(job.metadata!.namespace).toBe('research');
    expect(container.name).toBe('job');
    expect(job.metadata!.labels).toMatchObject(bare.metadata!.labels!);
    expect(job.metadata!.labels!.team).toBe('ml');
    expect(job.spec!.template.metadata!.labels).toMatchObject(
      bare.spec!.template.metadata!.labels!,
    );
    expect(job.metadata!.ownerReferences).toEqual(bare.metadata!.ownerReferences);
  });

  it('creates a Job labelled for Kueue suspended, and says it is waiting', () => {
    expect(job.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('team-a');
    expect(job.spec!.suspend).toBe(true);
    expect(runJobWaiting(job)).toEqual({
      reason: 'Suspended',
      message: `run Job research/${job.metadata!.name} waits for Kueue to admit it (queue team-a)`,
    });
  });

  it('does not change the template it was given', () => {
    expect(JSON.stringify(template)).toContain('${image_uri}');
  });
});

describe('runJobSpec priority and suspension', () => {
  it('uses the LaunchJob’s priorityClassName when the template sets none', () => {
    const job = runJobSpec(launchJob({ priorityClassName: 'batch-low' }), options);
    expect(job.spec!.template.spec!.priorityClassName).toBe('batch-low');
    expect(job.spec!.suspend).toBeUndefined();
    expect(runJobWaiting(job)).toBeUndefined();
  });

  it('lets the queue template’s priorityClassName win over the LaunchJob’s', () => {
    const job = runJobSpec(launchJob({ priorityClassName: 'batch-low' }), {
      ...options,
      template: { queue: 'gpu', job: template },
    });
    expect(job.spec!.template.spec!.priorityClassName).toBe('high');
  });

  it('leaves an unknown macro as written and ${entity_name} empty without an entity', () => {
    const job = runJobSpec(launchJob(), {
      ...options,
      template: {
        queue: 'gpu',
        job: { metadata: { annotations: { a: '${entity_name}', b: '${HOME}' } } },
      },
    });
    expect(job.metadata!.annotations).toMatchObject({ a: '', b: '${HOME}' });
  });

  it('names the queue and the key when a template does not fit the Job', () => {
    const bad = { spec: { template: { spec: { nodeSelector: ['not', 'a', 'map'] } } } };
    const run = () =>
      runJobSpec(launchJob({ nodeSelector: { pool: 'x' } }), {
        ...options,
        template: { queue: 'gpu', job: bad },
      });
    expect(run).toThrow(RunTemplateError);
    expect(run).toThrow(/^run-templates\.gpu\.spec\.template\.spec\.nodeSelector: expected/);
  });
});
