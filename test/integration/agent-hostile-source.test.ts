// Hostile job sources against the real agent: the kube-apiserver of scripts/testenv, the chart's
// ServiceAccount and CRD, a git source fetched by the agent's own git, a stored context in a PVC
// store. Each job must fail with a clear reason within a deadline (waitFor), without the agent
// reading or writing anything outside the job's context.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { normalizeConfig, type LaunchAgentConfig } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  silentLogger,
  type LaunchJob,
  type LaunchJobSpec,
} from '@launch-agent/runtime';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import { startGitDaemon, type GitDaemon } from '../../packages/runtime/test/git-daemon.js';
import { applyLaunchJobCrd, namespacesWithChartRbac, waitFor } from './agent-harness.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

const run = promisify(execFile);

let env: TestEnv;
let admin: KubeConfig;
let agentKubeConfig: KubeConfig;
/** The tenant namespace the agent serves: the LaunchJobs. */
let namespace: string;
/** The agent's own namespace: its Lease. */
let agentNamespace: string;
let jobs: LaunchJobClient;
let contextRoot: string;
const agents: LaunchAgent[] = [];
const dirs: string[] = [];
/** The job's git repositories are served by a local `git daemon`, which the agent's config allows. */
let daemon: GitDaemon;

/** Stands in for the ServiceAccount token: a file of the agent's that must never ship. */
let outside: string;
const SECRET = 'agent-service-account-token-never-ships';

beforeAll(async () => {
  env = await requireServices('kubernetes', 'docker', 'registry');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  agentNamespace = uniqueName('hostile-agent');
  namespace = uniqueName('hostile-ns');
  ({ kubeConfig: agentKubeConfig } = await namespacesWithChartRbac(admin, env.kubeconfig, {
    agentNamespace,
    tenants: [namespace],
  }));
  jobs = new LaunchJobClient(admin);
  contextRoot = mkdtempSync(join(tmpdir(), 'hostile-pvc-'));
  outside = mkdtempSync(join(tmpdir(), 'hostile-outside-'));
  dirs.push(contextRoot, outside);
  writeFileSync(join(outside, 'token'), SECRET);
  daemon = await startGitDaemon();
}, 120_000);
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  await daemon?.stop();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  for (const name of [agentNamespace, namespace]) {
    if (name) await admin.makeApiClient(CoreV1Api).deleteNamespace({ name });
  }
});

