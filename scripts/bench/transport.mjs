#!/usr/bin/env node
// Transport benchmark (not a timed test), against the test environment's kube-apiserver
// (`scripts/testenv up`, then `eval "$(scripts/testenv env)"`): the agent's own transport,
// packages/runtime/src/kubernetes/raw-request.ts (with the pinned client-node's KubeConfig), against
// @kubernetes/client-node's generated API classes and Watch at a given version (default: the
// latest on npm, installed into a temporary directory; the project's pinned version is untouched).
//
// Each side is bundled the way scripts/bundle.mjs bundles the agent (esbuild, tree-shaken,
// minified) and runs in its own child process (scripts/bench/lib/transport-child.mjs), which
// measures: the import (ms, RSS after it), then with 20 watches on the namespace's ConfigMaps held
// open, 1,000 GETs and 1,000 PUTs (status-like replaces of 16 ConfigMaps) at concurrency 16: time,
// RSS after the work and at its peak (VmHWM), heap used, and TCP connections opened to the API
// server, counted two ways (calls of net.Socket#connect in the child; distinct local ports of the
// child's ESTABLISHED sockets to the API server's port, sampled every 50 ms from /proc by this
// process). It also imports client-node unbundled, as a program that does not bundle would.
// Prints medians of --runs runs (sides alternate) and the ratios client-node / ours.
// Results are recorded in docs/benchmarks.md ("Transport").
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { httpByRequire, sideEffectFree } from '../bundle.mjs';
import { kubeClients, log, requireTestenv, root } from './lib/agent-process.mjs';

const { values: args } = parseArgs({
  options: {
    version: { type: 'string', default: 'latest' },
    'client-node-dir': { type: 'string' },
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    watches: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: pnpm bench:transport [--version V] [--client-node-dir DIR] [--runs N] [--requests N]\n' +
      '                            [--concurrency N] [--watches N] [--json]\n' +
      'Needs the test environment: scripts/testenv up && eval "$(scripts/testenv env)".\n' +
      '--version: the @kubernetes/client-node to compare with (default latest), installed with\n' +
      '`npm install --prefix <tmpdir>`; --client-node-dir reuses such a directory instead.\n' +
      '--requests: GETs, and as many PUTs (default 1000 each).\n',
  );
  process.exit(0);
}
requireTestenv('bench:transport');
const RUNS = Math.max(1, Number(args.runs));
const REQUESTS = Math.max(1, Number(args.requests));
const CONCURRENCY = Math.max(1, Number(args.concurrency));
const WATCHES = Math.max(0, Number(args.watches));
const { kc, core } = kubeClients();
const apiPort = Number(new URL(kc.getCurrentCluster().server).port || 443);

const scratch = mkdtempSync(join(tmpdir(), 'bench-transport-'));
const clientNodeDir = args['client-node-dir'] ?? join(scratch, 'client-node');
const clientNodeIndex = join(clientNodeDir, 'node_modules/@kubernetes/client-node/dist/index.js');
if (!args['client-node-dir']) {
  log(`installing @kubernetes/client-node@${args.version} into ${clientNodeDir}`);
  execFileSync(
    'npm',
    ['install', '--prefix', clientNodeDir, '--no-save', `@kubernetes/client-node@${args.version}`],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      // Without the npm_config_* variables pnpm sets for its own settings, which npm warns about;
      // npm reads the .npmrc files itself.
      env: Object.fromEntries(
        Object.entries(process.env).filter(([name]) => !name.startsWith('npm_config_')),
      ),
    },
  );
}
if (!existsSync(clientNodeIndex)) {
  process.stderr.write(`bench:transport: no ${clientNodeIndex}\n`);
  process.exit(2);
}
const clientNodeVersion = JSON.parse(
  readFileSync(join(clientNodeDir, 'node_modules/@kubernetes/client-node/package.json'), 'utf8'),
).version;
const pinnedVersion = JSON.parse(readFileSync(join(root, 'packages/runtime/package.json'), 'utf8'))
  .dependencies['@kubernetes/client-node'];

