// One side of `pnpm bench:transport` (scripts/bench/transport.mjs), in its own process so its
// memory is its own: imports a bundled client module, measures the import, then does the work
// (GETs, PUTs, watches held open) and prints one JSON line of measurements on stdout. It loads
// nothing else, so both sides start from the same bare Node.js. Run with --expose-gc.
//
//   node --expose-gc transport-child.mjs '{"module":"/tmp/x.mjs","namespace":"ns",...}'
//
// The module exports client(namespace) → { get(name), put(name, body), watch(signal, onEvent,
// onOpen) → Promise }. With "importOnly" it stops after the import.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

const job = JSON.parse(process.argv[2]);
const MB = 1024 * 1024;
const gc = globalThis.gc ?? (() => undefined);
const hwmMb = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
const memory = () => {
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMb: rss / MB, heapUsedMb: heapUsed / MB };
};

// Connections opened to the API server: every TCP connect goes through net.Socket#connect
// (tls.connect and undici's connector included), so counting its calls counts them all.
let connects = 0;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function countedConnect(...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const port = typeof options === 'object' && options !== null ? options.port : options;
  if (Number(port) === job.apiPort) connects += 1;
  return connect.apply(this, args);
};

const result = { bare: memory() };
const importStarted = performance.now();
const clientModule = await import(pathToFileURL(job.module).href);
result.importMs = performance.now() - importStarted;
await sleep(1000);
result.idle = memory();
if (job.importOnly) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const client = clientModule.client(job.namespace);
let heapPeak = 0;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}, 50);

// Watches first, all open before the work starts: they then receive every PUT's event.
const stop = new globalThis.AbortController();
let events = 0;
const opened = [];
const watches = Array.from({ length: job.watches }, () => {
  let open;
  opened.push(new Promise((resolve) => (open = resolve)));
  return client
    .watch(stop.signal, () => (events += 1), open)
    .catch((error) => {
      if (!stop.signal.aborted) throw error;
    });
});
await Promise.all(opened);
const connectsBeforeWork = connects;

/** Runs `count` calls of `call(i, worker)`, `concurrency` at a time. */
async function pool(count, concurrency, call) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < count) await call(next++, worker);
    }),
  );
}

const names = Array.from({ length: job.concurrency }, (_, i) => `bench-${i}`);
const workStarted = performance.now();
await pool(job.gets, job.concurrency, (i) => client.get(names[i % names.length]));
result.getsMs = performance.now() - workStarted;
const putsStarted = performance.now();
await pool(job.puts, job.concurrency, (i, worker) =>
  client.put(names[worker], {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names[worker], namespace: job.namespace },
    data: { phase: 'Running', round: String(i), updated: new Date().toISOString() },
  }),
);
result.putsMs = performance.now() - putsStarted;
result.workMs = performance.now() - workStarted;
clearInterval(sampler);
result.heapPeakMb = heapPeak / MB;
result.connectsForWork = connects - connectsBeforeWork;
await sleep(1000);
result.after = memory();
result.rssPeakMb = hwmMb();
result.connects = connects;
result.watchEvents = events;
stop.abort();
await Promise.all(watches);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
