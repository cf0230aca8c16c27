#!/usr/bin/env node
// Source-hash benchmark (not a timed test): generates a mixed build context (default ~500 MB:
// thousands of small compressible text files, medium text and random files, a few large random
// files), then in the same run times
//   - `sha256sum` over the same files (the single-threaded baseline),
//   - `openssl speed sha256` (what one core can hash, from memory),
//   - our source hash cold (empty stat cache) and warm (unchanged context, stat cache filled),
//   - the lstat calls a warm run cannot do without, alone (its floor),
// and prints throughputs and ratios, then checks that a warm run still notices a file changed
// deep in the tree without a change of size or mtime, a file added there, and a file replaced
// by a rename with its size and mtime kept (only its inode and ctime move). Results are
// recorded in docs/benchmarks.md.
//
//   pnpm bench:hash [--size-mb N] [--runs N] [--keep] [--runtime DIR] [--json] [--help]
//
// Needs the compiled runtime (`pnpm bench:hash` runs `tsc -b packages/runtime` first).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const USAGE = `usage: pnpm bench:hash [--size-mb N] [--runs N] [--keep] [--runtime DIR] [--json] [--help]

  --size-mb N    size of the generated context (default 500)
  --runs N       cold/warm pairs to time (default 5)
  --keep         keep the generated context and print its path
  --runtime DIR  time the compiled runtime in DIR (default packages/runtime/dist), e.g. an
                 older commit's build, to compare two versions with the same script
  --json         print the results as one JSON line
