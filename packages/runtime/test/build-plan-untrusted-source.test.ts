import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildPlanError, createBuildPlan, UnsafeContextFileError } from '@launch-agent/runtime';
import { type LocalBuildContext } from '../src/agent/build-context-source.js';
import { fetchGitSource } from '../src/agent/git-source.js';
import { startGitDaemon, type GitDaemon } from './git-daemon.js';

// A job's source is untrusted: these contexts try to make the plan read the agent's own files,
// read forever, or hang. Each must fail fast with a BuildPlanError naming the path.

const dirs: string[] = [];
let daemon: GitDaemon;
beforeAll(async () => {
  daemon = await startGitDaemon();
});
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await daemon.stop();
});
/** The repositories are served by a local git daemon, allowed as the operator would allow it. */
const policy = { hosts: ['127.0.0.1'], schemes: ['git' as const], credentialHosts: [] };
let repos = 0;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A file outside every context, standing in for the ServiceAccount token. */
const outside = tempDir('outside-');
const SECRET = 'service-account-token-must-not-ship';
writeFileSync(join(outside, 'token'), SECRET);

/** Settles `promise` within `ms`, or fails: the time bound every hostile case must meet. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A git repository whose files are made by `populate`, fetched as the agent fetches a job's source. */
async function gitSource(populate: (dir: string) => void): Promise<LocalBuildContext> {
  const url = daemon.makeRepo(`repo-${repos++}`, populate);
  const local = await fetchGitSource({ url }, { policy });
  dirs.push(local.directory);
  return local;
}

/**
 * A source directory with links that leave it. A git source never gets this far (its links are
 * checked as it is written: see below); a directory given to `launch-agent build` does.
 */
function linkedSource(populate: (dir: string) => void): LocalBuildContext {
  const directory = tempDir('linked-source-');
  populate(directory);
  return { directory, cleanup: () => Promise.resolve() };
}

async function planError(promise: Promise<unknown>): Promise<Error> {
  const started = performance.now();
  const error = await within(5000, promise).then(
    () => new Error('the plan was made'),
    (e: unknown) => e as Error,
  );
  expect(performance.now() - started).toBeLessThan(5000);
  return error;
}

