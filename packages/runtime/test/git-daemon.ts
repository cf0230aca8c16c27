// A real git server for tests: `git daemon` on 127.0.0.1, serving the repositories under a
// directory over git://, and counting the connections it accepts (its --verbose log).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GitDaemon {
  /** The directory whose repositories are served. */
  root: string;
  /** git://127.0.0.1:PORT/NAME for a repository made by makeRepo. */
  url(name: string): string;
  /** Connections the daemon has accepted so far. */
  connections(): number;
  /** Makes a repository NAME whose files `populate` writes, committed on branch main. */
  makeRepo(name: string, populate: (dir: string) => void): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function commitAll(dir: string): void {
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: dir,
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
  git('init', '--quiet', '--initial-branch=main');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'source');
}

export async function startGitDaemon(): Promise<GitDaemon> {
  const root = mkdtempSync(join(tmpdir(), 'git-daemon-'));
  const port = await freePort();
  const daemon: ChildProcess = spawn(
    'git',
    [
      'daemon',
      '--reuseaddr',
      '--listen=127.0.0.1',
      `--port=${port}`,
      `--base-path=${root}`,
      '--export-all',
      '--verbose',
      root,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`git daemon did not listen on ${port}: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The readiness probe itself was one connection.
  const baseline = () => (log.match(/Connection from/g) ?? []).length;
  await new Promise((r) => setTimeout(r, 100));
  const probes = baseline();
  return {
    root,
    url: (name) => `git://127.0.0.1:${port}/${name}`,
    connections: () => baseline() - probes,
    makeRepo: (name, populate) => {
      const dir = join(root, name);
      execFileSync('mkdir', ['-p', dir]);
      populate(dir);
      commitAll(dir);
      return `git://127.0.0.1:${port}/${name}`;
    },
    stop: async () => {
      daemon.kill();
      await new Promise((r) => daemon.once('exit', r));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