`;

const { values: args } = parseArgs({
  // `pnpm bench:hash -- --runs 5` passes the "--" on; without this it would end the options.
  args: process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--')),
  options: {
    'size-mb': { type: 'string', default: '500' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    runtime: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const runtimeDir = args.runtime
  ? pathToFileURL(`${resolve(args.runtime)}/`)
  : new URL('../../packages/runtime/dist/', import.meta.url);
const runtimeIndex = new URL('index.js', runtimeDir);
if (!existsSync(runtimeIndex)) {
  process.stderr.write(
    `bench:hash: no compiled runtime at ${fileURLToPath(runtimeIndex)} (--runtime names the dist directory of a built packages/runtime)\n`,
  );
  process.exit(2);
}
const runtime = await import(runtimeIndex.href);
const { createBuildPlan } = runtime;
// Internal to the runtime: how long after a write a file's mtime is not yet trusted (its module
// is context/stat-cache.js, build/stat-cache.js in builds older than that name).
const statCacheModule = ['context/stat-cache.js', 'build/stat-cache.js']
  .map((path) => new URL(path, runtimeDir))
  .find((url) => existsSync(url));
if (!statCacheModule) {
  process.stderr.write(`bench:hash: no stat-cache module under ${fileURLToPath(runtimeDir)}\n`);
  process.exit(2);
}
const { RACY_WINDOW_MS } = await import(statCacheModule.href);

const MB = 1024 * 1024;
const targetBytes = Number(args['size-mb']) * MB;
const runs = Math.max(1, Number(args.runs));
const log = (text) => process.stderr.write(`${text}\n`);

// --- the context -----------------------------------------------------------------------------

const WORDS =
  'import export const function return class async await model train batch epoch tensor loss optimizer gradient layer dropout config data loader sample weight bias token embed'.split(
    ' ',
  );

/** Source-like text: compressible, different in every file. */
function text(bytes, seed) {
  let out = '';
  let x = seed * 2654435761;
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += `${WORDS[x % WORDS.length]}${x % 7 === 0 ? '\n' : ' '}`;
  }
  return out.slice(0, bytes);
}

function random(bytes) {
  return randomFillSync(Buffer.allocUnsafe(bytes));
}

function generate(root, total) {
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /app\n');
  writeFileSync(join(root, '.dockerignore'), '*.log\n.cache\n');
  const plan = [
    // [share of the total, count, kind]
    [0.05, 3000, 'text'], // source files, ~8 KB each at 500 MB
    [0.2, 200, 'text'], // data/config text, ~500 KB each
    [0.2, 200, 'random'], // small binaries, ~500 KB each
    [0.55, 8, 'random'], // weights / archives, ~34 MB each
  ];
  let files = 0;
  let bytes = 0;
  plan.forEach(([share, count, kind], group) => {
    const size = Math.max(1, Math.round((share * total) / count));
    for (let i = 0; i < count; i++) {
      const dir = join(root, `group${group}`, `d${i % 40}`);
      mkdirSync(dir, { recursive: true });
      // Vary sizes ±25% so batches are uneven, as in real trees.
      const n = Math.max(1, Math.round(size * (0.75 + ((i * 37) % 50) / 100)));
      writeFileSync(
        join(dir, `f${i}.${kind === 'text' ? 'py' : 'bin'}`),
        kind === 'text' ? text(n, i + group * 10_000) : random(n),
      );
      files += 1;
      bytes += n;
    }
  });
  // The change check puts these files' mtimes back through utimes, which takes milliseconds: a
  // whole-millisecond mtime from the start makes "the same mtime" hold to the nanosecond.
  const whole = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  for (const path of ['group0/d7/f7.py', 'group0/d7/f47.py']) {
    utimesSync(join(root, path), whole, whole);
  }
  // Excluded by .dockerignore: neither we nor the baseline read these.
  mkdirSync(join(root, '.cache'));
  writeFileSync(join(root, '.cache', 'big.bin'), random(8 * MB));
  writeFileSync(join(root, 'run.log'), text(MB, 1));
  return { files: files + 2, bytes };
}

/** The files a build would read: the walk the hash does, so the baseline reads the same bytes. */
function includedFiles(root) {
  const out = [];
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === '.cache' || entry.name.endsWith('.log')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.isFile()) out.push(path);
    }
  };
  visit(root);
  return out;
}

// --- measurements ----------------------------------------------------------------------------

function timeSha256sum(files) {
  // xargs batches the file list into few sha256sum processes, all one after the other.
  const started = process.hrtime.bigint();
  const result = spawnSync('xargs', ['-0', 'sha256sum'], {
    input: files.join('\0'),
    stdio: ['pipe', 'ignore', 'inherit'],
    maxBuffer: 1 << 30,
  });
  if (result.status !== 0) throw new Error('sha256sum failed');
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function opensslSpeed() {
  const output = execFileSync(
    'openssl',
    ['speed', '-seconds', '2', '-bytes', String(MB), 'sha256'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  // Last line: "sha256   1524804.27k" (thousands of bytes per second).
  const match = /^sha256\s+([\d.]+)k\s*$/m.exec(output);
  if (!match) throw new Error(`cannot read openssl speed output:\n${output}`);
  return (Number(match[1]) * 1000) / MB;
}

/** What Node's own crypto (its bundled OpenSSL) hashes on one core, from memory. */
function nodeSha256() {
  const block = randomFillSync(Buffer.allocUnsafe(256 * 1024));
  const rounds = 1600; // 400 MiB
  const started = process.hrtime.bigint();
  const hash = createHash('sha256');
  for (let i = 0; i < rounds; i++) hash.update(block);
  hash.digest();
  return (rounds * block.length) / MB / (Number(process.hrtime.bigint() - started) / 1e9);
}

/**
 * CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat, in ns), else of the
 * whole process. The thread's own time is what a warm run costs whatever the load did to the
 * wall clock; the process's also counts V8's background threads, which after a cold run are
 * still marking, sweeping and compiling for it.
 */
function threadCpuMs() {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
}

/**
 * Times one plan. Only numbers and the hash are kept, not the plan: a plan held across the next
 * timed run would make that run's young-generation GC copy it (a few ms, which no real run pays).
 */
async function timeHash(contextDir, cacheDir) {
  const cpu = threadCpuMs();
  const started = process.hrtime.bigint();
  const plan = await createBuildPlan({ contextDir, cacheDir });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const { sourceHash, stats } = plan;
  return { ms, cpuMs: threadCpuMs() - cpu, plan: { sourceHash, stats: { ...stats } } };
}

/**
 * Changes the context under a warm stat cache the ways a stat cache could miss, and each time
 * checks that a warm run reads exactly the changed files and gives the hash a run without
 * cache gives:
 *   - new bytes in a file deep in the tree with its size and mtime put back (its ctime moves);
 *   - a file added beside it;
 *   - once every file is outside the racy window again, a file replaced by a rename: new bytes
 *     of the same size written to a temp file whose mtime is set to the old one's, renamed over
 *     it (only its inode and ctime differ from the cached record).
 */
async function checkWarmNoticesChanges(root, cacheDir, reference) {
  const dir = join(root, 'group0', 'd7');
  const file = join(dir, 'f7.py');
  const before = statSync(file, { bigint: true });
  const bytes = readFileSync(file);
  bytes[0] = bytes[0] === 0x41 ? 0x42 : 0x41;
  writeFileSync(file, bytes);
  utimesSync(file, before.atime, before.mtime);
  const after = statSync(file, { bigint: true });
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ino !== before.ino)
    throw new Error('the edit did not keep size, mtime (to the nanosecond) and inode');
  const edited = await createBuildPlan({ contextDir: root, cacheDir });
  writeFileSync(join(dir, 'added.py'), 'added\n');
  const added = await createBuildPlan({ contextDir: root, cacheDir });
  const fresh = await createBuildPlan({ contextDir: root, cacheDir: false });
  if (edited.stats.hashedFiles !== 1 || edited.sourceHash === reference)
    throw new Error(`a warm run missed an edit (${edited.stats.hashedFiles} files read)`);
  // The edited file is still inside the racy window, so it is read again too.
  if (added.stats.hashedFiles !== 2 || added.sourceHash !== fresh.sourceHash)
    throw new Error(`a warm run missed an added file (${added.stats.hashedFiles} files read)`);

  // Let both changes age out of the racy window, and let a warm run remember them.
  await sleep(RACY_WINDOW_MS + 100);
  const settled = await createBuildPlan({ contextDir: root, cacheDir });
  const again = await createBuildPlan({ contextDir: root, cacheDir });
  if (again.stats.hashedFiles !== 0 || again.sourceHash !== settled.sourceHash)
    throw new Error(`a settled context was read again (${again.stats.hashedFiles} files)`);
  const target = join(dir, 'f47.py');
  const old = statSync(target, { bigint: true });
  const replacement = readFileSync(target);
  replacement[0] = replacement[0] === 0x41 ? 0x42 : 0x41;
  const temp = join(dir, '.f47.py.new');
  writeFileSync(temp, replacement);
  utimesSync(temp, old.atime, old.mtime);
  renameSync(temp, target);
  const now = statSync(target, { bigint: true });
  if (now.size !== old.size || now.mtimeNs !== old.mtimeNs || now.ino === old.ino)
    throw new Error('the replacement did not keep size and mtime (to the nanosecond)');
  const replaced = await createBuildPlan({ contextDir: root, cacheDir });
  const replacedFresh = await createBuildPlan({ contextDir: root, cacheDir: false });
  if (
    replaced.stats.hashedFiles !== 1 ||
    replaced.sourceHash !== replacedFresh.sourceHash ||
    replaced.sourceHash === settled.sourceHash
  )
    throw new Error(
      `a warm run missed a file replaced by a rename (${replaced.stats.hashedFiles} files read)`,
    );
  log(
    'warm run after an edit (same size and mtime), an added file, and a file replaced by a rename (same size and mtime, new inode and ctime): all noticed',
  );
}

const best = (xs) => Math.min(...xs);
const mbps = (bytes, ms) => bytes / MB / (ms / 1000);

const loadAtStart = Number(loadavg()[0].toFixed(2));
const root = mkdtempSync(join(tmpdir(), 'bench-hash-'));
const caches = mkdtempSync(join(tmpdir(), 'bench-hash-cache-'));
try {
  log(`generating ~${args['size-mb']} MB in ${root} ...`);
  const generated = generate(root, targetBytes);
  const files = includedFiles(root);
  const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
  log(`${files.length} files included (${(bytes / MB).toFixed(0)} MB); ${generated.files} written`);

  // Warm the page cache for everyone, then time the baseline.
  timeSha256sum(files);
  const sha256sumMs = best(Array.from({ length: runs }, () => timeSha256sum(files)));
  log(`sha256sum: ${sha256sumMs.toFixed(0)} ms`);
  const opensslMBps = opensslSpeed();
  log(`openssl speed sha256 (1 MiB blocks, one core): ${opensslMBps.toFixed(0)} MB/s`);
  const nodeMBps = Math.max(nodeSha256(), nodeSha256());
  log(`node crypto sha256 (one core): ${nodeMBps.toFixed(0)} MB/s`);

  // The stat cache only trusts files older than its racy window (docs/source-hash.md).
  const newest = Math.max(...files.map((f) => Math.max(statSync(f).mtimeMs, statSync(f).ctimeMs)));
  const wait = newest + RACY_WINDOW_MS + 100 - Date.now();
  if (wait > 0) await sleep(wait);

  // The floor of a warm run: the lstat calls it cannot do without, one per included entry and
  // the root, with nothing else (timed after each warm run, so it is no colder than that run).
  const entryPaths = [
    root,
    ...(await createBuildPlan({ contextDir: root, cacheDir: false })).entries.map((e) =>
      join(root, e.path),
    ),
  ];
  const timeLstats = () => {
    const started = process.hrtime.bigint();
    for (const path of entryPaths) lstatSync(path);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };

  // Cold and warm runs alternate, so a burst of load from other processes hits both alike:
  // each cold run starts from an empty stat cache, the warm run after it reuses that cache.
  const cold = [];
  const warm = [];
  const floor = [];
  const warmCpu = [];
  const pairRatios = [];
  let reference;
  for (let i = 0; i < runs; i++) {
    const cacheDir = join(caches, `run-${i}`);
    const c = await timeHash(root, cacheDir);
    const w = await timeHash(root, cacheDir);
    reference ??= c.plan.sourceHash;
    if (c.plan.sourceHash !== reference || w.plan.sourceHash !== reference)
      throw new Error('hashes differ between runs');
    if (w.plan.stats.hashedFiles !== 0)
      throw new Error(`warm run read ${w.plan.stats.hashedFiles} files`);
    const f = timeLstats();
    cold.push(c.ms);
    warm.push(w.ms);
    warmCpu.push(w.cpuMs);
    floor.push(f);
    pairRatios.push(w.ms / c.ms);
    log(
      `run ${i + 1}: cold ${c.ms.toFixed(0)} ms (${c.plan.stats.hashedFiles} files read), warm ${w.ms.toFixed(1)} ms (thread CPU ${w.cpuMs.toFixed(1)} ms), ${entryPaths.length} lstat calls alone ${f.toFixed(1)} ms`,
    );
  }
  await checkWarmNoticesChanges(root, join(caches, `run-${runs - 1}`), reference);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  const coldMs = best(cold);
  const warmMs = best(warm);
  const result = {
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      node: process.version,
      loadAverage: { atStart: loadAtStart, atEnd: Number(loadavg()[0].toFixed(2)) },
    },
    runs,
    context: { files: files.length, bytes, mb: Number((bytes / MB).toFixed(1)) },
    sha256sum: { ms: Math.round(sha256sumMs), MBps: Math.round(mbps(bytes, sha256sumMs)) },
    opensslSha256: { MBps: Math.round(opensslMBps) },
    nodeSha256: { MBps: Math.round(nodeMBps), openssl: process.versions.openssl },
    cold: { ms: Math.round(coldMs), MBps: Math.round(mbps(bytes, coldMs)) },
    warm: {
      ms: Number(warmMs.toFixed(1)),
      cpuMs: Number(best(warmCpu).toFixed(1)),
      medianCpuMs: Number(median(warmCpu).toFixed(1)),
    },
    lstatFloor: { calls: entryPaths.length, ms: Number(best(floor).toFixed(1)) },
    ratios: {
      coldVsSha256sum: Number((sha256sumMs / coldMs).toFixed(2)),
      warmVsCold: Number((warmMs / coldMs).toFixed(4)),
      warmVsColdMedianOfRuns: Number(median(pairRatios).toFixed(4)),
      coldVsOpensslOneCore: Number((mbps(bytes, coldMs) / opensslMBps).toFixed(2)),
      warmVsLstatFloor: Number((warmMs / best(floor)).toFixed(2)),
    },
    targets: { coldVsSha256sum: '>= 1.5', warmVsCold: '< 0.10' },
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const r = result;
    console.log(`machine: ${r.machine.cpu}, ${r.machine.cores} cores, node ${r.machine.node}`);
    console.log(`context: ${r.context.files} files, ${r.context.mb} MB included`);
    console.log(`sha256sum:          ${r.sha256sum.ms} ms  ${r.sha256sum.MBps} MB/s`);
    console.log(`openssl sha256:     ${r.opensslSha256.MBps} MB/s on one core (openssl speed)`);
    console.log(
      `node sha256:        ${r.nodeSha256.MBps} MB/s on one core (node's OpenSSL ${r.nodeSha256.openssl})`,
    );
    console.log(`source hash, cold:  ${r.cold.ms} ms  ${r.cold.MBps} MB/s`);
    console.log(
      `source hash, warm:  ${r.warm.ms} ms (thread CPU ${r.warm.cpuMs} ms best, ${r.warm.medianCpuMs} ms median)`,
    );
    console.log(
      `lstat calls alone:  ${r.lstatFloor.ms} ms for ${r.lstatFloor.calls} (warm is ${r.ratios.warmVsLstatFloor}x that)`,
    );
    console.log(`cold vs sha256sum:  ${r.ratios.coldVsSha256sum}x (target >= 1.5x)`);
    console.log(
      `warm / cold:        ${(r.ratios.warmVsCold * 100).toFixed(2)}% best vs best, ${(r.ratios.warmVsColdMedianOfRuns * 100).toFixed(2)}% median of ${r.runs} runs (target < 10%)`,
    );
    console.log(
      `load average:       ${r.machine.loadAverage.atStart} at start, ${r.machine.loadAverage.atEnd} at end`,
    );
    console.log(
      `cold vs openssl:    ${r.ratios.coldVsOpensslOneCore}x one core's openssl throughput`,
    );
  }
} finally {
  if (args.keep) log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
  rmSync(caches, { recursive: true, force: true });
}