// The two sides, written as the agent would use them. Both read the kubeconfig the same way.
const ours = `
import { KubeConfig } from '@kubernetes/client-node';
import { kubeJsonRequest, kubeWatch } from './kubernetes/raw-request.ts';
export function client(namespace) {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const base = '/api/v1/namespaces/' + namespace + '/configmaps';
  return {
    get: (name) => kubeJsonRequest(kc, 'GET', base + '/' + name),
    put: (name, body) => kubeJsonRequest(kc, 'PUT', base + '/' + name, body),
    watch: (signal, onEvent, onOpen) =>
      kubeWatch(kc, base + '?watch=true', { signal, onEvent, onOpen, idleTimeoutMs: 600000 }),
  };
}`;
const theirs = `
import { KubeConfig, CoreV1Api, Watch } from ${JSON.stringify(clientNodeIndex)};
export function client(namespace) {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  // Its inactivity timeout (30 s) would end a watch while the GETs run; ours waits 10 minutes.
  watcher.requestTimeoutMs = 600000;
  return {
    get: (name) => api.readNamespacedConfigMap({ name, namespace }),
    put: (name, body) => api.replaceNamespacedConfigMap({ name, namespace, body }),
    watch: (signal, onEvent, onOpen) =>
      new Promise((resolve, reject) => {
        const path = '/api/v1/namespaces/' + namespace + '/configmaps';
        watcher
          .watch(path, {}, (type, object) => onEvent(type, object), (error) =>
            error && !signal.aborted ? reject(error) : resolve())
          .then((controller) => {
            onOpen();
            signal.addEventListener('abort', () => controller.abort(), { once: true });
          }, reject);
      }),
  };
}`;

/** Bundles one side as scripts/bundle.mjs bundles the agent; returns its path and JS bytes. */
async function bundleSide(name, contents, resolveDir) {
  const outfile = join(scratch, `${name}.mjs`);
  const result = await esbuild.build({
    stdin: { contents, resolveDir, sourcefile: `${name}.ts`, loader: 'ts' },
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    logLevel: 'error',
    alias: { 'whatwg-url': join(root, 'scripts/bundle-shims/whatwg-url.mjs') },
    banner: {
      js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);",
    },
    plugins: [httpByRequire, sideEffectFree],
  });
  return { module: outfile, bytes: Object.values(result.metafile.outputs)[0].bytes };
}

/** Socket inodes of a process, from /proc/PID/fd. */
function socketInodes(pid) {
  const inodes = new Set();
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes; // the child has exited
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Local ports of the process's ESTABLISHED TCP connections to the API server's port. */
function apiConnections(pid) {
  const inodes = socketInodes(pid);
  const ports = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '01') continue;
      const remotePort = parseInt(fields[2].split(':')[1], 16);
      if (remotePort === apiPort && inodes.has(fields[9])) {
        ports.push(parseInt(fields[1].split(':')[1], 16));
      }
    }
  }
  return ports;
}

/** Runs the child on one side; samples its connections from /proc while it runs. */
function runChild(side, job) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', join(root, 'scripts/bench/lib/transport-child.mjs'), JSON.stringify(job)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const seen = new Set();
    let openPeak = 0;
    const sampler = setInterval(() => {
      const ports = apiConnections(child.pid);
      for (const port of ports) seen.add(port);
      openPeak = Math.max(openPeak, ports.length);
    }, 50);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) {
        reject(new Error(`${side}: child exited with ${code}`));
        return;
      }
      resolve({ ...JSON.parse(out), distinctPorts: seen.size, openPeak });
    });
  });
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const namespace = `bench-transport-${process.pid}`;
const results = {
  node: process.version,
  pinned: pinnedVersion,
  clientNode: clientNodeVersion,
  requests: REQUESTS,
  concurrency: CONCURRENCY,
  watches: WATCHES,
  loadBefore: load(),
  runs: { ours: [], clientNode: [], clientNodeUnbundled: [] },
};
try {
  const sides = {
    ours: await bundleSide('ours', ours, join(root, 'packages/runtime/src')),
    clientNode: await bundleSide('client-node', theirs, scratch),
  };
  results.bundleBytes = { ours: sides.ours.bytes, clientNode: sides.clientNode.bytes };
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let i = 0; i < CONCURRENCY; i++) {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: `bench-${i}` }, data: { phase: 'Pending' } },
    });
  }
  const job = { namespace, apiPort, gets: REQUESTS, puts: REQUESTS, concurrency: CONCURRENCY };
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? ['ours', 'clientNode'] : ['clientNode', 'ours'];
    for (const side of order) {
      const measured = await runChild(side, {
        ...job,
        watches: WATCHES,
        module: sides[side].module,
      });
      results.runs[side].push(measured);
      log(
        `run ${run + 1} ${side}: ${measured.workMs.toFixed(0)} ms, RSS peak ${measured.rssPeakMb.toFixed(1)} MB, ` +
          `${measured.connects} connects, ${measured.distinctPorts} ports seen (load ${load()})`,
      );
    }
    results.runs.clientNodeUnbundled.push(
      await runChild('clientNodeUnbundled', {
        ...job,
        module: clientNodeIndex,
        importOnly: true,
      }),
    );
  }
} finally {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
}
results.loadAfter = load();

