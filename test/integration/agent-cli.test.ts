// The launch-agent commands around the agent, run in-process: `start` (its /healthz, /readyz
// and /metrics, the jobs it runs, SIGTERM handing them back and exit 0), and `submit`, `status`
// and `logs` (a context uploaded to the PVC store, built and run by an agent; a git source and
// a token in its URL refused; a prebuilt image with environment variables, created in the
// kubeconfig context's namespace). LaunchJobs live in the tenant namespace the agent serves; the
// agent runs in its own. The agent acts as the chart's ServiceAccount (agent-queue-testbed.ts).
//
// The test plays the Job controller (endRunJob, see agent-harness.ts): nothing runs the run
// Jobs' pods, so `logs` finds none.
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { LaunchAgentConfig } from '@launch-agent/config';
import { type LaunchJob } from '@launch-agent/runtime';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import { startAgentCommand } from './agent-command.js';
import { endRunJob, runCliWith, tempDir, waitFor } from './agent-harness.js';
import {
  admin,
  agentKubeConfig,
  agentNamespace,
  batch,
  contextRoot,
  env,
  getJob,
  namespace,
  phaseIs,
  settingsFor,
  startAgent,
  submit,
  useQueueTestbed,
} from './agent-queue-testbed.js';

useQueueTestbed();

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('launch-agent start', () => {
  it('serves /healthz, /readyz and /metrics, runs jobs, and on SIGTERM hands them back and exits 0', async () => {
    const queue = 'cli-start';
    const dir = tempDir('agent-start-');
    const kubeconfigFile = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigFile, agentKubeConfig.exportConfig(), { mode: 0o600 });
    const configFile = join(dir, 'launch-config.yaml');
    writeFileSync(
      configFile,
      `queues: [${queue}]\nmax_jobs: 1\nbuilder:\n  type: noop\nkubernetes:\n  target-namespaces: [${namespace}]\n`,
    );
    const agent = await startAgentCommand({
      configFile,
      kubeconfigFile,
      namespace: agentNamespace,
      identity: 'cli-agent',
    });
    const { port, lines } = agent;
    try {
      expect((await httpGet(port, '/healthz')).status).toBe(200);
      await waitFor(
        'readiness',
        () => httpGet(port, '/readyz'),
        (r) => r.status === 200,
      );

      const job = await submit(queue);
      const running = await phaseIs(job.metadata.name!, 'Running');
      expect(running.status!.agent).toBe('cli-agent');
      const metrics = await httpGet(port, '/metrics');
      expect(metrics.body).toContain('launch_agent_jobs{phase="Running"} 1');
      expect(metrics.body).toContain('launch_agent_active_jobs 1');
      expect(metrics.body).toContain('launch_agent_max_jobs 1');

      expect(await agent.stop()).toBe(0);
      const released = await getJob(job.metadata.name!);
      expect(released.status!.agent).toBeUndefined();
      expect(released.status!.phase).toBe('Running');
      await expect(httpGet(port, '/healthz')).rejects.toThrow();
      expect(lines().map((line) => line.msg)).toEqual(
        expect.arrayContaining([
          'agent ready',
          'claimed job',
          'signal received; shutting down',
          'agent stopped',
        ]),
      );
      expect(agent.log()).not.toContain(agentKubeConfig.getCurrentUser()!.token!);
    } finally {
      await agent.stop();
    }
  });
});

