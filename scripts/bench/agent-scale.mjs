#!/usr/bin/env node
// Agent scale benchmark (not a timed test), against the test environment's kube-apiserver
// (`scripts/testenv up`, then `eval "$(scripts/testenv env)"`). Three `launch-agent start`
// processes share one queue and serve the same 20 tenant namespaces; LaunchJobs with prebuilt
// images are submitted round-robin over those namespaces and run there (nothing runs their pods:
// the test environment has no kubelet, so every run Job stays active). In one run it prints:
//
//   - claim-to-run-Job latency, p50 and p99: from the first watch event that shows a job
//     claimed to the ADDED event of its run Job;
//   - API writes per second at steady state with 10 running jobs and with N (default 1,000),
//     read from the API server's own apiserver_request_total (every write any client made in a
//     20 s window with nothing else happening), and their ratio (near 1: writes do not grow with
//     running jobs);
//   - each agent's resident memory (VmRSS) holding its share of the N jobs;
//   - the baseline, first, in 20 namespaces of its own: one bare client making the same creates
//     and the same four writes per job (claim, run Job, Running, Event) at concurrency 16
//     (lib/bare-client.mjs), and the agents' time to run all N against it as a ratio.
//
// Results are recorded in docs/benchmarks.md ("Agent at scale").
//
//   pnpm bench:agent:scale [--jobs N] [--window SECONDS] [--json]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { bareClientBurst } from './lib/bare-client.mjs';
import {
  GROUP,
  PLURAL,
  VERSION,
  createLaunchJobs,
  ensureCrd,
  kubeClients,
  log,
  percentile,
  rssMb,
  spawnAgent,
  waitUntil as waitFor,
} from './lib/agent-process.mjs';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    window: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: pnpm bench:agent:scale [--jobs N] [--window SECONDS] [--json]\n' +
      'Needs the test environment: scripts/testenv up && eval "$(scripts/testenv env)".\n',
  );
  process.exit(0);
}
if (!process.env.KUBECONFIG) {
  process.stderr.write(
    'bench:agent:scale: KUBECONFIG is not set; run scripts/testenv up && eval "$(scripts/testenv env)"\n',
  );
  process.exit(2);
}

const N = Math.max(20, Number(args.jobs));
const WINDOW_S = Math.max(5, Number(args.window));
const AGENTS = 3;
/** Tenant namespaces the agents serve; the jobs are spread over them. */
const TENANTS = 20;
const { kc, core, custom } = kubeClients();
const waitUntil = (what, check, timeoutMs = 600_000) =>
  waitFor(what, check, { timeoutMs, everyMs: 50 });

