import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { createBuildPlan } from '@launch-agent/runtime';
import {
  BuildContextUnavailableError,
  extractContextArchive,
  localBuildContext,
} from '../src/agent/build-context-source.js';
import { PvcContextStore } from '../src/storage/pvc-context-store.js';
import tar from 'tar-stream';

/** One tar entry: the header fields the test sets, and a body for files. */
type TestEntry = Partial<tar.Header> & { name: string; body?: string };

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function archive(entries: Array<TestEntry>): Promise<Buffer> {
  const pack = tar.pack();
  for (const { body, ...header } of entries) {
    if (body === undefined) pack.entry(header);
    else pack.entry(header, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

const extract = async (entries: Array<TestEntry>) =>
  extractContextArchive(Readable.from([await archive(entries)]), 'test.tar.gz');

/** Every temporary context the extractor made and still has on disk. */
const leftovers = () =>
  readdirSync(tmpdir()).filter((name) => name.startsWith('launch-agent-context-'));

describe('extractContextArchive', () => {
  it('unpacks files with their executable bit', async () => {
    const context = await extract([
      { name: 'Dockerfile', body: 'FROM scratch\n' },
      { name: 'bin/run.sh', body: '#!/bin/sh\n', mode: 0o755 },
    ]);
    try {
      expect(readFileSync(join(context.directory, 'Dockerfile'), 'utf8')).toBe('FROM scratch\n');
      expect(statSync(join(context.directory, 'bin/run.sh')).mode & 0o111).not.toBe(0);
    } finally {
      await context.cleanup();
    }
    expect(existsSync(context.directory)).toBe(false);
  });

  it('keeps symbolic links that stay inside the context', async () => {
    const context = await extract([
      { name: 'data/real.txt', body: 'hello' },
      { name: 'data/alias.txt', type: 'symlink', linkname: 'real.txt' },
      { name: 'top', type: 'symlink', linkname: 'data/../data/real.txt' },
    ]);
    try {
      expect(readlinkSync(join(context.directory, 'data/alias.txt'))).toBe('real.txt');
      expect(lstatSync(join(context.directory, 'top')).isSymbolicLink()).toBe(true);
      expect(readFileSync(join(context.directory, 'top'), 'utf8')).toBe('hello');
    } finally {
      await context.cleanup();
    }
  });

  it.each([
    ['an entry outside the root', [{ name: '../escape', body: 'x' }]],
    ['an absolute entry', [{ name: '/etc/cron.d/x', body: 'x' }]],
    ['a link to an absolute path', [{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }]],
    ['a link that climbs out', [{ name: 'a/l', type: 'symlink', linkname: '../../x' }]],
    [
      'a file written through a link',
      [
        { name: 'd', type: 'symlink', linkname: 'inside' },
        { name: 'd/x', body: 'x' },
      ],
    ],
    [
      'a file that replaces a link',
      [
        { name: 'l', type: 'symlink', linkname: 'target' },
        { name: 'l', body: 'x' },
      ],
    ],
    [
      'a file twice',
      [
        { name: 'f', body: 'x' },
        { name: 'f', body: 'y' },
      ],
    ],
    [
      'a chain of links that each look inside (l1 -> ., l2 -> l1/.., l3 -> l2/..)',
      [
        { name: 'l1', type: 'symlink', linkname: '.' },
        { name: 'l2', type: 'symlink', linkname: 'l1/..' },
        { name: 'l3', type: 'symlink', linkname: 'l2/..' },
      ],
    ],
    [
      'a link that leads out only once a later link exists',
      [
        { name: 'a/early', type: 'symlink', linkname: '../b/..' },
        { name: 'b', type: 'symlink', linkname: '.' },
      ],
    ],
    [
      'a link loop',
      [
        { name: 'x', type: 'symlink', linkname: 'y' },
        { name: 'y', type: 'symlink', linkname: 'x' },
      ],
    ],
    ['a hard link', [{ name: 'h', type: 'link', linkname: 'Dockerfile' }]],
    ['a device', [{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }]],
  ] as Array<[string, Array<TestEntry>]>)(
    'refuses %s and leaves nothing behind',
    async (_what, entries) => {
      const before = leftovers();
      const error = await extract(entries).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BuildContextUnavailableError);
      expect(error).toMatchObject({ reason: 'UnsafeBuildContext' });
      expect(leftovers()).toEqual(before);
    },
  );

  it('reports a stream that is not a tar.gz as unreadable', async () => {
    await expect(
      extractContextArchive(Readable.from([Buffer.from('not gzip')]), 's3://b/x.tar.gz'),
    ).rejects.toMatchObject({
      reason: 'BuildContextUnreadable',
      message: expect.stringContaining('s3://b/x.tar.gz'),
    });
  });

  it('streams large files to disk', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const context = await extract([{ name: 'weights.bin', body: big }]);
    try {
      expect(statSync(join(context.directory, 'weights.bin')).size).toBe(big.length);
    } finally {
      await context.cleanup();
    }
  });
});

describe('extractContextArchive caps', () => {
  /** Files and links outside the context, listed before and after: nothing may change there. */
  const outsideBefore = () => readdirSync(dirname(tmpdir())).sort();

  it('stops a small archive that unpacks to more than max-source-bytes, within the deadline', async () => {
    // 1 MB of gzip unpacks to about 1 GiB of zeros: the cap stops it at 8 MiB.
    const pack = tar.pack();
    const size = 1 << 30;
    const entry = pack.entry({ name: 'zeros.bin', size });
    const zeros = Buffer.alloc(1 << 20);
    void (async () => {
      for (let written = 0; written < size; written += zeros.length) {
        if (!entry.write(zeros)) await new Promise<void>((r) => entry.once('drain', () => r()));
        if (entry.destroyed) return;
      }
      entry.end(Buffer.alloc(0));
      pack.finalize();
    })().catch(() => undefined);
    const before = leftovers();
    const outside = outsideBefore();
    const started = performance.now();
    // The extractor's refusal destroys the pipe back to this producer; that is expected here.
    pack.on('error', () => undefined);
    entry.on('error', () => undefined);
    const error = await extractContextArchive(pack.pipe(createGzip()), 'bomb.tar.gz', {
      maxBytes: 8 << 20,
      maxEntries: 10,
    }).catch((e: unknown) => e);
    pack.destroy();
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(error).toMatchObject({
      reason: 'UnsafeBuildContext',
      message: expect.stringContaining('more than 8388608 bytes (launchjobs.max-source-bytes)'),
    });
    expect(leftovers()).toEqual(before);
    expect(outsideBefore()).toEqual(outside);
  });

  it('refuses more entries than max-source-entries', async () => {
    const before = leftovers();
    const entries = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, body: 'x' }));
    const error = await extractContextArchive(Readable.from([await archive(entries)]), 'many', {
      maxBytes: 1 << 20,
      maxEntries: 5,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      reason: 'UnsafeBuildContext',
      message: expect.stringContaining('more than 5 entries (launchjobs.max-source-entries)'),
    });
    expect(leftovers()).toEqual(before);
  });
});

