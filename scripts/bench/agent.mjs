#!/usr/bin/env node
// Agent overhead benchmark (not a timed test), against the test environment's kube-apiserver
// (`scripts/testenv up`, then `eval "$(scripts/testenv env)"`). In one run, side by side:
//
//   - baseline: this script itself does what the agent must do for a job whose image is
//     already there, with no logic in between: for each of N LaunchJobs, one status write
//     (the claim) and one batch/v1 Job create, N at a time in parallel;
//   - agent: `launch-agent start` as its own process (max_jobs -1), N LaunchJobs created at
//     once; per job, the time from sending the LaunchJob create to the run Job's ADDED event on
//     a watch. Scenario `prebuilt` (source.image) and, with --reused, `reused` (N jobs of one
//     stored context whose image is already in the registry, as a sweep submits them: the
//     agent downloads and unpacks it, hashes it and asks the registry once for all of them,
//     then skips the build) and `reused-alone` (the same context, one job at a time, so each
//     job pays for the download, unpacking, hashing and registry check itself).
//
// It prints p50/p90/max per scenario, the ratio of the agent's p50 to the baseline's, and the
// agent's resident memory (VmRSS) idle after start and while holding the N jobs. Results are
// recorded in docs/benchmarks.md ("Agent overhead").
//
//   pnpm bench:agent [--jobs N] [--reused] [--json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import {
  GROUP,
  PLURAL,
  VERSION,
  defaultCli as cli,
  ensureCrd,
  kubeClients,
  launchJobBody,
  log,
  percentile,
  rssMb,
  startAgent,
  waitUntil as waitFor,
} from './lib/agent-process.mjs';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '50' },
    reused: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: pnpm bench:agent [--jobs N] [--reused] [--json]\n' +
      'Needs the test environment: scripts/testenv up && eval "$(scripts/testenv env)".\n',
  );
  process.exit(0);
}
for (const name of ['KUBECONFIG', ...(args.reused ? ['DOCKER_HOST', 'TESTENV_REGISTRY'] : [])]) {
  if (!process.env[name]) {
    process.stderr.write(
      `bench:agent: ${name} is not set; run scripts/testenv up && eval "$(scripts/testenv env)"\n`,
    );
    process.exit(2);
  }
}

const N = Math.max(1, Number(args.jobs));
const { kc, core, batch, custom } = kubeClients();
const waitUntil = (what, check, timeoutMs = 120_000) => waitFor(what, check, { timeoutMs });

/** Records the local time each Job in the namespace is first seen on a watch. */
async function watchJobs(namespace) {
  const seen = new Map();
  const watch = new k8s.Watch(kc);
  const request = await watch.watch(
    `/apis/batch/v1/namespaces/${namespace}/jobs`,
    {},
    (type, job) => {
      if (type === 'ADDED' && !seen.has(job.metadata.name)) {
        seen.set(job.metadata.name, { at: performance.now(), job });
      }
    },
    () => {},
  );
  return { seen, stop: () => request.abort() };
}

/** The floor: a claim (status write) and a Job create per LaunchJob, done by this script. */
async function baseline(namespace) {
  const { seen, stop } = await watchJobs(namespace);
  const started = new Map();
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const name = `base-${i}`;
      started.set(`${name}-run`, performance.now());
      const created = await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: launchJobBody(name, 'baseline', { image: 'busybox:1.36' }),
      });
      await custom.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
        body: { ...created, status: { phase: 'Running', agent: 'baseline' } },
      });
      await batch.createNamespacedJob({
        namespace,
        body: {
          metadata: { name: `${name}-run`, labels: { 'launch-agent.dev/role': 'baseline' } },
          spec: {
            backoffLimit: 0,
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'job', image: 'busybox:1.36', args: ['true'] }],
              },
            },
          },
        },
      });
    }),
  );
  await waitUntil('the baseline Jobs', () => [...started.keys()].every((n) => seen.has(n)));
  stop();
  return [...started].map(([name, at]) => seen.get(name).at - at);
}

/** N LaunchJobs created at once; per job, create sent → run Job seen. */
async function scenario(namespace, queue, source, { sequential = false, count = N } = {}) {
  const { seen, stop } = await watchJobs(namespace);
  const started = new Map();
  const submit = async (i) => {
    const name = `${queue}-${i}`;
    started.set(name, performance.now());
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: launchJobBody(name, queue, source),
    });
    if (sequential) await waitUntil(`the run Job of ${name}`, () => runJobFor().has(name));
  };
  const runJobFor = () => {
    const byLaunchJob = new Map();
    for (const { at, job } of seen.values()) {
      const owner = job.metadata.labels?.['launch-agent.dev/launchjob'];
      if (started.has(owner)) byLaunchJob.set(owner, at);
    }
    return byLaunchJob;
  };
  if (sequential) {
    for (let i = 0; i < count; i++) await submit(i);
  } else {
    await Promise.all(Array.from({ length: count }, (_, i) => submit(i)));
  }
  await waitUntil(`${count} run Jobs for ${queue}`, () => runJobFor().size >= count, 600_000);
  stop();
  const runs = runJobFor();
  return [...started].map(([name, at]) => runs.get(name) - at);
}

