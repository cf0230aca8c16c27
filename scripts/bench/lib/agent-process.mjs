// What the agent benchmarks share: starting `launch-agent start` as its own process and knowing
// when it is ready, reading its memory from /proc, waiting on a condition with a deadline, and the
// test environment's API server (the LaunchJob CRD, LaunchJobs created in batches).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpGet } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';

export const root = new URL('../../..', import.meta.url).pathname;
export const defaultCli = join(root, 'packages/cli/dist/bin.js');
export const GROUP = 'launch-agent.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'launchjobs';

export const log = (text) => process.stderr.write(`${text}\n`);

/** Exits with a hint unless the test environment's KUBECONFIG is set. */
export function requireTestenv(bench) {
  if (process.env.KUBECONFIG) return;
  process.stderr.write(
    `${bench}: KUBECONFIG is not set; run scripts/testenv up && eval "$(scripts/testenv env)"\n`,
  );
  process.exit(2);
}

/** Polls `check` every `everyMs` until it is true; throws once `timeoutMs` has passed. */
export async function waitUntil(what, check, { timeoutMs = 120_000, everyMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The HTTP status of a GET, or undefined when nothing answers. */
export const statusOf = (url) =>
  new Promise((done) => {
    const req = httpGet(url, (res) => {
      res.resume();
      done(res.statusCode);
    });
    req.on('error', () => done(undefined));
    req.end();
  });

/**
 * A process's memory from /proc/PID/status, in MB: resident (VmRSS) and its parts, anonymous
 * (heap, V8, native allocations) and file-backed (the node binary, shared libraries).
 */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return {
    rssMb: kb('VmRSS') / 1024,
    anonMb: kb('RssAnon') / 1024,
    fileMb: kb('RssFile') / 1024,
  };
}

export const rssMb = (pid) => memoryOf(pid).rssMb;

export const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/**
 * Spawns `launch-agent start` (JSON logs on stderr, kept: the last 20,000 characters). `namespace`
 * is the agent's own (its Lease and build Jobs); the config's kubernetes.target-namespaces names
 * the tenant namespaces whose LaunchJobs it takes. `nodeArgs` go before the script (V8/Node
 * flags), `env` is added to this process's environment.
 */
export function spawnAgent({
  config,
  namespace,
  identity = 'bench',
  cli = defaultCli,
  node = process.execPath,
  nodeArgs = [],
  env = {},
}) {
  const spawned = performance.now();
  const child = spawn(
    node,
    [
      ...nodeArgs,
      cli,
      'start',
      '--config',
      config,
      '--namespace',
      namespace,
      '--port',
      '0',
      '--identity',
      identity,
    ],
    {
      env: { ...process.env, LAUNCH_AGENT_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let port;
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
    const m = port === undefined && /"msg":"health server listening".*?"port":(\d+)/.exec(stderr);
    if (m) port = Number(m[1]);
  });
  const agent = {
    identity,
    pid: child.pid,
    get port() {
      return port;
    },
    exited: () => child.exitCode !== null,
    log: () => stderr,
    /** The agent logged that it is ready (no probe request). */
    loggedReady: () => /"msg":"agent ready"/.test(stderr),
    /** Resolves once /readyz answers 200, with the milliseconds since the spawn. */
    async waitReady({ timeoutMs = 60_000, everyMs = 5 } = {}) {
      await waitUntil(
        `${identity} to be ready`,
        async () => {
          if (child.exitCode !== null) throw new Error(`${identity} exited:\n${stderr}`);
          return port !== undefined && (await statusOf(`http://127.0.0.1:${port}/readyz`)) === 200;
        },
        { timeoutMs, everyMs },
      );
      return performance.now() - spawned;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
    },
  };
  return agent;
}

/** spawnAgent, resolved once /readyz answers 200; `readyMs` is the time that took. */
export async function startAgent(options) {
  const agent = spawnAgent(options);
  agent.readyMs = await agent.waitReady();
  return agent;
}

/** Clients for the test environment's API server (KUBECONFIG). */
export function kubeClients() {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
}

/** Applies the chart's LaunchJob CRD (if it is not there) and waits until it is Established. */
export async function ensureCrd(kc) {
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

export function launchJobBody(name, queue, source, run = { args: ['true'] }) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'LaunchJob',
    metadata: { name },
    spec: { queue, source, run },
  };
}

/**
 * Creates LaunchJobs `${prefix}${from}` … `${prefix}${to - 1}`, `batch` at a time, in the tenant
 * namespace `namespaces` names, or, given a list, job i in `namespaces[i % length]`.
 */
export async function createLaunchJobs(
  custom,
  namespaces,
  { prefix, queue, from = 0, to, batch = 50, source = { image: 'busybox:1.36' } },
) {
  const spread = Array.isArray(namespaces) ? namespaces : [namespaces];
  for (let i = from; i < to; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, to - i) }, (_, j) =>
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: spread[(i + j) % spread.length],
          body: launchJobBody(`${prefix}${i + j}`, queue, source),
        }),
      ),
    );
  }
}
