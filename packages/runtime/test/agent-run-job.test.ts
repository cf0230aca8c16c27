import { createLogger, type LaunchJob } from '@launch-agent/runtime';
import { redact } from '../src/agent/agent-log.js';
import { AgentMetrics } from '../src/agent/agent-metrics.js';
import { labelValue, runJobName, runJobSpec } from '../src/agent/run-job-spec.js';
import { setCondition } from '../src/kubernetes/launchjob-types.js';

function launchJob(overrides: Partial<LaunchJob['spec']> = {}, name = 'train-1'): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name, namespace: 'agents', uid: '0b8a1c2e-1111-2222-3333-444455556666' },
    spec: { queue: 'default', source: { image: 'busybox:1' }, ...overrides },
  };
}

describe('runJobName', () => {
  it('is the same for the same LaunchJob, so a second create conflicts', () => {
    expect(runJobName(launchJob())).toBe(runJobName(launchJob()));
    expect(runJobName(launchJob())).toMatch(/^train-1-run-[0-9a-f]{6}$/);
  });

  it('differs for a LaunchJob re-created under the same name (new uid)', () => {
    const again = launchJob();
    again.metadata.uid = 'ffffffff-1111-2222-3333-444455556666';
    expect(runJobName(again)).not.toBe(runJobName(launchJob()));
  });

  it('stays within 63 characters for a long name and ends in an alphanumeric', () => {
    const name = runJobName(launchJob({}, `${'a'.repeat(49)}-${'b'.repeat(40)}`));
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('runJobSpec', () => {
  it('runs the image with the run spec, labels and a controller ownerReference', () => {
    const job = launchJob({
      run: {
        args: ['train'],
        env: [{ name: 'EPOCHS', value: '3' }],
        resources: { limits: { cpu: '1' } },
        nodeSelector: { pool: 'gpu' },
        tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }],
      },
    });
    const spec = runJobSpec(job, { image: 'registry.example.com/x:abc', agentName: 'agent-0' });
    expect(spec.metadata?.name).toBe(runJobName(job));
    expect(spec.metadata?.labels).toMatchObject({
      'launch-agent.dev/launchjob': 'train-1',
      'launch-agent.dev/launchjob-uid': job.metadata.uid,
      'launch-agent.dev/queue': 'default',
      'launch-agent.dev/role': 'run',
    });
    expect(spec.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'launch-agent.dev/v1alpha1',
        kind: 'LaunchJob',
        name: 'train-1',
        uid: job.metadata.uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    expect(spec.metadata?.namespace).toBe('agents');
    const pod = spec.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.nodeSelector).toEqual({ pool: 'gpu' });
    expect(pod.tolerations).toHaveLength(1);
    expect(pod.containers[0]).toMatchObject({
      image: 'registry.example.com/x:abc',
      args: ['train'],
      env: [{ name: 'EPOCHS', value: '3' }],
      resources: { limits: { cpu: '1' } },
      securityContext: { allowPrivilegeEscalation: false, privileged: false },
    });
    expect(pod.containers[0]!.command).toBeUndefined();
    expect(spec.spec!.backoffLimit).toBe(0);
  });

  it('mounts no API token unless the run template names a ServiceAccount', () => {
    const bare = runJobSpec(launchJob(), { image: 'busybox:1', agentName: 'agent-0' });
    expect(bare.spec!.template.spec!.automountServiceAccountToken).toBe(false);
    const named = runJobSpec(launchJob(), {
      image: 'busybox:1',
      agentName: 'agent-0',
      template: {
        queue: 'default',
        job: { spec: { template: { spec: { serviceAccountName: 'trainer' } } } },
      },
    });
    expect(named.spec!.template.spec!.serviceAccountName).toBe('trainer');
    expect(named.spec!.template.spec!.automountServiceAccountToken).toBeUndefined();
  });

  it('gives the run pods stopped_run_timeout as terminationGracePeriodSeconds, over a template', () => {
    const bare = runJobSpec(launchJob(), { image: 'busybox:1', agentName: 'agent-0' });
    expect(bare.spec!.template.spec!.terminationGracePeriodSeconds).toBeUndefined();
    const graced = runJobSpec(launchJob(), {
      image: 'busybox:1',
      agentName: 'agent-0',
      stopGraceSeconds: 45,
      template: {
        queue: 'default',
        job: { spec: { template: { spec: { terminationGracePeriodSeconds: 5 } } } },
      },
    });
    expect(graced.spec!.template.spec!.terminationGracePeriodSeconds).toBe(45);
  });

  it('puts a long LaunchJob name into its labels shortened with a hash', () => {
    const long = `${'x'.repeat(60)}-tail-${'y'.repeat(4)}`;
    const spec = runJobSpec(launchJob({}, long), { image: 'busybox:1', agentName: 'agent-0' });
    const label = spec.metadata!.labels!['launch-agent.dev/launchjob']!;
    expect(label).toBe(labelValue(long));
    expect(label.length).toBeLessThanOrEqual(63);
    expect(label).toMatch(/^x+-[0-9a-f]{6}$/);
    expect(labelValue(`${long}z`)).not.toBe(label);
    expect(spec.metadata!.ownerReferences![0]!.name).toBe(long);
  });
});

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status stays the same', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:01:00Z');
    const first = setCondition(undefined, { type: 'Running', status: 'True', reason: 'A' }, t1);
    const same = setCondition(first, { type: 'Running', status: 'True', reason: 'B' }, t2);
    const changed = setCondition(same, { type: 'Running', status: 'False', reason: 'C' }, t2);
    expect(same[0]).toMatchObject({ reason: 'B', lastTransitionTime: t1.toISOString() });
    expect(changed[0]).toMatchObject({ status: 'False', lastTransitionTime: t2.toISOString() });
    expect(changed).toHaveLength(1);
  });

  it('moves a condition that changes status to the end: the last is the latest transition', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:01:00Z');
    let list = setCondition(undefined, { type: 'Claimed', status: 'True', reason: 'Claimed' }, t1);
    list = setCondition(list, { type: 'Running', status: 'True', reason: 'RunJobCreated' }, t1);
    list = setCondition(list, { type: 'Claimed', status: 'True', reason: 'Again' }, t2);
    expect(list.map((c) => c.type)).toEqual(['Claimed', 'Running']);
    list = setCondition(list, { type: 'Claimed', status: 'False', reason: 'AgentShutdown' }, t2);
    expect(list.map((c) => c.type)).toEqual(['Running', 'Claimed']);
  });
});

