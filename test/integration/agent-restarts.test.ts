// Agents that end in the middle of a job, and the builds they were running: a stored context
// built with the docker builder (podman's Docker Engine API, pushed to the test registry) and
// reused for the same context, a git source, an agent that dies mid-build or after creating the
// run Job (a successor takes the job over once its Lease is stale, and the job runs once), and a
// graceful stop that hands a job back. The agents act as the chart's ServiceAccount
// (agent-queue-testbed.ts).
//
// The test plays the Job controller (endRunJob, see agent-harness.ts): nothing runs the run
// Jobs' pods.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchAgentConfig } from '@launch-agent/config';
import { startGitDaemon } from '../../packages/runtime/test/git-daemon.js';
import { endRunJob, waitFor } from './agent-harness.js';
import {
  agents,
  batch,
  contextStore,
  env,
  getJob,
  hangingBuilder,
  phaseIs,
  run,
  runJobsOf,
  settingsFor,
  startAgent,
  storeContext,
  submit,
  useQueueTestbed,
} from './agent-queue-testbed.js';
import { uniqueName } from './testenv.js';

useQueueTestbed();

describe('agent restarts', () => {
  const dockerSettings = (queue: string) =>
    settingsFor({
      queues: [queue],
      builder: {
        type: 'docker',
        destination: `${env.registry}/agent-it/${queue}`,
        'build-context-store': 'pvc://contexts',
      },
    } as Partial<LaunchAgentConfig>);

  it('builds a stored context with the docker builder, then reuses the image for the same context', async () => {
    const queue = 'docker';
    const key = `${uniqueName('ctx')}.tar.gz`;
    const digest = await storeContext(key, {
      Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n',
      'hello.txt': `hello ${key}\n`,
    });
    const agent = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
    });
    const first = await submit(queue, {
      source: { context: { key, digest } },
      run: { args: ['/hello'] },
    });
    const built = await phaseIs(first.metadata.name!, 'Running');
    expect(built.status).toMatchObject({
      imageStatus: 'built',
      image: expect.stringMatching(new RegExp(`^${env.registry}/agent-it/docker:[0-9a-f]+$`)),
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    const [runJob] = (await runJobsOf(queue)).filter(
      (j) => j.metadata!.name === built.status!.runJobName,
    );
    expect(runJob!.spec!.template.spec!.containers[0]!.image).toBe(
      `${built.status!.image}@${built.status!.digest}`,
    );

    const second = await submit(queue, { source: { context: { key, digest } } });
    await endRunJob(batch, built, 'Complete');
    const reused = await phaseIs(second.metadata.name!, 'Running');
    expect(reused.status).toMatchObject({ imageStatus: 'reused', image: built.status!.image });
    expect(await agent.metrics.render()).toMatch(/launch_agent_build_duration_seconds_count 1\n/);
  }, 180_000);

  it('builds a git source (a repository of a local git daemon, a branch) and refuses a token in the URL', async () => {
    const queue = 'git';
    const daemon = await startGitDaemon();
    const name = uniqueName('model');
    const url = daemon.makeRepo(name, (dir) => {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY model.txt /model.txt\n');
      writeFileSync(join(dir, 'model.txt'), `${name}\n`);
    });
    await run('git', ['branch', '--quiet', '-m', 'main', 'release'], {
      cwd: join(daemon.root, name),
    });
    // Two slots: the first job keeps its slot while it runs. git:// on the daemon's address is
    // allowed explicitly (the default allows https and ssh from no host).
    const settings = settingsFor({
      queues: [queue],
      builder: {
        type: 'docker',
        destination: `${env.registry}/agent-it/${queue}`,
        'build-context-store': 'pvc://contexts',
      },
      launchjobs: { 'git-sources': { hosts: ['127.0.0.1'], schemes: ['git'] } },
    } as Partial<LaunchAgentConfig>);
    const agent = await startAgent({ settings: { ...settings, maxJobs: 2 } });
    const job = await submit(queue, { source: { git: { url, ref: 'release' } } });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status).toMatchObject({
      imageStatus: 'built',
      image: expect.stringContaining(`${env.registry}/agent-it/git:`),
    });
    expect(agent.metrics.counter('images', { result: 'built' })).toBe(1);

    const secret = 'ghp_notarealtoken';
    const leaky = await submit(queue, {
      source: { git: { url: `https://x-access-token:${secret}@example.com/org/repo.git` } },
    });
    const failed = await phaseIs(leaky.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'GitCredentialsInUrl' })]),
    );
    expect(JSON.stringify(failed.status)).not.toContain(secret);
    await daemon.stop();
  }, 180_000);

  it('an agent that dies mid-build: another one takes the job over and runs it exactly once', async () => {
    const queue = 'crash-build';
    const key = `${uniqueName('ctx')}.tar.gz`;
    const digest = await storeContext(key, {
      Dockerfile: 'FROM scratch\nCOPY data.txt /data.txt\n',
      'data.txt': `data ${key}\n`,
    });
    let buildStarted!: () => void;
    const started = new Promise<void>((resolve) => (buildStarted = resolve));
    const doomed = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      builder: async () => hangingBuilder(buildStarted),
    });
    const job = await submit(queue, { source: { context: { key, digest } } });
    await started;
    const building = await phaseIs(job.metadata.name!, 'Building');
    doomed.abandon(); // the process is gone: no hand-back, the heartbeat stops
    agents.splice(agents.indexOf(doomed), 1);

    const successor = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
    });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status!.agent).not.toBe(building.status!.agent);
    expect(running.status!.imageStatus).toBe('built');
    expect(running.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Claimed', reason: 'ResumedFromStaleAgent' }),
      ]),
    );
    expect(await runJobsOf(queue)).toHaveLength(1);
    expect(successor.metrics.counter('claims', { result: 'resumed' })).toBe(1);
  }, 180_000);

  it('an agent that dies after creating the run Job: the successor follows that Job, never a second', async () => {
    const queue = 'crash-run';
    const doomed = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue);
    const running = await phaseIs(job.metadata.name!, 'Running');
    doomed.abandon();
    agents.splice(agents.indexOf(doomed), 1);
    const successor = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    // The status names the run Job already: the successor follows it and never creates one.
    const resumed = await waitFor(
      'the successor to take the job over',
      () => getJob(job.metadata.name!),
      (j) => j.status?.agent !== undefined && j.status.agent !== running.status!.agent,
    );
    expect(resumed.status!.runJobName).toBe(running.status!.runJobName);
    expect(successor.metrics.counter('claims', { result: 'resumed' })).toBe(1);
    expect(successor.metrics.counter('run_jobs_created', { result: 'created' })).toBe(0);
    expect(await runJobsOf(queue)).toHaveLength(1);
    await endRunJob(batch, running, 'Complete');
    await phaseIs(job.metadata.name!, 'Succeeded');
  });

  it('graceful stop hands a job in the middle of a build back, and the next agent takes it at once', async () => {
    const queue = 'handback';
    const key = `${uniqueName('ctx')}.tar.gz`;
    const digest = await storeContext(key, { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: key });
    let buildStarted!: () => void;
    const started = new Promise<void>((resolve) => (buildStarted = resolve));
    const first = await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      builder: async () => hangingBuilder(buildStarted),
      staleAfterMs: 600_000, // only the hand-back can free the job within this test
    });
    const job = await submit(queue, { source: { context: { key, digest } } });
    await started;
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    const released = await getJob(job.metadata.name!);
    expect(released.status!.agent).toBeUndefined();
    expect(released.status!.phase).toBe('Pending');
    expect(released.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Claimed', status: 'False', reason: 'AgentShutdown' }),
      ]),
    );
    await startAgent({
      settings: dockerSettings(queue),
      contextStore: contextStore(),
      staleAfterMs: 600_000,
    });
    await phaseIs(job.metadata.name!, 'Running');
    expect(await runJobsOf(queue)).toHaveLength(1);
  }, 180_000);
});
