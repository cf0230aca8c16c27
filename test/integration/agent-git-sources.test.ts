// Git sources the agent must not fetch, and one it must stop at the cap, against the real agent:
// the kube-apiserver of scripts/testenv, the chart's ServiceAccount and CRD (agent-queue-testbed),
// the agent's own git. The servers are real and on 127.0.0.1: `git daemon` (git://) and a plain
// HTTP server that only counts what reaches it (no git is served there: a request is the failure).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LaunchAgentConfig } from '@launch-agent/config';
import type { LaunchJob } from '@launch-agent/runtime';
import { startGitDaemon, type GitDaemon } from '../../packages/runtime/test/git-daemon.js';
import { waitFor } from './agent-harness.js';
import {
  adminJobs,
  env,
  getJob,
  hangingBuilder,
  phaseIs,
  settingsFor,
  startAgent as startTestbedAgent,
  submit,
  useQueueTestbed,
} from './agent-queue-testbed.js';

useQueueTestbed();

let daemon: GitDaemon;
let http: Server;
let httpPort: number;
let httpConnections = 0;
/** Where the agent writes job sources (LaunchAgentOptions.sourceDir), so checkouts can be measured. */
let agentTmp: string;

beforeAll(async () => {
  daemon = await startGitDaemon();
  http = createServer((_req, res) => res.writeHead(404).end());
  http.on('connection', () => (httpConnections += 1));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = (http.address() as { port: number }).port;
  agentTmp = mkdtempSync(join(tmpdir(), 'gitsrc-agent-tmp-'));
});
afterAll(async () => {
  await daemon?.stop();
  http?.close();
  if (agentTmp) rmSync(agentTmp, { recursive: true, force: true });
});

async function startAgent(queue: string, launchjobs: LaunchAgentConfig['launchjobs']) {
  const settings = settingsFor({
    queues: [queue],
    builder: { type: 'noop', destination: `${env.registry}/agent-it/${queue}` },
    ...(launchjobs ? { launchjobs } : {}),
  });
  await startTestbedAgent({ settings, sourceDir: agentTmp });
}

async function failed(job: LaunchJob) {
  const done = await phaseIs(job.metadata.name!, 'Failed');
  return done.status!.conditions!.find((c) => c.type === 'Failed')!;
}

const agentDirs = () => readdirSync(agentTmp).filter((name) => name.startsWith('launch-agent-'));