/** Pushes the image a context would build, so that the agent finds it and skips the build. */
function prepareReused(scratch, config) {
  const context = join(scratch, 'context');
  mkdirSync(join(context, 'src'), { recursive: true });
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY src/ /src/\n');
  for (let i = 0; i < 200; i++) {
    writeFileSync(
      join(context, 'src', `module_${i}.py`),
      `# module ${i}\n${'x = 1\n'.repeat(200)}`,
    );
  }
  const run = (argv) =>
    execFileSync(process.execPath, [cli, ...argv], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  run(['build', context, '--config', config]);
  return context;
}

/** Latencies, and the whole batch's span divided by its size (the cost per job at that rate). */
const summary = (xs) => ({
  p50: percentile(xs, 50),
  p90: percentile(xs, 90),
  max: Math.max(...xs),
  perJob: Math.max(...xs) / xs.length,
});

const scratch = mkdtempSync(join(tmpdir(), 'bench-agent-'));
// The agent's own namespace (its Lease), and the tenant namespace it serves: the LaunchJobs and
// their run Jobs.
const agentNamespace = `bench-agent-${process.pid}`;
const namespace = `${agentNamespace}-tenant`;
const results = { jobs: N, loadavg: loadavg().map((x) => Number(x.toFixed(1))) };
let agent;
try {
  await ensureCrd(kc);
  for (const name of [agentNamespace, namespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  log(`agent namespace ${agentNamespace}, tenant namespace ${namespace}; ${N} jobs per scenario`);

  results.baseline = summary(await baseline(namespace));

  const queues = ['prebuilt', ...(args.reused ? ['reused', 'reused-alone'] : [])];
  const claim = join(scratch, 'claim');
  mkdirSync(claim);
  const config = join(scratch, 'launch-config.yaml');
  const builder = args.reused
    ? [
        'builder:',
        '  type: docker',
        `  destination: ${process.env.TESTENV_REGISTRY}/bench-agent/reused`,
        '  build-context-store: pvc://contexts',
        `  context-pvc-mount-path: ${claim}`,
      ]
    : ['builder: {type: noop}'];
  writeFileSync(
    config,
    [
      `queues: [${queues.join(', ')}]`,
      'max_jobs: -1',
      ...builder,
      `kubernetes: {namespace: ${agentNamespace}, target-namespaces: [${namespace}]}`,
    ].join('\n') + '\n',
  );
  let contextKey;
  if (args.reused) {
    const context = prepareReused(scratch, config);
    const submitted = JSON.parse(
      execFileSync(
        process.execPath,
        [
          cli,
          'submit',
          context,
          '--queue',
          'reused',
          '--config',
          config,
          '--namespace',
          namespace,
          '--json',
          '--name',
          'reused-seed',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      ),
    );
    contextKey = submitted.spec.source.context.key;
    // Only the upload was wanted: the seed job itself is not measured.
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: 'reused-seed',
    });
  }

  agent = await startAgent({ config, namespace: agentNamespace });
  await sleep(3000); // let start-up allocations settle
  results.idleRssMb = Number(rssMb(agent.pid).toFixed(1));
  log(`agent ready; idle RSS ${results.idleRssMb} MB`);

  results.prebuilt = summary(await scenario(namespace, 'prebuilt', { image: 'busybox:1.36' }));
  if (args.reused) {
    results.reused = summary(await scenario(namespace, 'reused', { context: { key: contextKey } }));
    results.reusedAlone = summary(
      await scenario(
        namespace,
        'reused-alone',
        { context: { key: contextKey } },
        { sequential: true, count: Math.min(N, 10) },
      ),
    );
  }
  results.heldRssMb = Number(rssMb(agent.pid).toFixed(1));
} finally {
  await agent?.stop();
  for (const name of [agentNamespace, namespace]) {
    await core.deleteNamespace({ name }).catch(() => undefined);
  }
  rmSync(scratch, { recursive: true, force: true });
}

if (args.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const ms = (x) => `${x.toFixed(0)} ms`;
  const row = (name, s) =>
    `${name.padEnd(10)} p50 ${ms(s.p50).padStart(8)}  p90 ${ms(s.p90).padStart(8)}  max ${ms(s.max).padStart(8)}  per job ${ms(s.perJob).padStart(6)}` +
    (name === 'baseline' || name === 'one by one'
      ? ''
      : `  p50 ratio to baseline ${(s.p50 / results.baseline.p50).toFixed(2)}x`);
  process.stdout.write(
    [
      `agent overhead, ${N} jobs queued at once (load average ${results.loadavg.join(', ')})`,
      row('baseline', results.baseline),
      row('prebuilt', results.prebuilt),
      ...(results.reused
        ? [row('reused', results.reused), row('one by one', results.reusedAlone)]
        : []),
      `agent RSS: idle ${results.idleRssMb} MB, holding ${N * (results.reused ? 2 : 1) + (results.reusedAlone ? Math.min(N, 10) : 0)} jobs ${results.heldRssMb} MB`,
      '',
    ].join('\n'),
  );
}
