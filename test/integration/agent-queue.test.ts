// The agent against the real kube-apiserver of scripts/testenv, acting as the chart's
// ServiceAccount (its Role and RoleBinding as `helm template` renders them, a token from the
// TokenRequest API), with the chart's LaunchJob CRD applied. Builds go to podman's Docker Engine
// API and push to the test registry.
//
// The test plays the Job controller (see agent-harness.ts): nothing runs the run Jobs' pods.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { request as httpRequest } from 'node:http';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { normalizeConfig, type LaunchAgentConfig } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  createLogger,
  silentLogger,
  type Builder,
  type LaunchAgentOptions,
  type LaunchJob,
  type LaunchJobSpec,
} from '@launch-agent/runtime';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import { main } from '../../packages/cli/src/main.js';
import { Output } from '../../packages/cli/src/output.js';
import {
  applyLaunchJobCrd,
  chartAgentKubeConfig,
  endRunJob,
  runCliWith,
  sleep,
  waitFor,
} from './agent-harness.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

const run = promisify(execFile);

let env: TestEnv;
let admin: KubeConfig;
let agentKubeConfig: KubeConfig;
let namespace: string;
let adminJobs: LaunchJobClient;
let batch: BatchV1Api;
let contextRoot: string;
const agents: LaunchAgent[] = [];
const dirs: string[] = [];

const getJob = (name: string) => adminJobs.get(namespace, name);
const phaseIs = (name: string, phase: string) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (job) => job.status?.phase === phase,
  );

async function submit(queue: string, spec: Partial<LaunchJobSpec> = {}): Promise<LaunchJob> {
  return adminJobs.create(
    namespace,
    { name: uniqueName('lj') },
    { queue, source: { image: 'busybox:1.36' }, ...spec },
  );
}

async function runJobsOf(queue: string): Promise<V1Job[]> {
  const list = await batch.listNamespacedJob({
    namespace,
    labelSelector: `launch-agent.dev/queue=${queue}`,
  });
  return list.items;
}

function settingsFor(config: Partial<LaunchAgentConfig>) {
  return normalizeConfig({
    builder: { type: 'noop' },
    ...config,
  } as LaunchAgentConfig);
}

async function startAgent(
  options: Partial<LaunchAgentOptions> & Pick<LaunchAgentOptions, 'settings'>,
): Promise<LaunchAgent> {
  const agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    namespace,
    identity: uniqueName('agent'),
    heartbeatIntervalMs: 300,
    staleAfterMs: 2000,
    // AGENT_TEST_LOG=1 shows what the agents do.
    log: process.env.AGENT_TEST_LOG
      ? createLogger({ format: 'text', level: 'debug' })
      : silentLogger,
    ...options,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

/** A context tar.gz in the PVC store (a directory standing in for the mounted claim). */
async function storeContext(key: string, files: Record<string, string>): Promise<void> {
  const src = mkdtempSync(join(tmpdir(), 'agent-src-'));
  dirs.push(src);
  for (const [path, content] of Object.entries(files)) writeFileSync(join(src, path), content);
  mkdirSync(join(contextRoot, key, '..'), { recursive: true });
  await run('tar', ['czf', join(contextRoot, key), '-C', src, '.']);
}

const contextStore = () =>
  new PvcContextStore({ claim: 'contexts', prefix: '', mountPath: contextRoot });

/** A builder that never finishes on its own: a build an agent dies in the middle of. */
const hangingBuilder = (started: () => void): Builder => ({
  name: 'hanging',
  build: ({ signal }) =>
    new Promise((_resolve, reject) => {
      started();
      signal?.addEventListener('abort', () => reject(new Error('build aborted')));
    }),
});

beforeAll(async () => {
  env = await requireServices('kubernetes', 'docker', 'registry');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  namespace = uniqueName('agent-ns');
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  ({ kubeConfig: agentKubeConfig } = await chartAgentKubeConfig(admin, env.kubeconfig, namespace));
  adminJobs = new LaunchJobClient(admin);
  batch = admin.makeApiClient(BatchV1Api);
  contextRoot = mkdtempSync(join(tmpdir(), 'agent-pvc-'));
  dirs.push(contextRoot);
}, 120_000);

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});

afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  // No namespace controller in the testenv: the namespace stays Terminating, its objects stay.
  if (namespace) await admin.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
});

describe('LaunchJob CRD', () => {
  it('refuses a job with two sources and accepts one with exactly one', async () => {
    await expect(
      adminJobs.create(
        namespace,
        { name: uniqueName('bad') },
        { queue: 'q', source: { image: 'busybox', git: { url: 'https://example.com/x.git' } } },
      ),
    ).rejects.toMatchObject({ code: 422 });
    const ok = await submit('crd-check');
    expect(ok.metadata.uid).toBeDefined();
  });
});