const pick = (side, path) =>
  median(results.runs[side].map((r) => path.split('.').reduce((o, k) => o[k], r)));
const METRICS = [
  ['bare Node.js RSS before the import', 'bare.rssMb', 'MB'],
  ['import (bundled)', 'importMs', 'ms'],
  ['RSS after the import, idle', 'idle.rssMb', 'MB'],
  ['heap used after the import', 'idle.heapUsedMb', 'MB'],
  [`${REQUESTS} GETs`, 'getsMs', 'ms'],
  [`${REQUESTS} PUTs`, 'putsMs', 'ms'],
  ['work (GETs + PUTs)', 'workMs', 'ms'],
  ['RSS peak (VmHWM)', 'rssPeakMb', 'MB'],
  ['RSS after the work', 'after.rssMb', 'MB'],
  ['heap used, peak during the work', 'heapPeakMb', 'MB'],
  ['heap used after the work', 'after.heapUsedMb', 'MB'],
  ['connections opened (connect calls)', 'connects', ''],
  ['  of them for the GETs and PUTs', 'connectsForWork', ''],
  ['connections seen in /proc (ports)', 'distinctPorts', ''],
  ['connections open at once, peak', 'openPeak', ''],
];
results.medians = Object.fromEntries(
  METRICS.map(([, path]) => [
    path,
    { ours: pick('ours', path), clientNode: pick('clientNode', path) },
  ]),
);
const unbundled = {
  importMs: pick('clientNodeUnbundled', 'importMs'),
  rssMb: pick('clientNodeUnbundled', 'idle.rssMb'),
};

if (args.json) {
  process.stdout.write(`${JSON.stringify({ ...results, unbundled }, null, 2)}\n`);
} else {
  const value = (x, unit) =>
    `${unit === '' ? x.toFixed(0) : x.toFixed(1)}${unit ? ` ${unit}` : ''}`;
  const lines = [
    `transport: ours (raw-request.ts, client-node ${pinnedVersion}'s KubeConfig) vs @kubernetes/client-node ${clientNodeVersion} ` +
      `(CoreV1Api, Watch); ${REQUESTS} GETs + ${REQUESTS} PUTs at concurrency ${CONCURRENCY}, ${WATCHES} watches; ` +
      `node ${process.version}; medians of ${RUNS} runs; load ${results.loadBefore} before, ${results.loadAfter} after`,
    `${'measure'.padEnd(38)} ${'ours'.padStart(10)} ${'client-node'.padStart(12)}   client-node / ours`,
    `${'bundle (JS loaded at start)'.padEnd(38)} ${value(results.bundleBytes.ours / 1e6, 'MB').padStart(10)} ${value(results.bundleBytes.clientNode / 1e6, 'MB').padStart(12)}   ${(results.bundleBytes.clientNode / results.bundleBytes.ours).toFixed(2)}x`,
  ];
  for (const [what, path, unit] of METRICS) {
    const { ours: a, clientNode: b } = results.medians[path];
    const ratio = a === 0 ? (b === 0 ? '1.00x' : 'n/a') : `${(b / a).toFixed(2)}x`;
    lines.push(
      `${what.padEnd(38)} ${value(a, unit).padStart(10)} ${value(b, unit).padStart(12)}   ${ratio}`,
    );
  }
  lines.push(
    `client-node ${clientNodeVersion} imported unbundled (node_modules, ESM): ${unbundled.importMs.toFixed(0)} ms, ` +
      `RSS ${unbundled.rssMb.toFixed(1)} MB idle`,
    `watch events received: ours ${pick('ours', 'watchEvents')}, client-node ${pick('clientNode', 'watchEvents')}`,
    '',
  );
  process.stdout.write(lines.join('\n'));
}
