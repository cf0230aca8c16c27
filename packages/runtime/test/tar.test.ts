import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import tar from 'tar-stream';
import { createBuildPlan, type BuildPlan } from '../src/context/build-plan.js';
import {
  CONTEXT_MTIME,
  ContextChangedError,
  createContextTar,
  extraDockerfileName,
  type ContextTarOptions,
} from '../src/context/tar.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tar-'));
  roots.push(d);
  return d;
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  mtime: number;
  uid: number;
  linkname?: string | null;
  body: string;
}

async function readTar(stream: NodeJS.ReadableStream): Promise<Entry[]> {
  const extract = tar.extract();
  const entries: Entry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      let text = '';
      body.on('data', (c: unknown) => (text += (c as Buffer).toString()));
      body.on('end', () => {
        entries.push({
          name: header.name,
          type: header.type ?? 'file',
          mode: header.mode ?? 0,
          mtime: header.mtime?.getTime() ?? -1,
          uid: header.uid ?? -1,
          linkname: header.linkname,
          body: text,
        });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    (stream as NodeJS.ReadableStream & { on(e: 'error', l: (e: Error) => void): void }).on(
      'error',
      reject,
    );
  });
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return entries;
}

describe('context tar', () => {
  it('sends exactly the planned entries, with normalized modes, owner and mtime', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(join(root, '.dockerignore'), 'secret.txt\n');
    writeFileSync(join(root, 'secret.txt'), 'do not send');
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin/run'), '#!/bin/sh\n');
    chmodSync(join(root, 'bin/run'), 0o700);
    writeFileSync(join(root, 'private.txt'), 'p');
    chmodSync(join(root, 'private.txt'), 0o600);
    symlinkSync('bin/run', join(root, 'run'));
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    const tarred = createContextTar(plan);
    expect(tarred.dockerfileName).toBe('Dockerfile');
    const entries = await readTar(tarred.stream);
    const byName = Object.fromEntries(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
    expect(Object.keys(byName).sort()).toEqual([
      '.dockerignore',
      'Dockerfile',
      'bin',
      'bin/run',
      'private.txt',
      'run',
    ]);
    expect(byName['bin/run']).toMatchObject({ mode: 0o755, body: '#!/bin/sh\n', uid: 0, mtime: 0 });
    expect(byName['private.txt']).toMatchObject({ mode: 0o644 });
    expect(byName['bin']).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(byName['run']).toMatchObject({ type: 'symlink', linkname: 'bin/run' });
  });

  it('adds a Dockerfile from outside the context under a name of its own', async () => {
    const root = dir();
    const elsewhere = dir();
    writeFileSync(join(root, 'app.txt'), 'app');
    writeFileSync(join(elsewhere, 'Dockerfile.prod'), 'FROM scratch\nCOPY app.txt /\n');
    const plan = await createBuildPlan({
      contextDir: root,
      dockerfile: join(elsewhere, 'Dockerfile.prod'),
      cacheDir: false,
    });
    const tarred = createContextTar(plan);
    expect(tarred.dockerfileName).toMatch(/^\.launch-agent-dockerfile-[0-9a-f]{12}$/);
    const entries = await readTar(tarred.stream);
    expect(entries.find((e) => e.name === tarred.dockerfileName)?.body).toBe(
      'FROM scratch\nCOPY app.txt /\n',
    );
    expect(entries.map((e) => e.name)).toContain('app.txt');
  });

  it('fails rather than send a file whose bytes differ from what was hashed', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(join(root, 'data.txt'), 'aaaa');
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    writeFileSync(join(root, 'data.txt'), 'bbbb');
    await expect(readTar(createContextTar(plan).stream)).rejects.toBeInstanceOf(
      ContextChangedError,
    );
  });
});

/**
 * The tar as tar-stream's pack writes it, one file at a time (what createContextTar wrote before
 * it read files into chunks itself): the format the new writer must match byte for byte.
 */
async function referenceTar(plan: BuildPlan): Promise<Buffer> {
  const pack = tar.pack();
  const common = { mtime: CONTEXT_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  const done = buffer(pack as unknown as Readable);
  for (const entry of plan.entries) {
    if (entry.type === 'directory') {
      pack.entry({ ...common, name: entry.path, type: 'directory', mode: 0o755 });
    } else if (entry.type === 'symlink') {
      pack.entry({
        ...common,
        name: entry.path,
        type: 'symlink',
        linkname: entry.target,
        mode: 0o777,
      });
    } else {
      const body = await buffer(createReadStream(entry.absolutePath));
      pack.entry(
        { ...common, name: entry.path, type: 'file', mode: entry.executable ? 0o755 : 0o644 },
        body,
      );
    }
  }
  if (plan.dockerfileInContext === undefined) {
    pack.entry(
      { ...common, name: extraDockerfileName(plan), type: 'file', mode: 0o644 },
      plan.dockerfile,
    );
  }
  pack.finalize();
  return done;
}

/** Every chunk of the stream, as it came. */
async function chunksOf(options: ContextTarOptions, plan: BuildPlan): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of createContextTar(plan, options).stream) chunks.push(chunk as Buffer);
  return chunks;
}