describe('agent, as the chart ServiceAccount', () => {
  it('runs a prebuilt image: claim, run Job with the right spec, status mirrored to Succeeded', async () => {
    const queue = 'prebuilt';
    const agent = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue, {
      run: {
        args: ['train', '--epochs=1'],
        env: [{ name: 'EPOCHS', value: '1' }],
        resources: { limits: { cpu: '500m', memory: '128Mi' } },
        nodeSelector: { pool: 'cpu' },
        tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      },
    });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status).toMatchObject({
      agent: expect.any(String),
      image: 'busybox:1.36',
      imageStatus: 'prebuilt',
      runJobNamespace: namespace,
    });
    const [runJob, ...more] = await runJobsOf(queue);
    expect(more).toEqual([]);
    expect(runJob!.metadata!.name).toBe(running.status!.runJobName);
    expect(runJob!.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LaunchJob', uid: job.metadata.uid, controller: true }),
    ]);
    const container = runJob!.spec!.template.spec!.containers[0]!;
    expect(container).toMatchObject({
      image: 'busybox:1.36',
      args: ['train', '--epochs=1'],
      env: [{ name: 'EPOCHS', value: '1' }],
      resources: { limits: { cpu: '500m', memory: '128Mi' } },
    });
    expect(runJob!.spec!.template.spec!.nodeSelector).toEqual({ pool: 'cpu' });
    expect(runJob!.spec!.template.spec!.restartPolicy).toBe('Never');

    await endRunJob(batch, running, 'Complete');
    const done = await phaseIs(job.metadata.name!, 'Succeeded');
    expect(done.status!.completionTime).toBeDefined();
    expect(done.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Succeeded', status: 'True', reason: 'Completed' }),
        expect.objectContaining({ type: 'Claimed', status: 'True', reason: 'Claimed' }),
      ]),
    );
    expect(await agent.metrics.render()).toContain(
      'launch_agent_images_total{result="prebuilt"} 1',
    );
  });

  it('mirrors a failed run Job with its reason', async () => {
    const queue = 'failing';
    await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue);
    const running = await phaseIs(job.metadata.name!, 'Running');
    await endRunJob(batch, running, 'Failed');
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }),
      ]),
    );
  });

  it('secure_mode: refuses an entrypoint override with a reason and creates no Job', async () => {
    const queue = 'secure';
    await startAgent({ settings: settingsFor({ queues: [queue], secure_mode: true }) });
    const job = await submit(queue, { run: { command: ['/bin/sh', '-c', 'id'] } });
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', reason: 'SecureModeViolation' }),
      ]),
    );
    expect(failed.status!.message).toContain('spec.run.command');
    expect(await runJobsOf(queue)).toEqual([]);
  });

  it('refuses a target namespace outside the configured ones', async () => {
    const queue = 'elsewhere';
    await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue, { run: { namespace: 'kube-system' } });
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'NamespaceNotAllowed' })]),
    );
  });

  it('max_jobs holds with many jobs queued, across two agents, one run Job per LaunchJob', async () => {
    const queue = 'limited';
    const settings = settingsFor({ queues: [queue], max_jobs: 2 });
    await startAgent({ settings });
    await startAgent({ settings });
    const jobs = await Promise.all(Array.from({ length: 7 }, () => submit(queue)));
    const names = new Set(jobs.map((job) => job.metadata.name!));
    let finished = 0;
    while (finished < jobs.length) {
      // Let the agents settle, then check the limit: 2 per agent, 4 in all.
      await waitFor(
        'the agents to fill their slots',
        () => adminJobs.list(namespace),
        (list) => {
          const mine = list.items.filter((j) => names.has(j.metadata.name!));
          const running = mine.filter((j) => j.status?.phase === 'Running').length;
          const left = mine.filter((j) => !['Succeeded', 'Failed'].includes(j.status?.phase ?? ''));
          return running === Math.min(4, left.length);
        },
      );
      await sleep(300);
      const list = (await adminJobs.list(namespace)).items.filter((j) =>
        names.has(j.metadata.name!),
      );
      const running = list.filter((j) => j.status?.phase === 'Running');
      const byAgent = new Map<string, number>();
      for (const j of running)
        byAgent.set(j.status!.agent!, (byAgent.get(j.status!.agent!) ?? 0) + 1);
      expect([...byAgent.values()].every((count) => count <= 2)).toBe(true);
      const runJobs = await runJobsOf(queue);
      const active = runJobs.filter((j) => !j.status?.conditions?.length);
      expect(active.length).toBeLessThanOrEqual(4);
      const perLaunchJob = new Set(
        runJobs.map((j) => j.metadata!.labels!['launch-agent.dev/launchjob']),
      );
      expect(perLaunchJob.size).toBe(runJobs.length);
      // End one of them, as the Job controller would.
      await endRunJob(batch, running[0]!, 'Complete');
      await phaseIs(running[0]!.metadata.name!, 'Succeeded');
      finished += 1;
    }
    expect((await runJobsOf(queue)).length).toBe(jobs.length);
  });
});

