import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBuildPlan } from '../src/context/build-plan.js';
import {
  decodeStatCache,
  encodeStatCache,
  RACY_WINDOW_MS,
  STAT_CACHE_FORMAT,
  STAT_CACHE_MAX_BYTES,
  StatCache,
  type StatKey,
} from '../src/context/stat-cache.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function dir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  roots.push(d);
  return d;
}

/** Sets a file's mtime well before now (its ctime becomes now: only the scan clock can move past that). */
function age(path: string, secondsAgo = 60): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path, t, t);
}

/** A scan clock far enough ahead that files written by the test are outside the racy window. */
const later = () => Date.now() + 10 * RACY_WINDOW_MS;

function settledContext(): { root: string; cacheDir: string } {
  const root = dir('cache-ctx-');
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  for (let i = 0; i < 5; i++) writeFileSync(join(root, `f${i}.txt`), `content ${i}\n`);
  for (const name of readdirSync(root)) age(join(root, name));
  return { root, cacheDir: dir('cache-dir-') };
}

describe('stat cache', () => {
  it('makes a second hash of an unchanged context read no file, with the same result', async () => {
    const { root, cacheDir } = settledContext();
    const cold = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(cold.stats.hashedFiles).toBe(6);
    const warm = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(warm.stats.hashedFiles).toBe(0);
    expect(warm.stats.cachedFiles).toBe(6);
    expect(warm.sourceHash).toBe(cold.sourceHash);
    expect(readdirSync(join(cacheDir, 'hash-cache'))).toHaveLength(1);
  });

  it('re-reads a file whose size or mtime changed and gives the hash of the new content', async () => {
    const { root, cacheDir } = settledContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    writeFileSync(join(root, 'f1.txt'), 'new content that is longer\n');
    age(join(root, 'f1.txt'), 30);
    const after = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const fresh = await createBuildPlan({ contextDir: root, cacheDir: false });
    expect(after.stats.hashedFiles).toBe(1);
    expect(after.sourceHash).toBe(fresh.sourceHash);
  });

  it('re-reads a file with the same size and mtime but a new inode (replaced by rename)', async () => {
    const { root, cacheDir } = settledContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    writeFileSync(join(root, 'replacement'), 'content X\n'); // same length as "content 2\n"
    utimesSync(
      join(root, 'replacement'),
      new Date(Date.now() - 60_000),
      new Date(Date.now() - 60_000),
    );
    renameSync(join(root, 'replacement'), join(root, 'f2.txt'));
    const after = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(after.stats.hashedFiles).toBe(1);
    expect(after.sourceHash).toBe(
      (await createBuildPlan({ contextDir: root, cacheDir: false })).sourceHash,
    );
  });

  it('does not remember files modified within the racy window before the scan', async () => {
    const { root, cacheDir } = settledContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    writeFileSync(join(root, 'fresh.txt'), 'just written');
    await createBuildPlan({ contextDir: root, cacheDir });
    const second = await createBuildPlan({ contextDir: root, cacheDir });
    expect(second.stats.hashedFiles).toBe(1);
  });

  it('only caches an entry when both mtime and ctime are older than the window', () => {
    const cache = StatCache.open('/ctx', dir('cache-unit-'), 1_000_000);
    const racy = { ...KEY, ctimeNs: (1_000_000n - 10n) * 1_000_000n };
    cache.record('old', KEY, 'a'.repeat(64));
    cache.record('racy', racy, 'b'.repeat(64));
    cache.save();
    const reopened = StatCache.open('/ctx', cacheDirOf(cache), 2_000_000);
    expect(reopened.lookup('old', KEY)).toBe('a'.repeat(64));
    expect(reopened.lookup('racy', racy)).toBeUndefined();
  });

  it('re-applies .dockerignore to remembered files when the rules change', async () => {
    const { root, cacheDir } = settledContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    writeFileSync(join(root, '.dockerignore'), 'f1.txt\n');
    const excluded = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(excluded.entries.map((e) => e.path)).not.toContain('f1.txt');
    expect(excluded.sourceHash).toBe(
      (await createBuildPlan({ contextDir: root, cacheDir: false })).sourceHash,
    );
    writeFileSync(join(root, '.dockerignore'), 'f2.txt\n');
    const switched = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(switched.entries.map((e) => e.path)).toContain('f1.txt');
    expect(switched.entries.map((e) => e.path)).not.toContain('f2.txt');
  });

  it('treats a corrupt cache file as empty', async () => {
    const { root, cacheDir } = settledContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const [name] = readdirSync(join(cacheDir, 'hash-cache'));
    writeFileSync(join(cacheDir, 'hash-cache', name!), '{not json');
    const plan = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(plan.stats.hashedFiles).toBe(6);
  });
});