async function startAgent(queue: string): Promise<LaunchAgent> {
  const settings = normalizeConfig({
    queues: [queue],
    builder: {
      type: 'docker',
      destination: `${env.registry}/agent-it/${queue}`,
      'build-context-store': 'pvc://contexts',
    },
    launchjobs: { 'git-sources': { hosts: ['127.0.0.1'], schemes: ['git'] } },
    kubernetes: { 'target-namespaces': [namespace] },
  } as LaunchAgentConfig);
  const agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    namespace: agentNamespace,
    identity: uniqueName('agent'),
    heartbeatIntervalMs: 300,
    staleAfterMs: 2000,
    log: silentLogger,
    settings,
    contextStore: new PvcContextStore({ claim: 'contexts', prefix: '', mountPath: contextRoot }),
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

async function submit(queue: string, source: LaunchJobSpec['source']): Promise<LaunchJob> {
  return jobs.create(namespace, { name: uniqueName('lj') }, { queue, source });
}

/** The job's Failed condition, within a deadline well under the agent's build timeout. */
async function failedCondition(job: LaunchJob) {
  const failed = await waitFor(
    `${job.metadata.name} to fail`,
    () => jobs.get(namespace, job.metadata.name!),
    (j) => j.status?.phase === 'Failed',
    30_000,
  );
  expect(JSON.stringify(failed.status)).not.toContain(SECRET);
  return failed.status!.conditions!.find((c) => c.type === 'Failed')!;
}

let repos = 0;
async function gitRepo(populate: (dir: string) => void): Promise<string> {
  return Promise.resolve(daemon.makeRepo(`hostile-${repos++}`, populate));
}

/** The agent's temporary directories: every one is removed when its job ends. */
const agentTemps = () =>
  readdirSync(tmpdir()).filter((n) => /^launch-agent-(git|context)-/.test(n));

describe('the agent with a hostile job source', () => {
  it('fails a git source whose Dockerfile links to a file of the agent while writing it, naming the link', async () => {
    const queue = 'hostile-dockerfile';
    await startAgent(queue);
    const before = agentTemps();
    const url = await gitRepo((dir) =>
      symlinkSync(join(outside, 'token'), join(dir, 'Dockerfile')),
    );
    const condition = await failedCondition(await submit(queue, { git: { url, ref: 'main' } }));
    expect(condition.reason).toBe('UnsafeBuildContext');
    expect(condition.message).toMatch(/symbolic link Dockerfile -> \S+ that leaves the context/);
    await waitFor(
      'the checkout to be removed',
      async () => agentTemps(),
      (t) => t.length <= before.length,
      10_000,
    );
    expect(statSync(join(outside, 'token')).size).toBe(SECRET.length);
  }, 60_000);

  it('fails a git source whose .dockerignore links to /dev/zero, without reading it', async () => {
    const queue = 'hostile-ignore';
    await startAgent(queue);
    const url = await gitRepo((dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      symlinkSync('/dev/zero', join(dir, '.dockerignore'));
    });
    const started = Date.now();
    const condition = await failedCondition(await submit(queue, { git: { url, ref: 'main' } }));
    expect(condition.reason).toBe('UnsafeBuildContext');
    expect(condition.message).toContain('.dockerignore');
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('plans a git source whose .dockerignore has a pattern of ten ** segments in time, and runs it', async () => {
    // The matcher is linear: the plan finishes, the image is built (or found), the job runs.
    const queue = 'hostile-pattern';
    await startAgent(queue);
    const url = await gitRepo((dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
      writeFileSync(join(dir, '.dockerignore'), `${'**/'.repeat(10)}x\n`);
      let deep = dir;
      for (let i = 0; i < 40; i++) deep = join(deep, 'a');
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'y'), 'y');
    });
    const job = await submit(queue, { git: { url, ref: 'main' } });
    const running = await waitFor(
      `${job.metadata.name} to run`,
      () => jobs.get(namespace, job.metadata.name!),
      (j) => j.status?.phase === 'Running' || j.status?.phase === 'Failed',
      60_000,
    );
    expect(running.status).toMatchObject({ phase: 'Running', imageStatus: expect.any(String) });
  }, 90_000);

  it('fails a stored context whose chained links lead out of it, leaving nothing behind', async () => {
    const queue = 'hostile-links';
    await startAgent(queue);
    const src = mkdtempSync(join(tmpdir(), 'hostile-src-'));
    dirs.push(src);
    writeFileSync(join(src, 'Dockerfile'), 'FROM scratch\n');
    symlinkSync('.', join(src, 'l1'));
    symlinkSync('l1/..', join(src, 'l2'));
    symlinkSync('l2/..', join(src, 'l3'));
    const key = `contexts/${uniqueName('chain')}.tar.gz`;
    mkdirSync(join(contextRoot, 'contexts'), { recursive: true });
    await run('tar', ['czf', join(contextRoot, key), '-C', src, '.']);
    const before = agentTemps();
    const digest = `sha256:${createHash('sha256')
      .update(readFileSync(join(contextRoot, key)))
      .digest('hex')}`;
    const condition = await failedCondition(await submit(queue, { context: { key, digest } }));
    expect(condition.reason).toBe('UnsafeBuildContext');
    expect(condition.message).toContain('l2 -> l1/.. that leaves the context');
    expect(agentTemps().length).toBeLessThanOrEqual(before.length);
  }, 60_000);
});
