import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBuildPlan, type BuildPlanOptions } from '../src/context/build-plan.js';
import {
  digestSourceManifest,
  SOURCE_HASH_VERSION,
  TAG_HEX_LENGTH,
} from '../src/context/source-hash.js';
import { createHash } from 'node:crypto';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A context directory written from a map of relative path → content. */
function context(
  files: Record<string, string>,
  dockerfile = 'FROM scratch\nCOPY . /app\n',
): string {
  const root = mkdtempSync(join(tmpdir(), 'hash-ctx-'));
  roots.push(root);
  writeFileSync(join(root, 'Dockerfile'), dockerfile);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

async function hashOf(
  contextDir: string,
  options: Partial<BuildPlanOptions> = {},
): Promise<string> {
  const plan = await createBuildPlan({ contextDir, cacheDir: false, ...options });
  return plan.sourceHash;
}

const base = {
  'src/main.py': 'print("hi")\n',
  'src/lib/util.py': 'x = 1\n',
  'README.md': '# app\n',
};

describe('source hash', () => {
  it('is a 64-hex SHA-256 whose first 32 characters are the tag', async () => {
    const plan = await createBuildPlan({ contextDir: context(base), cacheDir: false });
    expect(plan.sourceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.tag).toBe(plan.sourceHash.slice(0, TAG_HEX_LENGTH));
    expect(TAG_HEX_LENGTH).toBeGreaterThanOrEqual(16);
  });

  it('does not depend on mtimes', async () => {
    const a = context(base);
    const before = await hashOf(a);
    utimesSync(join(a, 'src/main.py'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await hashOf(a)).toBe(before);
  });

  it('does not depend on where the context is (absolute path) or the order files were created in', async () => {
    const a = context(base);
    const reversed = Object.fromEntries(Object.entries(base).reverse());
    const b = context(reversed);
    expect(await hashOf(b)).toBe(await hashOf(a));
  });

  it('changes when a file moves, even with the same bytes', async () => {
    const a = context(base);
    const before = await hashOf(a);
    renameSync(join(a, 'README.md'), join(a, 'src/README.md'));
    expect(await hashOf(a)).not.toBe(before);
  });

  it('changes when one byte of a file changes', async () => {
    const a = context(base);
    const b = context({ ...base, 'src/lib/util.py': 'x = 2\n' });
    expect(await hashOf(b)).not.toBe(await hashOf(a));
  });

  it('changes with the executable bit, and only with the executable bit', async () => {
    const a = context(base);
    chmodSync(join(a, 'src/main.py'), 0o644);
    const plain = await hashOf(a);
    chmodSync(join(a, 'src/main.py'), 0o600);
    expect(await hashOf(a)).toBe(plain);
    chmodSync(join(a, 'src/main.py'), 0o755);
    const executable = await hashOf(a);
    expect(executable).not.toBe(plain);
    chmodSync(join(a, 'src/main.py'), 0o700);
    expect(await hashOf(a)).toBe(executable);
  });

  it('changes with build args, target and platform, but not with the order args are given in', async () => {
    const a = context(base);
    const none = await hashOf(a);
    const ab = await hashOf(a, { buildArgs: { A: '1', B: '2' } });
    const ba = await hashOf(a, { buildArgs: { B: '2', A: '1' } });
    expect(ab).toBe(ba);
    expect(ab).not.toBe(none);
    expect(await hashOf(a, { buildArgs: { A: '1', B: '3' } })).not.toBe(ab);
    expect(await hashOf(a, { target: 'runtime' })).not.toBe(none);
    expect(await hashOf(a, { platform: 'linux/arm64' })).not.toBe(none);
    expect(await hashOf(a, { platform: 'linux/arm64' })).not.toBe(
      await hashOf(a, { platform: 'linux/amd64' }),
    );
  });

  it('does not confuse field boundaries (arg A=BC vs AB=C)', async () => {
    const a = context(base);
    expect(await hashOf(a, { buildArgs: { A: 'BC' } })).not.toBe(
      await hashOf(a, { buildArgs: { AB: 'C' } }),
    );
  });

  it('changes with the Dockerfile text, also when the Dockerfile is outside the context', async () => {
    const a = context(base);
    const outside = mkdtempSync(join(tmpdir(), 'hash-df-'));
    roots.push(outside);
    writeFileSync(join(outside, 'build.Dockerfile'), 'FROM scratch\nCOPY src /src\n');
    const withOutside = await createBuildPlan({
      contextDir: a,
      dockerfile: join(outside, 'build.Dockerfile'),
      cacheDir: false,
    });
    expect(withOutside.dockerfileInContext).toBeUndefined();
    expect(withOutside.sourceHash).not.toBe(await hashOf(a));
    writeFileSync(join(outside, 'build.Dockerfile'), 'FROM scratch\nCOPY src /srv\n');
    expect(await hashOf(a, { dockerfile: join(outside, 'build.Dockerfile') })).not.toBe(
      withOutside.sourceHash,
    );
  });

  it('ignores what .dockerignore excludes, and hashes what it re-includes', async () => {
    const a = context({ ...base, '.dockerignore': 'logs\n*.tmp\n!keep.tmp\n' });
    const before = await hashOf(a);
    writeFileSync(join(a, 'scratch.tmp'), 'noise');
    mkdirSync(join(a, 'logs'));
    writeFileSync(join(a, 'logs/run.log'), 'noise');
    expect(await hashOf(a)).toBe(before);
    writeFileSync(join(a, 'keep.tmp'), 'kept');
    expect(await hashOf(a)).not.toBe(before);
  });

  it('hashes symlinks as links, never following them', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'hash-outside-'));
    roots.push(outside);
    writeFileSync(join(outside, 'target.txt'), 'one');
    const a = context(base);
    symlinkSync(join(outside, 'target.txt'), join(a, 'entry'));
    const linked = await hashOf(a);
    expect(linked).not.toBe(await hashOf(context(base)));
    writeFileSync(join(outside, 'target.txt'), 'two, a different size');
    expect(await hashOf(a)).toBe(linked);
    rmSync(join(a, 'entry'));
    symlinkSync(join(outside, 'other.txt'), join(a, 'entry'));
    expect(await hashOf(a)).not.toBe(linked);
  });

  it('counts empty directories, since COPY creates them', async () => {
    const a = context(base);
    const before = await hashOf(a);
    mkdirSync(join(a, 'data'));
    expect(await hashOf(a)).not.toBe(before);
  });

  it('gives the same result on worker threads as on one thread', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`blob/${i}.bin`] = `${i}`.repeat(20_000 + i);
    const a = context(files);
    const single = await createBuildPlan({ contextDir: a, cacheDir: false, threads: 1 });
    const { computeSourceHash } = await import('../src/context/source-hash.js');
    const { walkContext } = await import('../src/context/walk.js');
    const { DockerIgnore } = await import('../src/context/dockerignore.js');
    const { readFileSync } = await import('node:fs');
    const parallel = await computeSourceHash(
      {
        entries: walkContext(single.contextDir, new DockerIgnore([])),
        dockerfile: readFileSync(join(a, 'Dockerfile')),
        buildArgs: {},
      },
      { threads: 2, parallelThresholdBytes: 0 },
    );
    expect(parallel.hash).toBe(single.sourceHash);
    expect(parallel.stats.hashedFiles).toBe(41);
  });

  it('follows the documented manifest format (docs/source-hash.md)', () => {
    const fileDigest = createHash('sha256').update('hello\n').digest('hex');
    const expected = createHash('sha256')
      .update(
        `${SOURCE_HASH_VERSION}\n` +
          'dockerfile 13:FROM scratch\n\n' +
          'platform 11:linux/amd64\n' +
          'target 0:\n' +
          'arg 1:A 2:10\n' +
          'dir 3:bin\n' +
          `file 9:bin/hello x ${fileDigest}\n` +
          'link 4:link 9:bin/hello\n',
      )
      .digest('hex');
    const actual = digestSourceManifest(
      {
        dockerfile: Buffer.from('FROM scratch\n'),
        platform: 'linux/amd64',
        buildArgs: { A: '10' },
        entries: [
          { type: 'directory', path: 'bin' },
          {
            type: 'file',
            path: 'bin/hello',
            absolutePath: '/nowhere',
            executable: true,
            stat: { size: 6, mtimeNs: 0n, ctimeNs: 0n, ino: 0n, mode: 0 },
          },
          { type: 'symlink', path: 'link', target: 'bin/hello' },
        ],
      },
      new Map([['bin/hello', fileDigest]]),
    );
    expect(actual).toBe(expected);
  });
});