/** Every write the API server has served so far: apiserver_request_total for writing verbs. */
async function apiWrites() {
  const options = { method: 'GET', headers: {} };
  await kc.applyToHTTPSOptions(options);
  const url = new URL('/metrics', kc.getCurrentCluster().server);
  const text = await new Promise((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (!/verb="(POST|PUT|PATCH|DELETE|APPLY)"/.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function writesPerSecond() {
  const before = await apiWrites();
  const started = performance.now();
  await sleep(WINDOW_S * 1000);
  const after = await apiWrites();
  return (after - before) / ((performance.now() - started) / 1000);
}

/**
 * Watches LaunchJobs and Jobs in every namespace (one watch each, as the admin; only the tenant
 * namespaces count): when each job was first seen claimed, and its run Job added. Keys are
 * `namespace/name`.
 */
async function observe(namespaces) {
  const claimed = new Map();
  const holder = new Map();
  const running = new Set();
  const runJob = new Map();
  const served = new Set(namespaces);
  const watch = new k8s.Watch(kc);
  const a = await watch.watch(
    `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    {},
    (type, job) => {
      if (!served.has(job.metadata.namespace)) return;
      const name = `${job.metadata.namespace}/${job.metadata.name}`;
      if (job.status?.agent && !claimed.has(name)) {
        claimed.set(name, performance.now());
        holder.set(name, job.status.agent);
      }
      if (job.status?.phase === 'Running') running.add(name);
    },
    () => {},
  );
  const b = await watch.watch(
    `/apis/batch/v1/jobs`,
    { labelSelector: 'launch-agent.dev/role=run' },
    (type, job) => {
      if (!served.has(job.metadata.namespace)) return;
      const owner = job.metadata.ownerReferences?.find((ref) => ref.kind === 'LaunchJob')?.name;
      const key = owner && `${job.metadata.namespace}/${owner}`;
      if (type === 'ADDED' && key && !runJob.has(key)) runJob.set(key, performance.now());
    },
    () => {},
  );
  return { claimed, holder, running, runJob, stop: () => (a.abort(), b.abort()) };
}

const submit = (namespaces, from, to) =>
  createLaunchJobs(custom, namespaces, { prefix: 'scale-', queue: 'scale', from, to });

const scratch = mkdtempSync(join(tmpdir(), 'bench-scale-'));
// The agents' own namespace (their Leases), and the tenant namespaces they serve.
const namespace = `bench-scale-${process.pid}`;
const tenants = Array.from({ length: TENANTS }, (_, i) => `${namespace}-t${i}`);
const bareTenants = Array.from({ length: TENANTS }, (_, i) => `${namespace}-b${i}`);
const results = { jobs: N, agents: AGENTS, windowSeconds: WINDOW_S };
const agents = [];
let observer;
try {
  await ensureCrd(kc);
  for (const name of [namespace, ...tenants, ...bareTenants]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  // The baseline first, on a quiet API server and in namespaces the agents never watch.
  const runtime = await import('../../packages/runtime/dist/index.js');
  const runtimeKc = runtime.loadKubeConfig();
  results.bareClientSeconds = await bareClientBurst({
    runtime,
    kc: runtimeKc,
    namespaces: bareTenants,
    prefix: 'bare-',
    count: N,
  });
  log(`bare client: ${N} jobs created and run in ${results.bareClientSeconds.toFixed(1)} s`);
  const config = join(scratch, 'launch-config.yaml');
  const perAgent = Math.ceil((N * 1.2) / AGENTS);
  writeFileSync(
    config,
    [
      'queues: [scale]',
      `max_jobs: ${perAgent}`,
      'builder: {type: noop}',
      `kubernetes: {namespace: ${namespace}, target-namespaces: [${tenants.join(', ')}]}`,
    ].join('\n') + '\n',
  );
  for (let i = 0; i < AGENTS; i++)
    agents.push(spawnAgent({ config, namespace, identity: `scale-agent-${i}` }));
  await waitUntil('the agents to be ready', () => {
    const dead = agents.find((agent) => agent.exited());
    if (dead) throw new Error(`${dead.identity} exited:\n${dead.log()}`);
    return agents.every((agent) => agent.loggedReady());
  });
  observer = await observe(tenants);
  log(
    `${AGENTS} agents ready in ${namespace}, serving ${TENANTS} tenant namespaces (max_jobs ${perAgent} each)`,
  );

  await submit(tenants, 0, 10);
  await waitUntil('10 jobs running', () => observer.running.size >= 10);
  await sleep(3000); // the Events of the last steps are written asynchronously
  results.writesPerSecondAt10 = await writesPerSecond();
  log(`10 running: ${results.writesPerSecondAt10.toFixed(2)} writes/s`);

  const submitted = performance.now();
  await submit(tenants, 10, N);
  await waitUntil(`${N} jobs running`, () => observer.running.size >= N);
  results.secondsToRunAll = (performance.now() - submitted) / 1000;
  await sleep(5000);
  results.writesPerSecondAtN = await writesPerSecond();
  log(`${N} running: ${results.writesPerSecondAtN.toFixed(2)} writes/s`);

  const latencies = [...observer.runJob].map(([name, at]) => at - observer.claimed.get(name));
  results.claimToRunJobMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  const share = {};
  for (const agent of observer.holder.values()) share[agent] = (share[agent] ?? 0) + 1;
  results.agents = agents.map((agent) => ({
    identity: agent.identity,
    jobs: share[agent.identity] ?? 0,
    rssMb: Number(rssMb(agent.pid).toFixed(1)),
  }));
  results.loadavg = loadavg().map((x) => Number(x.toFixed(1)));
} finally {
  observer?.stop();
  await Promise.all(agents.map((agent) => agent.stop()));
  for (const name of [namespace, ...tenants, ...bareTenants]) {
    await core.deleteNamespace({ name }).catch(() => undefined);
  }
  rmSync(scratch, { recursive: true, force: true });
}

if (args.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const ratio = results.writesPerSecondAtN / results.writesPerSecondAt10;
  process.stdout.write(
    [
      `agent at scale: ${AGENTS} agents, ${N} LaunchJobs (prebuilt), load average ${results.loadavg.join(', ')}`,
      `claim to run Job: p50 ${results.claimToRunJobMs.p50.toFixed(0)} ms, p99 ${results.claimToRunJobMs.p99.toFixed(0)} ms; all ${N} running ${results.secondsToRunAll.toFixed(1)} s after submit`,
      `baseline, one bare client doing the same creates and writes at concurrency 16: ${results.bareClientSeconds.toFixed(1)} s; agents / baseline ${(results.secondsToRunAll / results.bareClientSeconds).toFixed(2)}x`,
      `API writes/s at steady state (all clients, ${WINDOW_S} s window): ${results.writesPerSecondAt10.toFixed(2)} with 10 running, ${results.writesPerSecondAtN.toFixed(2)} with ${N} running: ratio ${ratio.toFixed(2)}x`,
      ...results.agents.map((a) => `${a.identity}: ${a.jobs} jobs, RSS ${a.rssMb} MB`),
      '',
    ].join('\n'),
  );
}
