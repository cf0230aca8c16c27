#!/usr/bin/env node
// Footprint benchmark (not a timed test), against the test environment's kube-apiserver
// (`scripts/testenv up`, then `eval "$(scripts/testenv env)"`). In one run, side by side with
// each goal:
//
//   - idle RSS (VmRSS) of `launch-agent start` with the noop builder, and with ECR + S3 + kaniko;
//   - RSS while holding --jobs LaunchJobs (default 1,000; noop builder, max_jobs -1);
//   - time from spawning `launch-agent start` to its first /readyz 200;
//   - `launch-agent validate` wall time against `node -e 0` (best of --runs each);
//   - what the CLI ships: its dist/ and the node_modules a production install needs.
//
// --cli and --node point it at another build, so one script measures before and after:
//   pnpm bench:footprint
//   node scripts/bench/footprint.mjs --cli /tmp/main/packages/cli/dist/bin.js --node /usr/bin/node
// Results are recorded in docs/benchmarks.md ("Footprint").
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { request as httpGet } from 'node:http';
import * as k8s from '@kubernetes/client-node';

const root = new URL('../..', import.meta.url).pathname;
const { values: args } = parseArgs({
  options: {
    cli: { type: 'string', default: join(root, 'packages/cli/dist/bin.js') },
    node: { type: 'string', default: process.execPath },
    jobs: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '7' },
    'skip-deploy': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: pnpm bench:footprint [--cli PATH/bin.js] [--node PATH] [--jobs N] [--runs N] [--skip-deploy] [--json]\n' +
      'Needs the test environment: scripts/testenv up && eval "$(scripts/testenv env)".\n' +
      '--cli/--node measure another build (e.g. a checkout of an older commit) with the same script.\n',
  );
  process.exit(0);
}
if (!process.env.KUBECONFIG || !process.env.AWS_ENDPOINT_URL) {
  process.stderr.write(
    'bench:footprint: KUBECONFIG or AWS_ENDPOINT_URL is not set; run scripts/testenv up && eval "$(scripts/testenv env)"\n',
  );
  process.exit(2);
}
const cli = resolve(args.cli);
if (!existsSync(cli)) {
  process.stderr.write(`bench:footprint: ${cli} does not exist; build it first (pnpm build)\n`);
  process.exit(2);
}
const N = Math.max(1, Number(args.jobs));
const RUNS = Math.max(1, Number(args.runs));
const log = (text) => process.stderr.write(`${text}\n`);
const GROUP = 'launch-agent.dev';
const PLURAL = 'launchjobs';

const statusOf = (url) =>
  new Promise((done) => {
    const req = httpGet(url, (res) => {
      res.resume();
      done(res.statusCode);
    });
    req.on('error', () => done(undefined));
    req.end();
  });

async function waitUntil(what, check, timeoutMs = 120_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const rssMb = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

async function ensureCrd() {
  const crd = k8s.loadYaml(
    readFileSync(join(root, 'charts/launch-agent/crds/launchjobs.launch-agent.dev.yaml'), 'utf8'),
  );
  try {
    await k8s.KubernetesObjectApi.makeApiClient(kc).create(crd);
  } catch (error) {
    if (error.code !== 409) throw error;
  }
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  await waitUntil('the LaunchJob CRD', async () => {
    const current = await api.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
}

/** Spawns `launch-agent start`; resolves once /readyz answers 200, with the time that took. */
async function startAgent(config, namespace) {
  const spawned = performance.now();
  const child = spawn(
    args.node,
    [
      cli,
      'start',
      '--config',
      config,
      '--namespace',
      namespace,
      '--port',
      '0',
      '--identity',
      'bench',
    ],
    {
      env: { ...process.env, LAUNCH_AGENT_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let port;
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk.toString();
    const m = /"msg":"health server listening".*?"port":(\d+)/.exec(stderr);
    if (m) port = Number(m[1]);
  });
  await waitUntil(
    'the agent to be ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`the agent exited: ${stderr}`);
      return port !== undefined && (await statusOf(`http://127.0.0.1:${port}/readyz`)) === 200;
    },
    60_000,
    5,
  );
  return {
    pid: child.pid,
    port,
    readyMs: performance.now() - spawned,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
    },
  };
}

/** Idle RSS after start-up settles, and the start→ready time. */
async function idle(config, namespace) {
  const agent = await startAgent(config, namespace);
  try {
    await sleep(3000);
    return { rssMb: rssMb(agent.pid), readyMs: agent.readyMs };
  } finally {
    await agent.stop();
  }
}

async function holding(config, namespace) {
  const agent = await startAgent(config, namespace);
  try {
    log(`creating ${N} LaunchJobs`);
    for (let i = 0; i < N; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, N - i) }, (_, j) =>
          custom.createNamespacedCustomObject({
            group: GROUP,
            version: 'v1alpha1',
            plural: PLURAL,
            namespace,
            body: {
              apiVersion: `${GROUP}/v1alpha1`,
              kind: 'LaunchJob',
              metadata: { name: `held-${i + j}` },
              spec: { queue: 'held', source: { image: 'busybox:1.36' }, run: { args: ['true'] } },
            },
          }),
        ),
      );
    }
    await waitUntil(
      `${N} run Jobs`,
      async () => (await batch.listNamespacedJob({ namespace })).items.length >= N,
      600_000,
      1000,
    );
    await sleep(3000);
    return { rssMb: rssMb(agent.pid) };
  } finally {
    await agent.stop();
  }
}