describe('agent logs', () => {
  it('redacts secret-looking keys, secret env values and URL passwords', () => {
    expect(
      redact({
        password: 'hunter2',
        nested: { apiKey: 'k', region: 'us-east-1' },
        env: [
          { name: 'WANDB_API_KEY', value: 'abc' },
          { name: 'EPOCHS', value: '3' },
        ],
        url: 'https://user:s3cret@registry.example.com/v2/',
      }),
    ).toEqual({
      password: '[redacted]',
      nested: { apiKey: '[redacted]', region: 'us-east-1' },
      env: [
        { name: 'WANDB_API_KEY', value: '[redacted]' },
        { name: 'EPOCHS', value: '3' },
      ],
      url: 'https://user:[redacted]@registry.example.com/v2/',
    });
  });

  it('writes one JSON object per line, and readable text on request', () => {
    const lines: string[] = [];
    const stream = {
      write: (text: string) => lines.push(text),
    } as unknown as NodeJS.WritableStream;
    const now = () => new Date('2026-01-01T12:00:00Z');
    createLogger({ format: 'json', stream, now }).info('claimed job', { job: 'a/b', token: 'x' });
    createLogger({ format: 'text', stream, now }).warn('slow', { job: 'a/b' });
    createLogger({ format: 'text', stream, now }).debug('hidden');
    expect(JSON.parse(lines[0]!)).toEqual({
      time: '2026-01-01T12:00:00.000Z',
      level: 'info',
      msg: 'claimed job',
      job: 'a/b',
      token: '[redacted]',
    });
    expect(lines[1]).toBe('12:00:00 WARN  slow job=a/b\n');
    expect(lines).toHaveLength(2);
  });
});

describe('AgentMetrics', () => {
  it('renders gauges, counters and the build histogram in the exposition format', async () => {
    const metrics = new AgentMetrics();
    metrics.setJobsByPhase({ Pending: 2, Running: 1 });
    metrics.setQueueDepth({ default: 2 });
    metrics.setActiveJobs(1, -1);
    metrics.count('images', { result: 'reused' });
    metrics.count('images', { result: 'reused' });
    metrics.observeBuildSeconds(12);
    metrics.observeReconcile(0.02, false);
    metrics.observeReconcile(0.3, true);
    const text = await metrics.render();
    expect(text).toContain('launch_agent_reconcile_duration_seconds_bucket{le="0.025"} 1\n');
    expect(text).toContain('launch_agent_reconcile_duration_seconds_count 2\n');
    expect(text).toContain('launch_agent_reconcile_errors_total 1\n');
    expect(text).toContain('launch_agent_jobs{phase="Pending"} 2\n');
    expect(text).toContain('launch_agent_jobs{phase="Succeeded"} 0\n');
    expect(text).toContain('launch_agent_queue_depth{queue="default"} 2\n');
    expect(text).toContain('launch_agent_max_jobs -1\n');
    expect(text).toContain('launch_agent_images_total{result="reused"} 2\n');
    expect(text).toContain('launch_agent_build_duration_seconds_bucket{le="5"} 0\n');
    expect(text).toContain('launch_agent_build_duration_seconds_bucket{le="15"} 1\n');
    expect(text).toContain('launch_agent_build_duration_seconds_count 1\n');
    expect(metrics.counter('images', { result: 'reused' })).toBe(2);
    // The library's process metrics share the page: resident memory, heap, event-loop lag.
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e-]+/m);
  });
});
