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
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  BuildContextUnavailableError,
  extractContextArchive,
  localBuildContext,
  PvcContextStore,
} from '@launch-agent/runtime';
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

describe('localBuildContext', () => {
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
    const context = await localBuildContext(store, 'contexts/abc.tar.gz');
    try {
      expect(readFileSync(join(context.directory, 'Dockerfile'), 'utf8')).toContain('COPY');
      expect(readlinkSync(join(context.directory, 'lib', 'b.py'))).toBe('a.py');
    } finally {
      await context.cleanup();
    }
  });

  it('says when the context is not in the store', async () => {
    const store = new PvcContextStore({ claim: 'c', prefix: 'p', mountPath: tempDir('agent-') });
    await expect(localBuildContext(store, 'contexts/missing.tar.gz')).rejects.toMatchObject({
      reason: 'BuildContextNotFound',
      message: expect.stringContaining('missing.tar.gz'),
    });
  });

  it('says when the agent has no store', async () => {
    await expect(localBuildContext(undefined, 'contexts/x.tar.gz')).rejects.toMatchObject({
      reason: 'NoBuildContextStore',
    });
  });
});