/** Sets a path's mtime back to what `statSync` said before a change (its ctime still moves). */
function restoreMtime(path: string, before: { atime: Date; mtime: Date }): void {
  utimesSync(path, before.atime, before.mtime);
}

const DEEP = 'a/b/c/d';

/**
 * A context whose interesting entries are four directories down, every file and directory
 * aged: a warm run takes every digest from the cache.
 */
function deepContext(): { root: string; cacheDir: string } {
  const root = dir('cache-deep-');
  const files: Record<string, string> = {
    Dockerfile: 'FROM scratch\nCOPY . /\n',
    '.dockerignore': 'a/b/c/ignored\n',
    'a/top.txt': 'top\n',
    'a/b/c/ignored/x.txt': 'excluded\n',
    [`${DEEP}/file.txt`]: 'deep content\n',
    [`${DEEP}/other.txt`]: 'other\n',
    [`${DEEP}/sub/leaf.txt`]: 'leaf\n',
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  symlinkSync('file.txt', join(root, DEEP, 'link'));
  for (const path of Object.keys(files)) age(join(root, path));
  for (const path of [`${DEEP}/sub`, DEEP, 'a/b/c/ignored', 'a/b/c', 'a/b', 'a', '']) {
    age(join(root, path));
  }
  return { root, cacheDir: dir('cache-dir-') };
}

const deep = (root: string, name: string) => join(root, DEEP, name);

describe('stat cache: a warm run notices every change deep in the tree', () => {
  const changes: Array<[string, (root: string) => void]> = [
    [
      'new bytes with the same size and mtime',
      (root) => {
        const before = statSync(deep(root, 'file.txt'));
        writeFileSync(deep(root, 'file.txt'), 'DEEP CONTENT\n');
        restoreMtime(deep(root, 'file.txt'), before);
      },
    ],
    ['a file added', (root) => writeFileSync(deep(root, 'new.txt'), 'new\n')],
    [
      "a file added, with the directory's mtime set back",
      (root) => {
        const before = statSync(join(root, DEEP));
        writeFileSync(deep(root, 'new.txt'), 'new\n');
        restoreMtime(join(root, DEEP), before);
      },
    ],
    ['a file removed', (root) => rmSync(deep(root, 'other.txt'))],
    ['a file renamed', (root) => renameSync(deep(root, 'other.txt'), deep(root, 'renamed.txt'))],
    [
      'a file replaced by a directory of the same name',
      (root) => {
        rmSync(deep(root, 'other.txt'));
        mkdirSync(deep(root, 'other.txt'));
      },
    ],
    [
      'a directory replaced by a file of the same name',
      (root) => {
        rmSync(deep(root, 'sub'), { recursive: true });
        writeFileSync(deep(root, 'sub'), 'leaf\n');
      },
    ],
    [
      'a directory replaced by a symlink',
      (root) => {
        rmSync(deep(root, 'sub'), { recursive: true });
        symlinkSync('..', deep(root, 'sub'));
      },
    ],
    [
      'a symlink pointed elsewhere (same target length)',
      (root) => {
        rmSync(deep(root, 'link'));
        symlinkSync('fil2.txt', deep(root, 'link'));
      },
    ],
    ['a file made executable', (root) => chmodSync(deep(root, 'file.txt'), 0o755)],
    ['an empty directory added', (root) => mkdirSync(deep(root, 'empty'))],
    ['a directory renamed', (root) => renameSync(deep(root, 'sub'), deep(root, 'sub2'))],
    [
      'a file added below a subdirectory',
      (root) => writeFileSync(join(root, DEEP, 'sub', 'second.txt'), 'second\n'),
    ],
    [
      '.dockerignore rewritten in place to exclude a deep file',
      (root) => writeFileSync(join(root, '.dockerignore'), `a/b/c/ignored\n${DEEP}/other.txt\n`),
    ],
    [
      '.dockerignore re-including a file of an excluded directory',
      (root) => writeFileSync(join(root, '.dockerignore'), 'a/b/c/ignored\n!a/b/c/ignored/x.txt\n'),
    ],
  ];

  it.each(changes)('%s', async (_name, change) => {
    const { root, cacheDir } = deepContext();
    const cold = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const unchanged = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(unchanged.stats.hashedFiles).toBe(0);
    expect(unchanged.entries).toEqual(cold.entries);
    expect(unchanged.sourceHash).toBe(cold.sourceHash);

    change(root);
    const warm = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const fresh = await createBuildPlan({ contextDir: root, cacheDir: false });
    expect(warm.entries).toEqual(fresh.entries);
    expect(warm.sourceHash).toBe(fresh.sourceHash);
    expect(warm.sourceHash).not.toBe(cold.sourceHash);
    // And the cache written by the warm run describes the changed tree.
    const again = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(again.stats.hashedFiles).toBe(0);
    expect(again.sourceHash).toBe(fresh.sourceHash);
  });

  it('rewrites nothing when nothing changed', async () => {
    const { root, cacheDir } = deepContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const [name] = readdirSync(join(cacheDir, 'hash-cache'));
    const file = join(cacheDir, 'hash-cache', name!);
    const written = statSync(file);
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    // Same inode and mtime: every digest was confirmed, so no save happened.
    expect(statSync(file).ino).toBe(written.ino);
    expect(statSync(file).mtimeMs).toBe(written.mtimeMs);
  });
});

/** The directory `StatCache.open` was given, from the cache's file. */
function cacheDirOf(cache: StatCache): string {
  return (cache.file as string).replace(/\/hash-cache\/[^/]*$/, '');
}

const SETTLED_NS = (1_000_000n - BigInt(RACY_WINDOW_MS) - 1n) * 1_000_000n;
const KEY: StatKey = {
  size: 12,
  mtimeNs: SETTLED_NS,
  ctimeNs: SETTLED_NS + 1n,
  ino: 42n,
  mode: 0o100644,
};

describe('stat cache: the key', () => {
  function remembered(): StatCache {
    const cache = StatCache.open('/ctx', dir('cache-key-'), 1_000_000);
    cache.record('file', KEY, 'c'.repeat(64));
    cache.save();
    return StatCache.open('/ctx', cacheDirOf(cache), 2_000_000);
  }

  it('gives the digest back when all five fields match', () => {
    expect(remembered().lookup('file', { ...KEY })).toBe('c'.repeat(64));
  });

  const changes: Array<[keyof StatKey, StatKey]> = [
    ['size', { ...KEY, size: KEY.size + 1 }],
    ['mtimeNs', { ...KEY, mtimeNs: KEY.mtimeNs + 1n }],
    ['ctimeNs', { ...KEY, ctimeNs: KEY.ctimeNs + 1n }],
    ['ino', { ...KEY, ino: KEY.ino + 1n }],
    ['mode', { ...KEY, mode: 0o100755 }],
  ];
  it.each(changes)('misses when only %s differs (a nanosecond is enough)', (_field, key) => {
    expect(remembered().lookup('file', key)).toBeUndefined();
  });

  it('misses a path it does not hold and holds only the context it was opened for', () => {
    const cache = remembered();
    expect(cache.lookup('other', KEY)).toBeUndefined();
    expect(StatCache.open('/elsewhere', cacheDirOf(cache), 2_000_000).lookup('file', KEY)).toBe(
      undefined,
    );
  });
});

describe('stat cache: the file', () => {
  const records = () => ({
    context: '/work/ctx',
    paths: ['Dockerfile', 'dir/ünïcode file', 'z'],
    stats: BigUint64Array.from(
      [
        [1n, 10n, 11n, 12n, 0o100644n],
        // Before 1970 (a negative time) and an inode above 2^63.
        [2n, -5n, -6n, 2n ** 63n + 5n, 0o100755n],
        [0n, 0n, 0n, 0n, 0o100600n],
      ]
        .flat()
        .map((v) => BigInt.asUintN(64, v)),
    ),
    digests: 'a'.repeat(64) + 'b'.repeat(64) + 'c'.repeat(64),
  });

  it('round-trips: what is written is what is read', () => {
    const bytes = encodeStatCache(records());
    expect(bytes.subarray(0, 30).toString('latin1')).toMatch(
      new RegExp(`^launch-agent-stat-cache ${STAT_CACHE_FORMAT}\\n`),
    );
    expect(decodeStatCache(bytes)).toEqual(records());
    const empty = { context: '/c', paths: [], stats: new BigUint64Array(0), digests: '' };
    expect(decodeStatCache(encodeStatCache(empty))).toEqual(empty);
  });

  it('round-trips through save and open, with times before 1970 and 64-bit inodes', () => {
    const cache = StatCache.open('/ctx', dir('cache-trip-'), 1_000_000);
    const odd: StatKey = {
      size: 3,
      mtimeNs: -1n,
      ctimeNs: -2n,
      ino: 2n ** 64n - 1n,
      mode: 0o100644,
    };
    cache.record('a', KEY, 'd'.repeat(64));
    cache.record('b', odd, 'e'.repeat(64));
    cache.save();
    const reopened = StatCache.open('/ctx', cacheDirOf(cache), 2_000_000);
    expect(reopened.lookup('a', KEY)).toBe('d'.repeat(64));
    expect(reopened.lookup('b', odd)).toBe('e'.repeat(64));
  });

  it('reads a damaged, truncated, extended or foreign file as no file', () => {
    const bytes = encodeStatCache(records());
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 60] = flipped[bytes.length - 60]! ^ 1; // a bit of a path
    const digestFlipped = Buffer.from(bytes);
    digestFlipped[bytes.indexOf(0x0a, 30) + 1 + 3 * 40] =
      digestFlipped[bytes.indexOf(0x0a, 30) + 1 + 3 * 40]! ^ 0x80; // a bit of the first digest
    const otherVersion = Buffer.from(bytes);
    otherVersion.write(String(STAT_CACHE_FORMAT + 1), 'launch-agent-stat-cache '.length);
    for (const bad of [
      flipped,
      digestFlipped,
      otherVersion,
      bytes.subarray(0, bytes.length - 1),
      bytes.subarray(0, 40),
      Buffer.concat([bytes, Buffer.of(0)]),
      Buffer.from('{"format":4}\n'),
      Buffer.alloc(0),
    ]) {
      expect(decodeStatCache(bad)).toBeUndefined();
    }
  });

  it('opens a corrupt or oversized cache file as an empty cache', () => {
    const cache = StatCache.open('/ctx', dir('cache-bad-'), 1_000_000);
    cache.record('file', KEY, 'c'.repeat(64));
    cache.save();
    const file = cache.file as string;
    const good = readFileSync(file);
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 1;
    writeFileSync(file, corrupt);
    expect(StatCache.open('/ctx', cacheDirOf(cache), 2_000_000).lookup('file', KEY)).toBe(
      undefined,
    );
    // Past the size bound it is not even read (a sparse file: no disk is used).
    writeFileSync(file, good);
    truncateSync(file, STAT_CACHE_MAX_BYTES + 1);
    expect(StatCache.open('/ctx', cacheDirOf(cache), 2_000_000).lookup('file', KEY)).toBe(
      undefined,
    );
  });

  it('writes through a temp file renamed into place, leaving nothing else behind', () => {
    const cache = StatCache.open('/ctx', dir('cache-atomic-'), 1_000_000);
    cache.record('file', KEY, 'c'.repeat(64));
    cache.save();
    const dirOfFile = join(cache.file as string, '..');
    expect(readdirSync(dirOfFile)).toEqual([(cache.file as string).split('/').pop()]);
  });
});
