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
// --node-arg and --env start the agent with Node.js/V8 flags or environment variables, to measure
// what a flag is worth:
//   node scripts/bench/footprint.mjs --node-arg=--max-semi-space-size=1 --env MALLOC_ARENA_MAX=2
// Results are recorded in docs/benchmarks.md ("Footprint").
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  createLaunchJobs,
  defaultCli,
  ensureCrd,
  kubeClients,
  log,
  memoryOf,
  startAgent,
  waitUntil,
} from './lib/agent-process.mjs';

const { values: args } = parseArgs({
  options: {
    cli: { type: 'string', default: defaultCli },
    node: { type: 'string', default: process.execPath },
    'node-arg': { type: 'string', multiple: true, default: [] },
    env: { type: 'string', multiple: true, default: [] },
    jobs: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '7' },
    'skip-deploy': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: pnpm bench:footprint [--cli PATH/bin.js] [--node PATH] [--node-arg FLAG]... [--env NAME=VALUE]...\n' +
      '                            [--jobs N] [--runs N] [--skip-deploy] [--json]\n' +
      'Needs the test environment: scripts/testenv up && eval "$(scripts/testenv env)".\n' +
      '--cli/--node measure another build (e.g. a checkout of an older commit) with the same script.\n' +
      '--node-arg and --env start the agent with a Node.js/V8 flag or an environment variable\n' +
      '(e.g. --node-arg=--max-semi-space-size=1 --env MALLOC_ARENA_MAX=2); validate runs without them.\n',
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
const agentEnv = Object.fromEntries(
  args.env.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) {
      process.stderr.write(`bench:footprint: --env ${pair}: expected NAME=VALUE\n`);
      process.exit(2);
    }
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const { kc, core, batch, custom } = kubeClients();

const agentOptions = (config, namespace) => ({
  cli,
  node: args.node,
  nodeArgs: args['node-arg'],
  env: agentEnv,
  config,
  namespace,
});
const rounded = (memory) =>
  Object.fromEntries(Object.entries(memory).map(([k, v]) => [k, Number(v.toFixed(1))]));

/** Idle RSS after start-up settles, and the start→ready time. */
async function idle(config, namespace) {
  const agent = await startAgent(agentOptions(config, namespace));
  try {
    await sleep(3000);
    return { ...rounded(memoryOf(agent.pid)), readyMs: agent.readyMs };
  } finally {
    await agent.stop();
  }
}

/** RSS holding N LaunchJobs created in `tenant`, the namespace the config serves. */
async function holding(config, namespace, tenant) {
  const agent = await startAgent(agentOptions(config, namespace));
  try {
    log(`creating ${N} LaunchJobs in ${tenant}`);
    await createLaunchJobs(custom, tenant, { prefix: 'held-', queue: 'held', to: N });
    await waitUntil(
      `${N} run Jobs`,
      async () => (await batch.listNamespacedJob({ namespace: tenant })).items.length >= N,
      { timeoutMs: 600_000, everyMs: 1000 },
    );
    await sleep(3000);
    return rounded(memoryOf(agent.pid));
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
// The agent's own namespace, and the tenant namespace it serves (the held LaunchJobs).
const namespace = `bench-footprint-${process.pid}`;
const tenant = `${namespace}-tenant`;
const served = `kubernetes: {namespace: ${namespace}, target-namespaces: [${tenant}]}`;
const nodeVersion = execFileSync(args.node, ['--version'], { encoding: 'utf8' }).trim();
const results = {
  cli,
  node: nodeVersion,
  nodeArgs: args['node-arg'],
  env: agentEnv,
  jobs: N,
};
try {
  await ensureCrd(kc);
  for (const name of [namespace, tenant]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  const noop = join(scratch, 'noop.yaml');
  writeFileSync(noop, `queues: [held]\nmax_jobs: -1\nbuilder: {type: noop}\n${served}\n`);
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
      served,
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
  results.held = await holding(noop, namespace, tenant);
  log(`holding ${N}: ${results.held.rssMb.toFixed(1)} MB`);
  results.nodeMs = wallMs(['-e', '0']);
  results.validateMs = wallMs([cli, 'validate', '--config', noop]);
  results.shipped = shipped();
} finally {
  for (const name of [namespace, tenant]) {
    await core.deleteNamespace({ name }).catch(() => undefined);
  }
  rmSync(scratch, { recursive: true, force: true });
}

if (args.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  const row = (what, value, goal, met) =>
    `${what.padEnd(38)} ${value.padStart(10)}   goal ${goal.padEnd(8)} ${met ? 'met' : 'NOT met'}`;
  const ratio = results.validateMs / results.nodeMs;
  const parts = (m) => `${m.anonMb.toFixed(1)} / ${m.fileMb.toFixed(1)} MB`;
  process.stdout.write(
    [
      `footprint of ${cli} on node ${nodeVersion}` +
        (args['node-arg'].length + args.env.length > 0
          ? ` (agent started with ${[...args.env, ...args['node-arg']].join(' ')})`
          : ''),
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
      `  resident parts, anonymous / file-backed: noop ${parts(results.noop)}, ECR + S3 + kaniko ${parts(results.clouds)}, holding ${parts(results.held)}`,
      `shipped: dist ${mb(results.shipped.distBytes)}` +
        (results.shipped.nodeModulesBytes !== undefined
          ? `, production node_modules ${mb(results.shipped.nodeModulesBytes)} (pnpm deploy --prod: ${mb(results.shipped.appBytes)} in all)`
          : ''),
      '',
    ].join('\n'),
  );
}
