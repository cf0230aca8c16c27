import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBuildPlan } from '../src/context/build-plan.js';
import { decodeStatCache, encodeStatCache } from '../src/context/stat-cache-file.js';
import { RACY_WINDOW_MS, StatCache } from '../src/context/stat-cache.js';

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
    expect(after.stats.hashedFiles).toBeGreaterThanOrEqual(1);
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
    const old = {
      size: 1,
      mtimeMs: 1_000_000 - RACY_WINDOW_MS - 1,
      ctimeMs: 1_000_000 - RACY_WINDOW_MS - 1,
      ino: 1,
      mode: 0o100644,
      dev: 1,
    };
    cache.record('old', old, 'a'.repeat(64));
    cache.record('racy', { ...old, ctimeMs: 1_000_000 - 10 }, 'b'.repeat(64));
    cache.save();
    const reopened = StatCache.open(
      '/ctx',
      (cache.file as string).replace(/\/hash-cache\/.*$/, ''),
      2_000_000,
    );
    expect(reopened.lookup('old', old)).toBe('a'.repeat(64));
    expect(reopened.lookup('old', { ...old, mode: 0o100755 })).toBeUndefined();
    expect(reopened.lookup('racy', { ...old, ctimeMs: 1_000_000 - 10 })).toBeUndefined();
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
 * aged: a warm run takes every listing and every digest from the cache.
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

  // Changes that leave every directory's stat alone: the snapshot still holds, and only the
  // changed file is read. Every other change must make the warm run walk the context.
  const keepSnapshot = new Set([
    'new bytes with the same size and mtime',
    'a file made executable',
  ]);

  it.each(changes)('%s', async (name, change) => {
    const { root, cacheDir } = deepContext();
    const cold = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(cold.stats.fromSnapshot).toBe(false);
    const unchanged = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(unchanged.stats.hashedFiles).toBe(0);
    expect(unchanged.stats.fromSnapshot).toBe(true);
    expect(unchanged.entries).toEqual(cold.entries);
    expect(unchanged.sourceHash).toBe(cold.sourceHash);

    change(root);
    const warm = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const fresh = await createBuildPlan({ contextDir: root, cacheDir: false });
    expect(warm.stats.fromSnapshot).toBe(keepSnapshot.has(name));
    expect(warm.entries).toEqual(fresh.entries);
    expect(warm.sourceHash).toBe(fresh.sourceHash);
    expect(warm.sourceHash).not.toBe(cold.sourceHash);
    // And the cache written by the warm run describes the changed tree, snapshot included.
    const again = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(again.stats.hashedFiles).toBe(0);
    expect(again.stats.fromSnapshot).toBe(true);
    expect(again.entries).toEqual(fresh.entries);
    expect(again.sourceHash).toBe(fresh.sourceHash);
  });

  it('leaves no snapshot after a scan that could not remember everything', async () => {
    const { root, cacheDir } = deepContext();
    const plan = () => createBuildPlan({ contextDir: root, cacheDir, now: later() });
    await plan();
    // A file whose mtime is ahead of the scan clock is racy: hashed, but never remembered.
    const recent = deep(root, 'recent.txt');
    writeFileSync(recent, 'just written\n');
    const ahead = new Date(later() + 3_600_000);
    utimesSync(recent, ahead, ahead);
    const racy = await plan();
    expect([racy.stats.fromSnapshot, racy.stats.hashedFiles]).toEqual([false, 1]);
    const next = await plan();
    expect([next.stats.fromSnapshot, next.stats.hashedFiles]).toEqual([false, 1]);
    expect(next.sourceHash).toBe(racy.sourceHash);
    age(recent);
    const settled = await plan();
    expect([settled.stats.fromSnapshot, settled.stats.hashedFiles]).toEqual([false, 1]);
    const again = await plan();
    expect([again.stats.fromSnapshot, again.stats.hashedFiles]).toEqual([true, 0]);
    expect(again.sourceHash).toBe(racy.sourceHash);
  });

  it('gives the remembered source hash only for the same Dockerfile, args, target and platform', async () => {
    const { root, cacheDir } = deepContext();
    const outside = join(dir('cache-dockerfile-'), 'Dockerfile');
    writeFileSync(outside, 'FROM scratch\n');
    const plan = (options: { buildArgs?: Record<string, string>; platform?: string } = {}) =>
      createBuildPlan({
        contextDir: root,
        dockerfile: outside,
        cacheDir,
        now: later(),
        ...options,
      });
    const fresh = (options: { buildArgs?: Record<string, string>; platform?: string } = {}) =>
      createBuildPlan({ contextDir: root, dockerfile: outside, cacheDir: false, ...options });
    await plan();
    // Tamper with the remembered hash: a run that uses it gives the tampered value back.
    const [name] = readdirSync(join(cacheDir, 'hash-cache'));
    const file = join(cacheDir, 'hash-cache', name!);
    const stored = decodeStatCache(readFileSync(file))!;
    const tampered = 'f'.repeat(64);
    writeFileSync(
      file,
      encodeStatCache({ ...stored, sourceHash: { ...stored.sourceHash!, hash: tampered } }),
    );
    expect((await plan()).sourceHash).toBe(tampered);
    // A snapshot that holds no source hash is given one by the next scan.
    writeFileSync(file, encodeStatCache({ ...stored, sourceHash: undefined }));
    const rehashed = await plan();
    expect(rehashed.stats.fromSnapshot).toBe(true);
    expect(decodeStatCache(readFileSync(file))?.sourceHash?.hash).toBe(rehashed.sourceHash);
    writeFileSync(
      file,
      encodeStatCache({ ...stored, sourceHash: { ...stored.sourceHash!, hash: tampered } }),
    );

    for (const options of [{ buildArgs: { A: '1' } }, { platform: 'linux/arm64' }]) {
      const other = await plan(options);
      expect(other.stats.fromSnapshot).toBe(true);
      expect(other.sourceHash).toBe((await fresh(options)).sourceHash);
    }
    writeFileSync(outside, 'FROM scratch\nLABEL changed=1\n');
    const edited = await plan();
    expect(edited.stats.fromSnapshot).toBe(true);
    expect(edited.sourceHash).toBe((await fresh()).sourceHash);
    // A file changed under a snapshot that still holds: hashed again, not remembered.
    const before = statSync(deep(root, 'file.txt'));
    writeFileSync(deep(root, 'file.txt'), 'DEEP CONTENT\n');
    restoreMtime(deep(root, 'file.txt'), before);
    writeFileSync(outside, 'FROM scratch\n');
    const changed = await plan();
    expect([changed.stats.fromSnapshot, changed.stats.hashedFiles]).toEqual([true, 1]);
    expect(changed.sourceHash).toBe((await fresh()).sourceHash);
    expect(changed.sourceHash).not.toBe(tampered);
  });

  it('walks the context when the snapshot does not fit it, whatever the directory stats say', async () => {
    const { root, cacheDir } = deepContext();
    const cold = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    // A file gone while every directory keeps the stat the snapshot has (no POSIX file system
    // does this; the cache file is rewritten to pretend it): the snapshot must not be trusted.
    rmSync(deep(root, 'other.txt'));
    const [name] = readdirSync(join(cacheDir, 'hash-cache'));
    const file = join(cacheDir, 'hash-cache', name!);
    const stored = decodeStatCache(readFileSync(file))!;
    const stats = Float64Array.from(stored.stats);
    stored.dirPaths.forEach((path, d) => {
      const s = statSync(join(root, path));
      const at = (stored.filePaths.length + d) * 6;
      stats.set([s.size, s.mtimeMs, s.ctimeMs, s.ino, s.mode, s.dev], at);
    });
    writeFileSync(file, encodeStatCache({ ...stored, stats }));
    const warm = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const fresh = await createBuildPlan({ contextDir: root, cacheDir: false });
    expect(warm.stats.fromSnapshot).toBe(false);
    expect(warm.entries).toEqual(fresh.entries);
    expect(warm.sourceHash).toBe(fresh.sourceHash);
    expect(warm.sourceHash).not.toBe(cold.sourceHash);
  });

  it('rewrites nothing when nothing changed', async () => {
    const { root, cacheDir } = deepContext();
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    const [name] = readdirSync(join(cacheDir, 'hash-cache'));
    const file = join(cacheDir, 'hash-cache', name!);
    const written = statSync(file);
    await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    // Same inode and mtime: every digest and every listing was confirmed, so no save happened.
    expect(statSync(file).ino).toBe(written.ino);
    expect(statSync(file).mtimeMs).toBe(written.mtimeMs);
  });

  it('does not remember the listing of a directory changed within the racy window', () => {
    const cache = StatCache.open('/ctx', dir('cache-unit-'), 1_000_000, 'rules');
    const stat = (ctimeMs: number) => ({
      size: 4096,
      mtimeMs: 1_000_000 - RACY_WINDOW_MS - 1,
      ctimeMs,
      ino: 7,
      mode: 0o40755,
      dev: 1,
    });
    const listing = { names: ['a'], kinds: Uint8Array.of(1) };
    cache.rememberListing('old', stat(1_000_000 - RACY_WINDOW_MS - 1), listing);
    cache.rememberListing('racy', stat(1_000_000 - 10), listing);
    cache.save();
    const cacheDir = (cache.file as string).replace(/\/hash-cache\/.*$/, '');
    const reopened = StatCache.open('/ctx', cacheDir, 2_000_000, 'rules');
    expect(reopened.listing('old', stat(1_000_000 - RACY_WINDOW_MS - 1))?.names).toEqual(['a']);
    expect(reopened.listing('racy', stat(1_000_000 - 10))).toBeUndefined();
    // Listings are decisions of the .dockerignore rules: other rules, no listing.
    const otherRules = StatCache.open('/ctx', cacheDir, 2_000_000, 'other rules');
    expect(otherRules.listing('old', stat(1_000_000 - RACY_WINDOW_MS - 1))).toBeUndefined();
  });

  it('removes the JSON cache file of the previous format when it saves', async () => {
    const { root, cacheDir } = settledContext();
    const { realpathSync } = await import('node:fs');
    const name = createHash('sha256').update(realpathSync(root)).digest('hex').slice(0, 32);
    mkdirSync(join(cacheDir, 'hash-cache'), { recursive: true });
    writeFileSync(join(cacheDir, 'hash-cache', `${name}.json`), '{"format":2,"entries":[]}');
    const plan = await createBuildPlan({ contextDir: root, cacheDir, now: later() });
    expect(plan.stats.hashedFiles).toBe(6);
    expect(existsSync(join(cacheDir, 'hash-cache', `${name}.json`))).toBe(false);
    expect(readdirSync(join(cacheDir, 'hash-cache'))).toEqual([`${name}.bin`]);
  });
});
