import { mkdtempSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBuildPlan } from '../src/build/build-plan.js';
import { RACY_WINDOW_MS, StatCache } from '../src/build/stat-cache.js';

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