/** A job's spec.source.context for a file in the claim: its key and the digest of its bytes. */
function storedContext(claim: string, key: string, prefix = ''): { key: string; digest: string } {
  const bytes = readFileSync(join(claim, prefix, key));
  return { key, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

describe('localBuildContext', () => {
  it('refuses a stored context whose chained links lead out, and the plan never reads outside', async () => {
    const claim = tempDir('agent-pvc-');
    mkdirSync(join(claim, 'contexts'));
    writeFileSync(
      join(claim, 'contexts', 'chain.tar.gz'),
      await archive([
        { name: 'Dockerfile', body: 'FROM scratch\n' },
        { name: 'l1', type: 'symlink', linkname: '.' },
        { name: 'l2', type: 'symlink', linkname: 'l1/..' },
      ]),
    );
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const before = leftovers();
    await expect(
      localBuildContext(store, storedContext(claim, 'contexts/chain.tar.gz')),
    ).rejects.toMatchObject({
      reason: 'UnsafeBuildContext',
      message: expect.stringContaining('l2 -> l1/.. that leaves the context'),
    });
    expect(leftovers()).toEqual(before);
  });

  it('hands the build plan a stored context whose Dockerfile links out, and the plan refuses it', async () => {
    const claim = tempDir('agent-pvc-');
    mkdirSync(join(claim, 'contexts'));
    // A link whose text stays inside, to a file that is itself a link the extractor refuses…
    // so the stored path reaches the plan only as a plain file: the plan's own check is what
    // stands between a Dockerfile link and the agent's files.
    writeFileSync(
      join(claim, 'contexts', 'df.tar.gz'),
      await archive([
        { name: 'real', body: 'FROM scratch\n' },
        { name: 'Dockerfile', type: 'symlink', linkname: 'real' },
      ]),
    );
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const context = await localBuildContext(store, storedContext(claim, 'contexts/df.tar.gz'), {
      maxBytes: 1 << 20,
      maxEntries: 10,
    });
    try {
      const plan = await createBuildPlan({
        contextDir: context.directory,
        contextDockerfile: 'Dockerfile',
        cacheDir: false,
      });
      expect(plan.dockerfile.toString()).toBe('FROM scratch\n');
      // Swap the link for one out of the context, as a hostile store writer might race to do.
      rmSync(join(context.directory, 'Dockerfile'));
      symlinkSync('/etc/passwd', join(context.directory, 'Dockerfile'));
      await expect(
        createBuildPlan({
          contextDir: context.directory,
          contextDockerfile: 'Dockerfile',
          cacheDir: false,
        }),
      ).rejects.toMatchObject({ name: 'UnsafeContextFileError', path: 'Dockerfile' });
    } finally {
      await context.cleanup();
    }
  });

  it('opens a context from the store and reads what tar czf writes, links included', async () => {
    const claim = tempDir('agent-pvc-');
    const src = tempDir('agent-src-');
    writeFileSync(join(src, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    mkdirSync(join(src, 'lib'));
    writeFileSync(join(src, 'lib', 'a.py'), 'print(1)\n');
    symlinkSync('a.py', join(src, 'lib', 'b.py'));
    mkdirSync(join(claim, 'contexts'));
    execFileSync('tar', ['czf', join(claim, 'contexts', 'abc.tar.gz'), '-C', src, '.']);
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const context = await localBuildContext(store, storedContext(claim, 'contexts/abc.tar.gz'));
    try {
      expect(readFileSync(join(context.directory, 'Dockerfile'), 'utf8')).toContain('COPY');
      expect(readlinkSync(join(context.directory, 'lib', 'b.py'))).toBe('a.py');
    } finally {
      await context.cleanup();
    }
  });

  it('says when the context is not in the store', async () => {
    const store = new PvcContextStore({ claim: 'c', prefix: 'p', mountPath: tempDir('agent-') });
    await expect(
      localBuildContext(store, {
        key: 'contexts/missing.tar.gz',
        digest: `sha256:${'0'.repeat(64)}`,
      }),
    ).rejects.toMatchObject({
      reason: 'BuildContextNotFound',
      message: expect.stringContaining('missing.tar.gz'),
    });
  });

  it('says when the agent has no store', async () => {
    await expect(
      localBuildContext(undefined, {
        key: 'contexts/x.tar.gz',
        digest: `sha256:${'0'.repeat(64)}`,
      }),
    ).rejects.toMatchObject({
      reason: 'NoBuildContextStore',
    });
  });
});