/** A context whose names need every kind of tar header tar-stream writes. */
function awkwardContext(): { root: string; elsewhere: string } {
  const root = dir();
  const elsewhere = dir();
  writeFileSync(join(elsewhere, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'block'), 'b'.repeat(512));
  writeFileSync(join(root, 'block-and-one'), 'c'.repeat(513));
  writeFileSync(join(root, 'random.bin'), randomBytes(300_001));
  writeFileSync(join(root, 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(root, 'run.sh'), 0o755);
  // Longer than 100 bytes, split into prefix and name.
  const split = join(root, 'd'.repeat(60), 'e'.repeat(60));
  mkdirSync(split, { recursive: true });
  writeFileSync(join(split, 'f.txt'), 'split');
  // A prefix longer than 155 bytes, and a name longer than 100 with no slash: PAX headers.
  const deep = join(root, 'p'.repeat(90), 'q'.repeat(90), 'r'.repeat(90));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'f'), 'deep');
  writeFileSync(join(root, 'n'.repeat(120)), 'long name');
  // Not ASCII: a PAX header; a short non-ASCII link target stays in the ustar header.
  mkdirSync(join(root, 'données'));
  writeFileSync(join(root, 'données', 'é.txt'), 'accent');
  symlinkSync('données/é.txt', join(root, 'lien'));
  // A link target longer than 100 bytes: PAX linkpath.
  symlinkSync('t'.repeat(150), join(root, 'long-link'));
  return { root, elsewhere };
}

describe('context tar, byte for byte', () => {
  it('matches tar-stream on every header kind, for any chunk size, on a thread or not', async () => {
    const { root, elsewhere } = awkwardContext();
    const plan = await createBuildPlan({
      contextDir: root,
      dockerfile: join(elsewhere, 'Dockerfile'),
      cacheDir: false,
    });
    const expected = await referenceTar(plan);
    const cases: ContextTarOptions[] = [
      {},
      { thread: false, chunkSize: 7 },
      { thread: false, chunkSize: 511 },
      { thread: false, chunkSize: 4096 },
      { thread: true },
      { thread: true, chunkSize: 65_537, readAhead: 1 },
      { thread: true, chunkSize: 100_000, readAhead: 4 },
    ];
    for (const options of cases) {
      const chunks = await chunksOf(options, plan);
      expect({ options, equal: Buffer.concat(chunks).equals(expected) }).toEqual({
        options,
        equal: true,
      });
      const size = options.chunkSize ?? 4 << 20;
      // Every chunk but the last is exactly one chunk: parallelGzip takes it without a copy.
      expect(chunks.slice(0, -1).every((c) => c.length === size)).toBe(true);
      expect(chunks.at(-1)!.length).toBeLessThanOrEqual(size);
    }
  });
});

describe('context tar, a file changed after planning', () => {
  async function planned(): Promise<{ root: string; plan: BuildPlan }> {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(join(root, 'a.bin'), randomBytes(200_000));
    writeFileSync(join(root, 'data.txt'), 'aaaa');
    writeFileSync(join(root, 'z.bin'), randomBytes(200_000));
    return { root, plan: await createBuildPlan({ contextDir: root, cacheDir: false }) };
  }
  const modes: ContextTarOptions[] = [{ thread: false }, { thread: true, chunkSize: 65_536 }];

  it.each(modes)('is refused when its bytes, length or existence differ (%o)', async (options) => {
    const changes: Array<[string, (path: string) => void, object]> = [
      ['same size', (p) => writeFileSync(p, 'bbbb'), ContextChangedError],
      ['grown', (p) => appendFileSync(p, 'more'), ContextChangedError],
      ['shrunk', (p) => truncateSync(p, 2), ContextChangedError],
    ];
    for (const [, change, kind] of changes) {
      const { root, plan } = await planned();
      change(join(root, 'data.txt'));
      const failure = readTar(createContextTar(plan, options).stream);
      await expect(failure).rejects.toBeInstanceOf(kind);
      await expect(failure).rejects.toMatchObject({ path: 'data.txt' });
    }
    const { root, plan } = await planned();
    rmSync(join(root, 'data.txt'));
    await expect(readTar(createContextTar(plan, options).stream)).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('reads only a few chunks ahead of a reader that waits (a late change is still seen)', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
    for (let i = 0; i < 40; i++) {
      writeFileSync(join(root, `f${String(i).padStart(2, '0')}.bin`), randomBytes(40_000));
    }
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    const stream = createContextTar(plan, { thread: true, chunkSize: 65_536, readAhead: 2 }).stream;
    const reader = stream[Symbol.asyncIterator]();
    expect((await reader.next()).done).toBe(false);
    // Time enough for a producer without a window to read all 1.6 MB.
    await sleep(300);
    writeFileSync(join(root, 'f39.bin'), randomBytes(40_000));
    const rest = (async () => {
      for (let next = await reader.next(); !next.done; next = await reader.next());
    })();
    await expect(rest).rejects.toMatchObject({ name: 'ContextChangedError', path: 'f39.bin' });
  });

  it('closes the file it was reading when the reader goes away', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
    const big = join(root, 'big.bin');
    writeFileSync(big, randomBytes(3 << 20));
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    const openCount = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === plan.contextDir + '/big.bin';
        } catch {
          return false;
        }
      }).length;
    const stream = createContextTar(plan, { thread: true, chunkSize: 65_536, readAhead: 1 }).stream;
    const reader = stream[Symbol.asyncIterator]();
    await reader.next();
    await reader.next();
    expect(openCount()).toBe(1);
    stream.destroy();
    for (let i = 0; i < 50 && openCount() > 0; i++) await sleep(20);
    expect(openCount()).toBe(0);
  });
});

test('the bytes of a large context survive the thread, and hash as planned', async () => {
  const root = dir();
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
  const data = randomBytes(9 << 20);
  writeFileSync(join(root, 'weights.bin'), data);
  const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
  const chunks = await chunksOf({}, plan);
  expect(chunks.length).toBe(3);
  expect(Buffer.concat(chunks).equals(await referenceTar(plan))).toBe(true);
  expect(createHash('sha256').update(data).digest('hex')).toBe(plan.fileDigests.get('weights.bin'));
});