describe('launch-agent submit, status, logs', () => {
  it('submits a context through the store, the agent builds and runs it, status and logs report it', async () => {
    const queue = 'cli-submit';
    const dir = tempDir('agent-submit-');
    const source = join(dir, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'Dockerfile'), 'FROM scratch\nCOPY run.txt /run.txt\n');
    writeFileSync(join(source, 'run.txt'), `${dir}\n`);
    writeFileSync(join(source, 'secret.env'), 'TOKEN=x\n');
    writeFileSync(join(source, '.dockerignore'), 'secret.env\n');
    const config = join(dir, 'launch-config.yaml');
    writeFileSync(
      config,
      [
        `queues: [${queue}]`,
        'builder:',
        '  type: docker',
        `  destination: ${env.registry}/agent-it/submit`,
        '  build-context-store: pvc://contexts/cli',
        'kubernetes:',
        `  namespace: ${agentNamespace}`,
        `  target-namespaces: [${namespace}]`,
      ].join('\n'),
    );
    const common = ['--config', config, '--namespace', namespace, '--pvc-mount-path', contextRoot];
    const submitted = await runCliWith(
      ['submit', source, '--queue', queue, '--json', ...common, '--', 'serve', '--port=1'],
      env.kubeconfig,
    );
    expect(submitted.stderr).toContain('uploaded 3 files');
    expect(submitted.code).toBe(0);
    const created = JSON.parse(submitted.stdout) as LaunchJob;
    expect(created.spec).toMatchObject({
      queue,
      source: { context: { key: expect.stringMatching(/^contexts\/[0-9a-f]+\.tar\.gz$/) } },
      dockerfile: 'Dockerfile',
      run: { args: ['serve', '--port=1'] },
    });
    const again = await runCliWith(['submit', source, '--queue', queue, ...common], env.kubeconfig);
    expect(again.stderr).toContain('is already in');

    await startAgent({
      settings: settingsFor({
        queues: [queue],
        max_jobs: 2, // both submissions run
        builder: {
          type: 'docker',
          destination: `${env.registry}/agent-it/submit`,
          'build-context-store': 'pvc://contexts/cli',
        },
      } as Partial<LaunchAgentConfig>),
      contextStore: new PvcContextStore({
        claim: 'contexts',
        prefix: 'cli',
        mountPath: contextRoot,
      }),
    });
    const running = await phaseIs(created.metadata.name!, 'Running');
    // Both submissions name the same context: one job builds it, the other shares that build.
    expect(['built', 'reused']).toContain(running.status!.imageStatus);

    const status = await runCliWith(
      ['status', created.metadata.name!, ...common.slice(0, 4)],
      env.kubeconfig,
    );
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('phase:     Running');
    expect(status.stdout).toContain(
      `image:     ${running.status!.image} (${running.status!.imageStatus})`,
    );
    expect(status.stdout).toContain(`run job:   ${namespace}/${running.status!.runJobName}`);

    // No kubelet here: the run Job never gets a pod, and logs says so.
    const logs = await runCliWith(
      ['logs', created.metadata.name!, ...common.slice(0, 4)],
      env.kubeconfig,
    );
    expect(logs.code).toBe(1);
    expect(logs.stderr).toContain(
      `the run Job ${namespace}/${running.status!.runJobName} has no pod yet`,
    );

    await endRunJob(batch, running, 'Failed');
    await phaseIs(created.metadata.name!, 'Failed');
    const failed = await runCliWith(
      ['status', created.metadata.name!, ...common.slice(0, 4)],
      env.kubeconfig,
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('condition: Failed=True BackoffLimitExceeded');
  }, 180_000);

  it('submits a git source, and refuses a token in its URL before creating anything', async () => {
    const dir = tempDir('agent-submit-');
    const config = join(dir, 'launch-config.yaml');
    writeFileSync(config, 'queues: [cli-git]\n');
    const base = ['submit', '--config', config, '-n', namespace, '--json'];
    const result = await runCliWith(
      [
        ...base,
        '--git',
        'https://example.com/org/repo.git',
        '--ref',
        'v1',
        '-f',
        'docker/Dockerfile',
      ],
      env.kubeconfig,
    );
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as LaunchJob).spec).toEqual({
      queue: 'cli-git',
      source: { git: { url: 'https://example.com/org/repo.git', ref: 'v1' } },
      dockerfile: 'docker/Dockerfile',
    });
    const leaky = await runCliWith(
      [...base, '--git', 'https://u:tok3n@example.com/r.git'],
      env.kubeconfig,
    );
    expect(leaky.code).toBe(1);
    expect(leaky.stderr).toContain('carries a user name, password or token');
    expect(leaky.stderr).not.toContain('tok3n');
  });

  it('submits a prebuilt image with environment variables into the kubeconfig context namespace, uploading nothing', async () => {
    const dir = tempDir('agent-submit-');
    const config = join(dir, 'launch-config.yaml');
    writeFileSync(
      config,
      `queues: [cli-image]\nkubernetes:\n  namespace: ${agentNamespace}\n  target-namespaces: [${namespace}]\n`,
    );
    // The admin's kubeconfig, its context set to the tenant namespace (kubectl config set-context).
    const inTenant = join(dir, 'kubeconfig');
    const context = admin.getContextObject(admin.getCurrentContext())!;
    const exported = JSON.parse(admin.exportConfig()) as {
      contexts: Array<{ name: string; context: Record<string, unknown> }>;
    };
    for (const entry of exported.contexts) {
      if (entry.name === context.name) entry.context = { ...entry.context, namespace };
    }
    writeFileSync(inTenant, JSON.stringify(exported), { mode: 0o600 });
    const result = await runCliWith(
      [
        'submit',
        '--image',
        'busybox:1.36',
        '-e',
        'A=1',
        '--config',
        config,
        '--json',
        '--',
        'echo',
        'hi',
      ],
      inTenant,
    );
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as LaunchJob).metadata.namespace).toBe(namespace);
    expect((JSON.parse(result.stdout) as LaunchJob).spec).toEqual({
      queue: 'cli-image',
      source: { image: 'busybox:1.36' },
      run: { args: ['echo', 'hi'], env: [{ name: 'A', value: '1' }] },
    });
  });
});