describe('the agent with git sources it must not fetch', () => {
  it('fails file://, http:// (not allowed by default) and a host not on the list, fetching nothing', async () => {
    const queue = 'git-refused';
    // The default schemes (https, ssh); hosts name only the git daemon's address.
    await startAgent(queue, { 'git-sources': { hosts: ['127.0.0.1'] } });
    const repoUrl = daemon.makeRepo('refused', (dir) =>
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n'),
    );
    const cases: Array<[string, RegExp]> = [
      [`file://${join(daemon.root, 'refused')}`, /file:\/\/ reads the agent's own disk/],
      [`http://127.0.0.1:${httpPort}/team/repo.git`, /the scheme http is not in/],
      // Allowed scheme and host in every other way: only the host differs.
      [`https://localhost:${httpPort}/team/repo.git`, /the host localhost is not in/],
      [repoUrl, /the scheme git is not in/],
    ];
    const before = daemon.connections();
    for (const [url, why] of cases) {
      const condition = await failed(
        await submit(queue, { source: { git: { url, ref: 'main' } } }),
      );
      expect(condition.reason).toBe('GitSourceNotAllowed');
      expect(condition.message).toContain('spec.source.git.url');
      expect(condition.message).toMatch(why);
      expect(condition.message).toContain(
        'allowed: https://, ssh (ssh:// or user@host:path) from 127.0.0.1 (launchjobs.git-sources)',
      );
    }
    expect(httpConnections).toBe(0);
    expect(daemon.connections()).toBe(before);
    expect(agentDirs()).toEqual([]);
  }, 90_000);

  it('refuses every git source when the config lists no host, and never repeats a token', async () => {
    const queue = 'git-no-hosts';
    await startAgent(queue, undefined);
    const condition = await failed(
      await submit(queue, {
        source: { git: { url: `https://x-access-token:ghp_tok123@127.0.0.1:${httpPort}/r.git` } },
      }),
    );
    expect(condition.reason).toBe('GitCredentialsInUrl');
    expect(condition.message).not.toContain('ghp_tok123');
    const none = await failed(
      await submit(queue, { source: { git: { url: `https://127.0.0.1:${httpPort}/r.git` } } }),
    );
    expect(none.reason).toBe('GitSourceNotAllowed');
    expect(none.message).toContain('launchjobs.git-sources.hosts is empty');
    expect(httpConnections).toBe(0);
  }, 60_000);
});

describe('the agent with a large, compressible git repository', () => {
  it('stops writing the checkout at max-source-bytes, within one file of it', async () => {
    const queue = 'git-zeros';
    const cap = 2 * 1024 * 1024;
    const fileBytes = 128 * 1024;
    await startAgent(queue, {
      'max-source-bytes': cap,
      // The test allows git:// on the daemon's address explicitly; the default refuses it.
      'git-sources': { hosts: ['127.0.0.1'], schemes: ['git'] },
    });
    // 64 MiB of repeated bytes: a pack of a few hundred KiB, 32 times the cap checked out.
    const url = daemon.makeRepo('zeros', (dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      mkdirSync(join(dir, 'data'));
      for (let i = 0; i < 512; i++) {
        writeFileSync(
          join(dir, 'data', `z${String(i).padStart(3, '0')}`),
          Buffer.alloc(fileBytes, i % 5),
        );
      }
    });
    let most = 0;
    let measuring = true;
    const bytesIn = (dir: string) =>
      readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
    const measure = (async () => {
      while (measuring) {
        for (const name of agentDirs().filter((n) => n.startsWith('launch-agent-git-checkout-'))) {
          try {
            most = Math.max(most, bytesIn(join(agentTmp, name)));
          } catch {
            // removed while measured
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const condition = await failed(await submit(queue, { source: { git: { url, ref: 'main' } } }));
    measuring = false;
    await measure;
    expect(condition.reason).toBe('UnsafeBuildContext');
    expect(condition.message).toMatch(/more than \d+ bytes \(launchjobs.max-source-bytes/);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(cap + fileBytes);
    await waitFor(
      'the checkout to be removed',
      async () => agentDirs(),
      (d) => d.length === 0,
      10_000,
    );
  }, 90_000);
});

describe('the agent with launchjobs.source-budget-bytes', () => {
  it('holds a second source until the first build releases its room, then fetches it', async () => {
    const queue = 'git-budget';
    const cap = 1024 * 1024;
    let builds = 0;
    const settings = settingsFor({
      queues: [queue],
      max_jobs: 2,
      builder: { type: 'noop', destination: `${env.registry}/agent-it/${queue}` },
      launchjobs: {
        'max-source-bytes': cap,
        // Room for one source at its cap: a second waits while the first is on disk.
        'source-budget-bytes': cap,
        'git-sources': { hosts: ['127.0.0.1'], schemes: ['git'] },
      },
    });
    await startTestbedAgent({
      settings,
      sourceDir: agentTmp,
      builder: async () => hangingBuilder(() => (builds += 1)),
    });
    const repo = (name: string) =>
      daemon.makeRepo(name, (dir) =>
        writeFileSync(join(dir, 'Dockerfile'), `FROM scratch\n# ${name}\n`),
      );
    const first = await submit(queue, { source: { git: { url: repo('budget-a') } } });
    await waitFor(
      'the first build',
      async () => builds,
      (n) => n === 1,
      30_000,
    );
    const before = daemon.connections();
    const second = await submit(queue, { source: { git: { url: repo('budget-b') } } });
    await phaseIs(second.metadata.name!, 'Building');
    // Two seconds in which the second source is neither fetched nor built.
    await new Promise((r) => setTimeout(r, 2000));
    expect(builds).toBe(1);
    expect(daemon.connections()).toBe(before);
    expect(agentDirs().filter((n) => n.startsWith('launch-agent-git-checkout-'))).toHaveLength(1);

    // The first job goes away: its build is aborted, its room released, the second goes on.
    await adminJobs.deleteIfUnchanged(await getJob(first.metadata.name!));
    await waitFor(
      'the second build',
      async () => builds,
      (n) => n === 2,
      30_000,
    );
    expect(daemon.connections()).toBe(before + 1);
  }, 90_000);
});