describe('agent restarts', () => {
  const dockerSettings = (queue: string) =>
    settingsFor({
      queues: [queue],
      builder: {
        type: 'docker',
        destination: `${env.registry}/agent-it/${queue}`,
        'build-context-store': 'pvc://contexts',
      },
    } as Partial<LaunchAgentConfig>);

  it('builds a stored context with the docker builder, then reuses the image for the same context', async () => {
    const queue = 'docker';
    const key = `${uniqueName('ctx')}.tar.gz`;
    await storeContext(key, {
      Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n',
      'hello.txt': `hello ${key}\n`,
    });
    const agent = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
    });
    const first = await submit(queue, { source: { context: { key } }, run: { args: ['/hello'] } });
    const built = await phaseIs(first.metadata.name!, 'Running');
    expect(built.status).toMatchObject({
      imageStatus: 'built',
      image: expect.stringMatching(new RegExp(`^${env.registry}/agent-it/docker:[0-9a-f]+$`)),
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    const [runJob] = (await runJobsOf(queue)).filter(
      (j) => j.metadata!.name === built.status!.runJobName,
    );
    expect(runJob!.spec!.template.spec!.containers[0]!.image).toBe(built.status!.image);

    const second = await submit(queue, { source: { context: { key } } });
    await endRunJob(batch, built, 'Complete');
    const reused = await phaseIs(second.metadata.name!, 'Running');
    expect(reused.status).toMatchObject({ imageStatus: 'reused', image: built.status!.image });
    expect(await agent.metrics.render()).toMatch(/launch_agent_build_duration_seconds_count 1\n/);
  }, 180_000);

  it('builds a git source (a local repository and branch) and refuses a token in the URL', async () => {
    const queue = 'git';
    const repo = mkdtempSync(join(tmpdir(), 'agent-git-'));
    dirs.push(repo);
    writeFileSync(join(repo, 'Dockerfile'), 'FROM scratch\nCOPY model.txt /model.txt\n');
    writeFileSync(join(repo, 'model.txt'), `${repo}\n`);
    const git = (...args: string[]) =>
      run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo });
    await git('init', '--quiet', '--initial-branch=release');
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'model');
    // Two slots: the first job keeps its slot while it runs.
    const agent = await startAgent({ settings: { ...dockerSettings(queue), maxJobs: 2 } });
    const job = await submit(queue, { source: { git: { url: `file://${repo}`, ref: 'release' } } });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status).toMatchObject({
      imageStatus: 'built',
      image: expect.stringContaining(`${env.registry}/agent-it/git:`),
    });
    expect(agent.metrics.counter('images', { result: 'built' })).toBe(1);

    const secret = 'ghp_notarealtoken';
    const leaky = await submit(queue, {
      source: { git: { url: `https://x-access-token:${secret}@example.com/org/repo.git` } },
    });
    const failed = await phaseIs(leaky.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'GitCredentialsInUrl' })]),
    );
    expect(JSON.stringify(failed.status)).not.toContain(secret);
  }, 180_000);

  it('an agent that dies mid-build: another one takes the job over and runs it exactly once', async () => {
    const queue = 'crash-build';
    const key = `${uniqueName('ctx')}.tar.gz`;
    await storeContext(key, {
      Dockerfile: 'FROM scratch\nCOPY data.txt /data.txt\n',
      'data.txt': `data ${key}\n`,
    });
    let buildStarted!: () => void;
    const started = new Promise<void>((resolve) => (buildStarted = resolve));
    const doomed = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      builder: async () => hangingBuilder(buildStarted),
    });
    const job = await submit(queue, { source: { context: { key } } });
    await started;
    const building = await phaseIs(job.metadata.name!, 'Building');
    doomed.abandon(); // the process is gone: no hand-back, the heartbeat stops
    agents.splice(agents.indexOf(doomed), 1);

    const successor = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
    });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status!.agent).not.toBe(building.status!.agent);
    expect(running.status!.imageStatus).toBe('built');
    expect(running.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Claimed', reason: 'ResumedFromStaleAgent' }),
      ]),
    );
    expect(await runJobsOf(queue)).toHaveLength(1);
    expect(successor.metrics.counter('claims', { result: 'resumed' })).toBe(1);
  }, 180_000);

  it('an agent that dies after creating the run Job: the successor follows that Job, never a second', async () => {
    const queue = 'crash-run';
    const doomed = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue);
    const running = await phaseIs(job.metadata.name!, 'Running');
    doomed.abandon();
    agents.splice(agents.indexOf(doomed), 1);
    const successor = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    // The status names the run Job already: the successor follows it and never creates one.
    const resumed = await waitFor(
      'the successor to take the job over',
      () => getJob(job.metadata.name!),
      (j) => j.status?.agent !== undefined && j.status.agent !== running.status!.agent,
    );
    expect(resumed.status!.runJobName).toBe(running.status!.runJobName);
    expect(successor.metrics.counter('claims', { result: 'resumed' })).toBe(1);
    expect(successor.metrics.counter('run_jobs_created', { result: 'created' })).toBe(0);
    expect(await runJobsOf(queue)).toHaveLength(1);
    await endRunJob(batch, running, 'Complete');
    await phaseIs(job.metadata.name!, 'Succeeded');
  });

  it('graceful stop hands a job in the middle of a build back, and the next agent takes it at once', async () => {
    const queue = 'handback';
    const key = `${uniqueName('ctx')}.tar.gz`;
    await storeContext(key, { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: key });
    let buildStarted!: () => void;
    const started = new Promise<void>((resolve) => (buildStarted = resolve));
    const first = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      builder: async () => hangingBuilder(buildStarted),
      staleAfterMs: 600_000, // only the hand-back can free the job within this test
    });
    const job = await submit(queue, { source: { context: { key } } });
    await started;
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    const released = await getJob(job.metadata.name!);
    expect(released.status!.agent).toBeUndefined();
    expect(released.status!.phase).toBe('Pending');
    expect(released.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Claimed', status: 'False', reason: 'AgentShutdown' }),
      ]),
    );
    await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      staleAfterMs: 600_000,
    });
    await phaseIs(job.metadata.name!, 'Running');
    expect(await runJobsOf(queue)).toHaveLength(1);
  }, 180_000);
});

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
    const dir = mkdtempSync(join(tmpdir(), 'agent-start-'));
    dirs.push(dir);
    const kubeconfigFile = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigFile, agentKubeConfig.exportConfig(), { mode: 0o600 });
    const configFile = join(dir, 'launch-config.yaml');
    writeFileSync(configFile, `queues: [${queue}]\nmax_jobs: 1\nbuilder:\n  type: noop\n`);
    const stderr = new PassThrough();
    let log = '';
    stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const saved = {
      KUBECONFIG: process.env.KUBECONFIG,
      FORMAT: process.env.LAUNCH_AGENT_LOG_FORMAT,
    };
    process.env.KUBECONFIG = kubeconfigFile;
    process.env.LAUNCH_AGENT_LOG_FORMAT = 'json';
    try {
      const exited = main(
        [
          'start',
          '--config',
          configFile,
          '--port',
          '0',
          '--namespace',
          namespace,
          '--identity',
          'cli-agent',
        ],
        new Output(new PassThrough(), stderr, { NO_COLOR: '1' }),
      );
      const lines = () =>
        log
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      const listening = await waitFor(
        'the health server',
        async () => lines().find((line) => line.msg === 'health server listening'),
        (line) => line !== undefined,
      );
      const port = listening!.port as number;
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

      process.emit('SIGTERM', 'SIGTERM');
      expect(await exited).toBe(0);
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
      expect(log).not.toContain(agentKubeConfig.getCurrentUser()!.token!);
    } finally {
      if (saved.KUBECONFIG === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved.KUBECONFIG;
      if (saved.FORMAT === undefined) delete process.env.LAUNCH_AGENT_LOG_FORMAT;
      else process.env.LAUNCH_AGENT_LOG_FORMAT = saved.FORMAT;
    }
  });
});

describe('launch-agent submit, status, logs', () => {
  it('submits a context through the store, the agent builds and runs it, status and logs report it', async () => {
    const queue = 'cli-submit';
    const dir = mkdtempSync(join(tmpdir(), 'agent-submit-'));
    dirs.push(dir);
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
    const dir = mkdtempSync(join(tmpdir(), 'agent-submit-'));
    dirs.push(dir);
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
    expect(leaky.stderr).toContain('carries a password or token');
    expect(leaky.stderr).not.toContain('tok3n');
  });

  it('submits a prebuilt image with environment variables, uploading nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-submit-'));
    dirs.push(dir);
    const config = join(dir, 'launch-config.yaml');
    writeFileSync(config, 'queues: [cli-image]\n');
    const result = await runCliWith(
      [
        'submit',
        '--image',
        'busybox:1.36',
        '-e',
        'A=1',
        '--config',
        config,
        '-n',
        namespace,
        '--json',
        '--',
        'echo',
        'hi',
      ],
      env.kubeconfig,
    );
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as LaunchJob).spec).toEqual({
      queue: 'cli-image',
      source: { image: 'busybox:1.36' },
      run: { args: ['echo', 'hi'], env: [{ name: 'A', value: '1' }] },
    });
  });
});
