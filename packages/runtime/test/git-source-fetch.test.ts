// fetchGitSource against real git servers on 127.0.0.1: `git daemon` (git://) for the files and
// the caps, and a small HTTPS server of the test's own (self-signed, trusted through
// GIT_SSL_CAINFO) that records what git sends it, for the credentials and redirects.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { GitSourceSettings } from '@launch-agent/config';
import { fetchGitSource } from '../src/agent/git-source.js';
import { startGitDaemon, type GitDaemon } from './git-daemon.js';
import { loopbackCertificate, type LoopbackCertificate } from './loopback-tls.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  }).toString();

const dirs: string[] = [];
let daemon: GitDaemon;
const policy: GitSourceSettings = { hosts: ['127.0.0.1'], schemes: ['git'], credentialHosts: [] };

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  daemon = await startGitDaemon();
});
afterAll(async () => {
  await daemon.stop();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** Bytes of the files under `dir`. */
function bytesIn(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * The most bytes seen at once under the directories of `parent` whose names start with `prefix`,
 * measured every few milliseconds until stop().
 */
function watchMostBytes(parent: string, prefix: string): { stop(): Promise<number> } {
  let most = 0;
  let measuring = true;
  const loop = (async () => {
    while (measuring) {
      for (const name of readdirSync(parent)) {
        if (!name.startsWith(prefix)) continue;
        try {
          most = Math.max(most, bytesIn(join(parent, name)));
        } catch {
          // removed while being measured
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    stop: async () => {
      measuring = false;
      await loop;
      return most;
    },
  };
}

describe('fetchGitSource over git:// (git daemon)', () => {
  it('writes the files of the ref as a checkout would, without .git and in spite of export-ignore', async () => {
    const url = daemon.makeRepo('plain', (dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      writeFileSync(join(dir, '.gitattributes'), 'kept.txt export-ignore\n');
      writeFileSync(join(dir, 'kept.txt'), 'kept');
    });
    const before = daemon.connections();
    const parent = tempDir('fetch-');
    const local = await fetchGitSource({ url, ref: 'main' }, { policy, parentDir: parent });
    try {
      expect(readFileSync(join(local.directory, 'Dockerfile'), 'utf8')).toBe('FROM scratch\n');
      expect(readFileSync(join(local.directory, 'kept.txt'), 'utf8')).toBe('kept');
      expect(readdirSync(local.directory)).not.toContain('.git');
      expect(daemon.connections() - before).toBe(1);
      // Only the checkout is left; the bare repository and the empty HOME are gone.
      expect(readdirSync(parent)).toEqual([basename(local.directory)]);
    } finally {
      await local.cleanup();
    }
  });

  it('does not fetch a submodule, even one that points at another allowed repository', async () => {
    const sub = daemon.makeRepo('sub', (dir) => writeFileSync(join(dir, 'sub.txt'), 'sub'));
    const subHead = git(join(daemon.root, 'sub'), 'rev-parse', 'HEAD').trim();
    const url = daemon.makeRepo('super', (dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      writeFileSync(
        join(dir, '.gitmodules'),
        `[submodule "sub"]\n\tpath = vendor/sub\n\turl = ${sub}\n`,
      );
    });
    const superDir = join(daemon.root, 'super');
    git(superDir, 'update-index', '--add', '--cacheinfo', `160000,${subHead},vendor/sub`);
    git(superDir, 'commit', '--quiet', '-m', 'gitlink');
    const before = daemon.connections();
    const local = await fetchGitSource({ url }, { policy, parentDir: tempDir('fetch-') });
    try {
      expect(readFileSync(join(local.directory, '.gitmodules'), 'utf8')).toContain('vendor/sub');
      expect(bytesIn(local.directory)).toBe(
        statSync(join(local.directory, 'Dockerfile')).size +
          statSync(join(local.directory, '.gitmodules')).size,
      );
      expect(daemon.connections() - before).toBe(1);
    } finally {
      await local.cleanup();
    }
  });

  it('stops a large, compressible repository at the cap before it passes it by one file', async () => {
    const fileBytes = 256 * 1024;
    const cap = 4 * 1024 * 1024;
    // 64 MiB of zeros: a pack of a few hundred KiB that checks out to 16 times the cap.
    const url = daemon.makeRepo('zeros', (dir) => {
      for (let i = 0; i < 256; i++)
        writeFileSync(join(dir, `z${String(i).padStart(3, '0')}`), Buffer.alloc(fileBytes, i % 7));
    });
    const parent = tempDir('fetch-zeros-');
    const watch = watchMostBytes(parent, 'launch-agent-git-checkout-');
    const started = performance.now();
    const error = await fetchGitSource(
      { url },
      { policy, limits: { maxBytes: cap, maxEntries: 100_000 }, parentDir: parent },
    ).catch((e: unknown) => e as Error);
    const most = await watch.stop();
    expect(error).toMatchObject({ reason: 'UnsafeBuildContext' });
    expect((error as Error).message).toMatch(/more than \d+ bytes \(launchjobs.max-source-bytes/);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(cap + fileBytes);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('kills the fetch when the pack itself passes the cap', async () => {
    // Random bytes do not compress: the pack is about as large as the files.
    const url = daemon.makeRepo('random', (dir) => {
      for (let i = 0; i < 16; i++) writeFileSync(join(dir, `r${i}`), randomBytes(1024 * 1024));
    });
    const parent = tempDir('fetch-random-');
    // The bare repository the pack is written into (the checkout is never started).
    const watch = watchMostBytes(parent, 'launch-agent-git-');
    const error = await fetchGitSource(
      { url },
      { policy, limits: { maxBytes: 1024 * 1024, maxEntries: 100 }, parentDir: parent },
    ).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ reason: 'UnsafeBuildContext' });
    expect((error as Error).message).toContain('while it is fetched');
    // The pack file is stopped at the cap by the kernel (RLIMIT_FSIZE); the rest is git's small files.
    const most = await watch.stop();
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
    expect(readdirSync(parent)).toEqual([]);
  });
});

/** An HTTPS "git server" that only records requests: 401 asking for Basic credentials, or a redirect. */
async function recordingServer(
  certificate: LoopbackCertificate,
  answer: 'ask-credentials' | { redirectTo: string },
): Promise<{
  server: Server;
  port: number;
  requests: Array<{ url: string; authorization?: string }>;
}> {
  const requests: Array<{ url: string; authorization?: string }> = [];
  const server = createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    requests.push({
      url: req.url!,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (answer === 'ask-credentials') {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
    } else {
      res.writeHead(302, { Location: `${answer.redirectTo}${req.url}` }).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, requests };
}

describe('fetchGitSource over https: credentials and redirects', () => {
  let certDir: string;
  let certificate: LoopbackCertificate;
  let credentialsFile: string;
  const servers: Server[] = [];
  beforeAll(() => {
    certDir = tempDir('git-https-');
    certificate = loopbackCertificate(certDir);
    credentialsFile = join(certDir, 'git-credentials');
  });
  afterAll(() => servers.forEach((s) => s.close()));

  const env = () => ({ PATH: process.env.PATH, GIT_SSL_CAINFO: certificate.certFile });
  const https: GitSourceSettings = {
    hosts: ['127.0.0.1'],
    schemes: ['https'],
    credentialHosts: [],
  };

  it('offers the stored credentials to a bound host only', async () => {
    const { server, port, requests } = await recordingServer(certificate, 'ask-credentials');
    servers.push(server);
    writeFileSync(credentialsFile, `https://agent:stored-token@127.0.0.1:${port}\n`);
    const url = `https://127.0.0.1:${port}/team/repo.git`;
    const unbound = await fetchGitSource(
      { url },
      { policy: { ...https, credentialsFile }, processEnv: env() },
    ).catch((e: unknown) => e as Error);
    expect(unbound).toMatchObject({ reason: 'GitFetchFailed' });
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.authorization)).toEqual([]);
    const bound = await fetchGitSource(
      { url },
      { policy: { ...https, credentialHosts: ['127.0.0.1'], credentialsFile }, processEnv: env() },
    ).catch((e: unknown) => e as Error);
    expect(bound).toMatchObject({ reason: 'GitFetchFailed' });
    expect(requests.map((r) => r.authorization)).toContain(
      `Basic ${Buffer.from('agent:stored-token').toString('base64')}`,
    );
    expect((bound as Error).message).not.toContain('stored-token');
  });

  it('never follows a redirect, not even to another allowed host', async () => {
    const target = await recordingServer(certificate, 'ask-credentials');
    const source = await recordingServer(certificate, {
      redirectTo: `https://127.0.0.1:${target.port}`,
    });
    servers.push(target.server, source.server);
    const error = await fetchGitSource(
      { url: `https://127.0.0.1:${source.port}/r.git` },
      { policy: { ...https, credentialHosts: ['127.0.0.1'], credentialsFile }, processEnv: env() },
    ).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ reason: 'GitFetchFailed' });
    expect(source.requests.length).toBeGreaterThan(0);
    expect(target.requests).toEqual([]);
  });
});