describe('build plan of an untrusted source', () => {
  it('refuses a git source with a link out of it while writing it, before any plan', async () => {
    const error = await gitSource((dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      symlinkSync(join(outside, 'token'), join(dir, 'token'));
    }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ reason: 'UnsafeBuildContext' });
    expect((error as Error).message).toMatch(/symbolic link token -> \S+ that leaves the context/);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('refuses a source whose Dockerfile links outside the context, as the agent calls it', async () => {
    const local = linkedSource((dir) =>
      symlinkSync(join(outside, 'token'), join(dir, 'Dockerfile')),
    );
    // The agent's call today: an absolute Dockerfile path inside the fetched directory.
    const error = await planError(
      createBuildPlan({
        contextDir: local.directory,
        dockerfile: join(local.directory, 'Dockerfile'),
        cacheDir: false,
      }),
    );
    expect(error).toBeInstanceOf(UnsafeContextFileError);
    expect(error).toBeInstanceOf(BuildPlanError);
    expect(error.message).toContain(join(local.directory, 'Dockerfile'));
    expect(error.message).toMatch(/resolves outside the build context/);
    expect(error.message).not.toContain(SECRET);
  });

  it('refuses the same link named relative to the context, and the default Dockerfile', async () => {
    const local = linkedSource((dir) => {
      mkdirSync(join(dir, 'build'));
      symlinkSync('../../../../../../../../etc/passwd', join(dir, 'build', 'Dockerfile'));
      symlinkSync('/etc/passwd', join(dir, 'Dockerfile'));
    });
    const relative = await planError(
      createBuildPlan({
        contextDir: local.directory,
        contextDockerfile: 'build/Dockerfile',
        cacheDir: false,
      }),
    );
    expect(relative).toMatchObject({ name: 'UnsafeContextFileError', path: 'build/Dockerfile' });
    expect(relative.message).toContain(
      'Dockerfile build/Dockerfile resolves outside the build context',
    );
    const byDefault = await planError(
      createBuildPlan({ contextDir: local.directory, cacheDir: false }),
    );
    expect(byDefault).toMatchObject({ name: 'UnsafeContextFileError', path: 'Dockerfile' });
  });

  it('refuses a context-relative Dockerfile path that climbs out of the context', async () => {
    const local = await gitSource((dir) =>
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n'),
    );
    const error = await planError(
      createBuildPlan({
        contextDir: local.directory,
        contextDockerfile: '../../etc/passwd',
        cacheDir: false,
      }),
    );
    expect(error).toMatchObject({ name: 'UnsafeContextFileError', path: '../../etc/passwd' });
    expect(error.message).toContain('is outside the build context');
  });

  it('refuses a .dockerignore that links to /dev/zero within the deadline, reading nothing', async () => {
    const local = linkedSource((dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      symlinkSync('/dev/zero', join(dir, '.dockerignore'));
    });
    const error = await planError(
      createBuildPlan({ contextDir: local.directory, cacheDir: false }),
    );
    expect(error).toBeInstanceOf(UnsafeContextFileError);
    expect(error.message).toContain(join(local.directory, '.dockerignore'));
    expect(error.message).toMatch(/resolves outside the build context/);
  });

  it('keeps a link that stays inside the context, and plans as usual', async () => {
    const local = await gitSource((dir) => {
      writeFileSync(join(dir, 'real.Dockerfile'), 'FROM scratch\n');
      symlinkSync('real.Dockerfile', join(dir, 'Dockerfile'));
      writeFileSync(join(dir, '.dockerignore'), 'secret.txt\n');
      writeFileSync(join(dir, 'secret.txt'), 'x');
    });
    const plan = await within(
      5000,
      createBuildPlan({
        contextDir: local.directory,
        contextDockerfile: 'Dockerfile',
        cacheDir: false,
      }),
    );
    expect(plan.dockerfile.toString()).toBe('FROM scratch\n');
    expect(plan.entries.map((e) => e.path)).not.toContain('secret.txt');
  });
});

describe('git source caps', () => {
  it('refuses a checkout over launchjobs.max-source-entries or max-source-bytes and removes it', async () => {
    const url = daemon.makeRepo('big', (dir) => {
      for (let i = 0; i < 6; i++) writeFileSync(join(dir, `f${i}`), 'x'.repeat(1000));
    });
    // The checkouts go under a directory of this test's own, so no other process's checkouts come
    // and go in what it counts.
    const parent = tempDir('git-checkouts-');
    const temps = () => readdirSync(parent);
    await expect(
      within(
        10_000,
        fetchGitSource(
          { url },
          { policy, limits: { maxBytes: 1 << 20, maxEntries: 3 }, parentDir: parent },
        ),
      ),
    ).rejects.toMatchObject({
      reason: 'UnsafeBuildContext',
      message: expect.stringContaining('more than 3 entries (launchjobs.max-source-entries)'),
    });
    await expect(
      within(
        10_000,
        fetchGitSource(
          { url },
          { policy, limits: { maxBytes: 4000, maxEntries: 100 }, parentDir: parent },
        ),
      ),
    ).rejects.toMatchObject({
      reason: 'UnsafeBuildContext',
      message: expect.stringMatching(/more than \d+ bytes \(launchjobs.max-source-bytes/),
    });
    expect(temps()).toEqual([]);
  });
});

describe('build plan of a local directory (launch-agent build)', () => {
  it('refuses a FIFO .dockerignore without waiting on it', async () => {
    const context = tempDir('fifo-ignore-');
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
    execFileSync('mkfifo', [join(context, '.dockerignore')]);
    const error = await planError(createBuildPlan({ contextDir: context, cacheDir: false }));
    expect(error).toMatchObject({ name: 'UnsafeContextFileError', problem: 'not-a-file' });
    expect(error.message).toContain('.dockerignore');
  });

  it('refuses a FIFO Dockerfile and a Dockerfile over 1 MiB', async () => {
    const fifo = tempDir('fifo-dockerfile-');
    execFileSync('mkfifo', [join(fifo, 'Dockerfile')]);
    const notAFile = await planError(createBuildPlan({ contextDir: fifo, cacheDir: false }));
    expect(notAFile).toMatchObject({ problem: 'not-a-file', path: 'Dockerfile' });

    const large = tempDir('large-dockerfile-');
    writeFileSync(join(large, 'Dockerfile'), Buffer.alloc((1 << 20) + 1, 0x23));
    const tooLarge = await planError(createBuildPlan({ contextDir: large, cacheDir: false }));
    expect(tooLarge).toMatchObject({ problem: 'too-large', path: 'Dockerfile' });
    expect(tooLarge.message).toContain('larger than 1048576 bytes');
  });

  it('still reads an explicit --dockerfile outside the context, as docker build -f does', async () => {
    const context = tempDir('ctx-');
    const elsewhere = tempDir('df-');
    writeFileSync(join(elsewhere, 'Dockerfile'), 'FROM scratch\n');
    const plan = await createBuildPlan({
      contextDir: context,
      dockerfile: join(elsewhere, 'Dockerfile'),
      cacheDir: false,
    });
    expect(plan.dockerfileInContext).toBeUndefined();
    expect(plan.dockerfile.toString()).toBe('FROM scratch\n');
  });

  it('left nothing behind outside the contexts', () => {
    expect(readdirSync(outside)).toEqual(['token']);
  });
});