function wallMs(argv) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const result = spawnSync(args.node, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(performance.now() - started);
    if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
  }
  return Math.min(...times);
}

const du = (path) => Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);

/** dist/ of the CLI, and a production install of it (`pnpm deploy --prod`), in bytes. */
function shipped() {
  const cliPackage = dirname(dirname(cli));
  const result = { distBytes: du(join(cliPackage, 'dist')) };
  if (args['skip-deploy']) return result;
  const out = mkdtempSync(join(tmpdir(), 'bench-footprint-deploy-'));
  try {
    execFileSync(
      'pnpm',
      ['--filter', 'launch-agent', 'deploy', '--prod', '--legacy', join(out, 'app')],
      {
        cwd: dirname(dirname(cliPackage)),
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    result.nodeModulesBytes = du(join(out, 'app/node_modules'));
    result.appBytes = du(join(out, 'app'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return result;
}

const scratch = mkdtempSync(join(tmpdir(), 'bench-footprint-'));
const namespace = `bench-footprint-${process.pid}`;
const nodeVersion = execFileSync(args.node, ['--version'], { encoding: 'utf8' }).trim();
const results = { cli, node: nodeVersion, jobs: N };
try {
  await ensureCrd();
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const noop = join(scratch, 'noop.yaml');
  writeFileSync(noop, 'queues: [held]\nmax_jobs: -1\nbuilder: {type: noop}\n');
  const clouds = join(scratch, 'ecr-s3-kaniko.yaml');
  writeFileSync(
    clouds,
    [
      'queues: [idle]',
      'environment: {type: aws, region: us-east-1}',
      'builder:',
      '  type: kaniko',
      '  destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/bench-footprint',
      '  build-context-store: s3://bench-footprint/contexts',
      '',
    ].join('\n'),
  );
  log(`${nodeVersion} ${cli}`);
  results.noop = await idle(noop, namespace);
  log(
    `noop: idle ${results.noop.rssMb.toFixed(1)} MB, ready in ${results.noop.readyMs.toFixed(0)} ms`,
  );
  results.clouds = await idle(clouds, namespace);
  log(`ecr+s3+kaniko: idle ${results.clouds.rssMb.toFixed(1)} MB`);
  results.held = await holding(noop, namespace);
  log(`holding ${N}: ${results.held.rssMb.toFixed(1)} MB`);
  results.nodeMs = wallMs(['-e', '0']);
  results.validateMs = wallMs([cli, 'validate', '--config', noop]);
  results.shipped = shipped();
} finally {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
}

if (args.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  const row = (what, value, goal, met) =>
    `${what.padEnd(38)} ${value.padStart(10)}   goal ${goal.padEnd(8)} ${met ? 'met' : 'NOT met'}`;
  const ratio = results.validateMs / results.nodeMs;
  process.stdout.write(
    [
      `footprint of ${cli} on node ${nodeVersion}`,
      row(
        'idle RSS, noop builder',
        `${results.noop.rssMb.toFixed(1)} MB`,
        '< 80 MB',
        results.noop.rssMb < 80,
      ),
      row(
        'idle RSS, ECR + S3 + kaniko',
        `${results.clouds.rssMb.toFixed(1)} MB`,
        '< 90 MB',
        results.clouds.rssMb < 90,
      ),
      row(
        `RSS holding ${N} LaunchJobs`,
        `${results.held.rssMb.toFixed(1)} MB`,
        '< 150 MB',
        results.held.rssMb < 150,
      ),
      row(
        'start to /readyz 200 (noop)',
        `${results.noop.readyMs.toFixed(0)} ms`,
        '< 1 s',
        results.noop.readyMs < 1000,
      ),
      row(`validate / node -e 0 (best of ${RUNS})`, `${ratio.toFixed(2)}x`, '< 3x', ratio < 3) +
        `  (${results.validateMs.toFixed(0)} ms / ${results.nodeMs.toFixed(0)} ms)`,
      `shipped: dist ${mb(results.shipped.distBytes)}` +
        (results.shipped.nodeModulesBytes !== undefined
          ? `, production node_modules ${mb(results.shipped.nodeModulesBytes)} (pnpm deploy --prod: ${mb(results.shipped.appBytes)} in all)`
          : ''),
      '',
    ].join('\n'),
  );
}
