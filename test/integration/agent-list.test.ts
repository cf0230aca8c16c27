// `launch-agent list` on the real API server with the chart's RBAC and the agent in-process
// (agent-cancel-testbed.ts): queue positions against the order the agent then claims, a cancelled
// unclaimed job, -A refused without a cluster-wide list, and --watch.
import { PassThrough } from 'node:stream';
import { endRunJob, runCliWith, waitFor } from './agent-harness.js';
import { uniqueName } from './testenv.js';
import { main } from '../../packages/cli/src/main.js';
import { Output } from '../../packages/cli/src/output.js';
import {
  adminJobs,
  batch,
  cli,
  config,
  create,
  env,
  eventReasons,
  expectCancelled,
  getJob,
  phaseIs,
  researcher,
  team,
  useCancelTestbed,
} from './agent-cancel-testbed.js';

useCancelTestbed();

describe('launch-agent list', () => {
  it('shows queue positions in the order the agent then claims the jobs (max_jobs 1); a cancelled unclaimed job ends at once', async () => {
    const blocker = uniqueName('blocker');
    await create(blocker);
    let running = await phaseIs(blocker, 'Running');
    // Created a second apart, named against their age: the order is by creationTimestamp.
    const waiting = ['wait-c', 'wait-b', 'wait-a'].map((n) => uniqueName(n));
    for (const name of waiting) {
      await create(name);
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    const unclaimed = uniqueName('unclaimed');
    await create(unclaimed);

    const cancelled = await cli(['cancel', unclaimed, '--reason', 'not needed']);
    expect(cancelled.stdout).toContain(`launchjob ${team}/${unclaimed}: cancel requested`);
    expect(cancelled.code).toBe(0);
    const ended = await phaseIs(unclaimed, 'Cancelled', 10_000);
    expectCancelled(ended, /^cancelled while unclaimed by system:serviceaccount:.*: not needed$/);
    expect(ended.status?.agent).toBeUndefined();
    expect((await batch.listNamespacedJob({ namespace: team })).items).toHaveLength(1);
    await waitFor(
      `a Cancelled Event`,
      () => eventReasons(unclaimed),
      (r) => r.includes('Cancelled'),
    );

    const listed = await cli(['list', '--json']);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{
      name: string;
      phase: string;
      position: number | null;
      reason: string | null;
    }>;
    const position = (name: string) => rows.find((row) => row.name === name)?.position;
    expect(waiting.map(position)).toEqual([1, 2, 3]);
    expect(position(blocker)).toBeNull();
    expect(rows.find((row) => row.name === unclaimed)).toMatchObject({
      phase: 'Cancelled',
      position: null,
      reason: 'CancelRequested',
    });
    const table = await cli(['list']);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NAME\s+NAMESPACE\s+QUEUE\s+PHASE\s+REASON\s+POSITION\s+AGE\s+IMAGE$/,
    );
    expect(table.stdout).toMatch(
      new RegExp(`${waiting[0]}\\s+${team}\\s+default\\s+Pending\\s+-\\s+1\\s`),
    );

    const claimed: string[] = [];
    for (let i = 0; i < waiting.length; i++) {
      await endRunJob(batch, running, 'Complete');
      await phaseIs(running.metadata.name!, 'Succeeded');
      const next = await waitFor(
        'the next job to be claimed',
        async () => (await adminJobs.list(team)).items,
        (jobs) =>
          jobs.some(
            (j) =>
              waiting.includes(j.metadata.name!) &&
              !claimed.includes(j.metadata.name!) &&
              j.status?.agent,
          ),
      );
      const taken = next.filter(
        (j) =>
          waiting.includes(j.metadata.name!) &&
          !claimed.includes(j.metadata.name!) &&
          j.status?.agent,
      );
      expect(taken).toHaveLength(1);
      claimed.push(taken[0]!.metadata.name!);
      running = await phaseIs(taken[0]!.metadata.name!, 'Running');
    }
    expect(claimed).toEqual(waiting);
    await endRunJob(batch, running, 'Complete');
    await phaseIs(running.metadata.name!, 'Succeeded');
  }, 120_000);
});

describe('launch-agent list -A', () => {
  it('says plainly when a cluster-wide list is forbidden', async () => {
    const all = await runCliWith(['list', '-A', '--config', config], researcher);
    expect(all.code).toBe(1);
    expect(all.stderr).toContain(
      'your account may not list LaunchJobs across all namespaces (a cluster-wide list is forbidden); list one namespace with -n NS',
    );
    const admins = await runCliWith(['list', '-A', '--json', '--config', config], env.kubeconfig);
    expect(admins.code).toBe(0);
    expect(
      (JSON.parse(admins.stdout) as Array<{ namespace: string }>).some((r) => r.namespace === team),
    ).toBe(true);
  });
});

describe('launch-agent list --watch', () => {
  it('prints again when a job changes, from a watch, until interrupted', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const prints = () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Array<{ name: string; phase: string }>);
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = researcher;
    const watching = main(
      ['list', '--watch', '--json', '--config', config, '-n', team],
      new Output(stdout, new PassThrough(), { NO_COLOR: '1' }),
    );
    try {
      await waitFor(
        'the first print',
        async () => prints(),
        (p) => p.length >= 1,
      );
      const name = uniqueName('watched');
      await create(name);
      const phaseSeen = (phase: string) => (p: ReturnType<typeof prints>) =>
        p.some((rows) => rows.some((row) => row.name === name && row.phase === phase));
      await waitFor(`${name} printed Running`, async () => prints(), phaseSeen('Running'));
      const running = await getJob(name);
      await endRunJob(batch, running, 'Complete');
      await waitFor(`${name} printed Succeeded`, async () => prints(), phaseSeen('Succeeded'));
    } finally {
      process.emit('SIGINT');
      expect(await watching).toBe(0);
      process.env.KUBECONFIG = saved;
    }
  }, 60_000);
});
