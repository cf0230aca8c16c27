// The bundle itself (jest project `bundle`): what only a built dist/bin.js can show.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBuildPlan } from '../../runtime/src/context/build-plan.js';
import { createContextTar } from '../../runtime/src/context/tar.js';
import { BUNDLE, runCli } from './run-cli.js';

const DIST = dirname(BUNDLE);

/**
 * Runs, in a process of its own, the build plan and the context tar of `context` through the
 * bundle's runtime chunk (the one the CLI's build command loads), and reports every worker
 * module the bundled code started. `node:worker_threads` is wrapped before the chunk loads, so
 * what it reports is what the bundled code asked for.
 */
function hashThroughBundle(context: string, dist = DIST) {
  // The chunk of the runtime's entry, packages/runtime/src/index.ts, which esbuild names `src-*`.
  const chunk = readdirSync(join(dist, 'chunks')).find((f) => /^src-.*\.js$/.test(f));
  if (!chunk) throw new Error(`no runtime chunk (src-*.js) in ${join(dist, 'chunks')}`);
  const script = `
    import { createRequire, syncBuiltinESMExports } from 'node:module';
    import { createHash } from 'node:crypto';
    const threads = createRequire(import.meta.url)('node:worker_threads');
    const started = [];
    const Original = threads.Worker;
    threads.Worker = class extends Original {
      constructor(url, options) { started.push(String(url)); super(url, options); }
    };
    syncBuiltinESMExports();
    const runtime = await import(${JSON.stringify(pathToFileURL(join(dist, 'chunks', chunk)).href)});
    const plan = await runtime.createBuildPlan({ contextDir: process.env.HASH_CONTEXT, cacheDir: false, threads: 2 });
    const tar = createHash('sha256');
    for await (const c of runtime.createContextTar(plan, { thread: true }).stream) tar.update(c);
    console.log(JSON.stringify({ sourceHash: plan.sourceHash, tar: tar.digest('hex'), started }));
  `;
  // A file, not `-e`: a worker inherits its parent's node options, and `--input-type` is one.
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-bundle-script-')), 'hash.mjs');
  writeFileSync(file, script);
  try {
    return spawnSync(process.execPath, [file], {
      encoding: 'utf8',
      env: { ...process.env, HASH_CONTEXT: context },
    });
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

describe('packages/cli/dist/bin.js', () => {
  test('carries a source map that points at the TypeScript sources', () => {
    expect(readFileSync(BUNDLE, 'utf8')).toMatch(/\/\/# sourceMappingURL=bin\.js\.map\s*$/);
    const map = JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources.some((source) => source.endsWith('../src/main.ts'))).toBe(true);
  });

  test('loads no cloud SDK or dockerode before a command selects one', () => {
    const eager = readFileSync(BUNDLE, 'utf8');
    expect(eager).not.toMatch(/from\s*["'](@aws-sdk|@azure|@google-cloud|dockerode)/);
    // The runtime loads on demand, and its cloud registries and stores in their own chunks.
    // (The runtime's entry, packages/runtime/src/index.ts, is the chunk esbuild names `src-*`.)
    expect(eager).toMatch(/import\(["']\.\/chunks\/src-[A-Z0-9]+\.js["']\)/);
  });

  test('loads the dashboard only for the dashboard command, from a chunk of its own', () => {
    const bin = readFileSync(BUNDLE, 'utf8');
    expect(bin).not.toContain('Content-Security-Policy');
    const chunk = /import\(["']\.\/chunks\/(server-[A-Z0-9]+\.js)["']\)/.exec(bin)?.[1];
    expect(chunk).toBeDefined();
    const text = readFileSync(join(dirname(BUNDLE), 'chunks', chunk!), 'utf8');
    expect(text).toContain('Content-Security-Policy');
    // Nothing else imports it statically.
    for (const file of readdirSync(join(dirname(BUNDLE), 'chunks')).filter((f) =>
      f.endsWith('.js'),
    )) {
      expect({
        file,
        static: new RegExp(`from\\s*["']\\./${chunk}["']`).test(
          readFileSync(join(dirname(BUNDLE), 'chunks', file), 'utf8'),
        ),
      }).toEqual({ file, static: false });
    }
  });

  test('requires node:http rather than importing it, so Node.js 24 leaves its undici unloaded', () => {
    const chunks = join(dirname(BUNDLE), 'chunks');
    const files = [
      BUNDLE,
      ...readdirSync(chunks)
        .filter((f) => f.endsWith('.js'))
        .map((f) => join(chunks, f)),
    ];
    for (const file of files) {
      expect({
        file,
        imports: /from\s*["'](?:node:)?http["']/.test(readFileSync(file, 'utf8')),
      }).toEqual({
        file,
        imports: false,
      });
    }
  });

  test('permissions reads its templates from the copy beside the bundle', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'launch-agent-bundle-')), 'launch-config.yaml');
    writeFileSync(
      config,
      'environment: {type: aws, region: us-east-1}\nbuilder:\n  type: kaniko\n' +
        '  destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app\n' +
        '  build-context-store: s3://contexts/launch\n',
    );
    const result = await runCli(['permissions', '--config', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ecr:InitiateLayerUpload/);
  });

  describe('worker threads', () => {
    // Over the 32 MiB below which hashing stays on the calling thread; sparse, so cheap to make.
    const context = mkdtempSync(join(tmpdir(), 'launch-agent-bundle-workers-'));
    afterAll(() => rmSync(context, { recursive: true, force: true }));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    mkdirSync(join(context, 'weights'));
    for (const name of ['a.bin', 'b.bin']) {
      writeFileSync(join(context, 'weights', name), name);
      truncateSync(join(context, 'weights', name), 20 << 20);
    }

    test('hash and tar the context on dist/hash-worker.js and dist/tar-worker.js, as the library does', async () => {
      const result = hashThroughBundle(context);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const bundled = JSON.parse(result.stdout) as {
        sourceHash: string;
        tar: string;
        started: string[];
      };
      const worker = (name: string) => pathToFileURL(join(DIST, `${name}.js`)).href;
      expect(bundled.started).toEqual([
        worker('hash-worker'),
        worker('hash-worker'),
        worker('tar-worker'),
      ]);
      // The library from its sources, on the calling thread: the same hash, the same tar.
      const library = await createBuildPlan({ contextDir: context, cacheDir: false, threads: 1 });
      expect(bundled.sourceHash).toBe(library.sourceHash);
      const tar = createHash('sha256');
      for await (const chunk of createContextTar(library, { thread: false }).stream) {
        tar.update(chunk as Buffer);
      }
      expect(bundled.tar).toBe(tar.digest('hex'));
    });

    test('fails naming the worker module when it is missing beside bin.js', () => {
      // A copy of the bundle inside packages/cli, so its on-demand imports still resolve.
      const copy = mkdtempSync(join(dirname(DIST), '.dist-without-worker-'));
      try {
        cpSync(DIST, copy, { recursive: true });
        rmSync(join(copy, 'hash-worker.js'));
        const result = hashThroughBundle(context, copy);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(/the hash-worker module is missing/);
        expect(result.stderr).toContain(join(copy, 'hash-worker.js'));
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });
  });
});
