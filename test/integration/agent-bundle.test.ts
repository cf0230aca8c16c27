// The CLI as it ships: packages/cli/dist/bin.js (the bundle `pnpm build` writes) in its own
// process. `start` against the test API server, with the S3 context store so the on-demand chunk
// and SDK load from the bundle's node_modules: health, metrics and a clean SIGTERM. `build` with a
// context large enough for the hash worker threads, tarred on the tar worker, built and pushed
// by the docker builder (dockerode, loaded on demand).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { applyLaunchJobCrd, waitFor } from './agent-harness.js';
import { repoRoot, requireServices, uniqueName, type TestEnv } from './testenv.js';
import { promisify } from 'node:util';

const bundle = join(repoRoot, 'packages/cli/dist/bin.js');
let env: TestEnv;
let admin: KubeConfig;
/** The agent's own namespace, and the tenant namespace it serves. */
let namespace: string;
let tenant: string;
let agent: ChildProcess | undefined;

beforeAll(async () => {
  env = await requireServices('kubernetes', 'aws', 'docker', 'registry');
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run pnpm build`);
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  namespace = uniqueName('bundle');
  tenant = uniqueName('bundle-tenant');
  for (const name of [namespace, tenant]) {
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  }
});

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  for (const name of [namespace, tenant]) {
    await admin
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name })
      .catch(() => undefined);
  }
});

async function get(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const response = await fetch(url);
    return { status: response.status, text: await response.text() };
  } catch {
    return undefined;
  }
}

test('starts from the bundle, answers /readyz and /metrics, and exits 0 on SIGTERM', async () => {
  const config = join(mkdtempSync(join(tmpdir(), 'agent-bundle-')), 'launch-config.yaml');
  writeFileSync(
    config,
    'queues: [bundle]\nbuilder:\n  type: kaniko\n  destination: 127.0.0.1:5000/bundle\n' +
      `  build-context-store: s3://bundle-contexts/launch\nkubernetes:\n  target-namespaces: [${tenant}]\n`,
  );
  const child = spawn(
    process.execPath,
    [bundle, 'start', '--config', config, '--namespace', namespace, '--port', '0'],
    {
      env: { ...process.env, KUBECONFIG: env.kubeconfig, LAUNCH_AGENT_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  agent = child;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const alive = () => {
    if (child.exitCode !== null) throw new Error(`the agent exited: ${stderr}`);
  };
  const port = await waitFor(
    'the health server',
    async () => {
      alive();
      const m = /"msg":"health server listening".*?"port":(\d+)/.exec(stderr);
      return m ? Number(m[1]) : undefined;
    },
    (found) => found !== undefined,
  );
  await waitFor(
    '/readyz 200',
    async () => {
      alive();
      return (await get(`http://127.0.0.1:${port}/readyz`))?.status;
    },
    (status) => status === 200,
  );
  const metrics = await get(`http://127.0.0.1:${port}/metrics`);
  expect(metrics?.status).toBe(200);
  expect(metrics?.text).toContain('launch_agent_jobs{phase="Pending"} 0\n');
  expect(metrics?.text).toContain('launch_agent_max_jobs 1\n');
  expect(metrics?.text).toMatch(/^process_resident_memory_bytes \d+/m);
  expect(metrics?.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 120_000);

test('build from the bundle hashes on worker threads, tars on the tar worker and pushes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-bundle-build-'));
  mkdirSync(join(dir, 'ctx', 'data'), { recursive: true });
  writeFileSync(join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY data/ /data/\n');
  // Over the 32 MiB from which hashing runs on worker threads.
  for (const name of ['a.bin', 'b.bin', 'c.bin']) {
    writeFileSync(join(dir, 'ctx', 'data', name), randomBytes(12 << 20));
  }
  const config = join(dir, 'launch-config.yaml');
  writeFileSync(
    config,
    `builder:\n  type: docker\n  destination: ${env.registry}/${uniqueName('bundle-build')}\n`,
  );
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [bundle, 'build', join(dir, 'ctx'), '--config', config, '--json'],
    {
      env: { ...process.env, DOCKER_HOST: env.dockerHost, NO_COLOR: '1' },
      maxBuffer: 16 << 20,
    },
  );
  const report = JSON.parse(stdout) as {
    status: string;
    context: { files: number; hashedFiles: number };
  };
  expect(report.status).toBe('built');
  expect(report.context).toMatchObject({ files: 4, hashedFiles: 4 });
}, 300_000);
