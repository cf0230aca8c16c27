// `launch-agent cancel` on the real API server with the chart's RBAC and the agent in-process
// (agent-cancel-testbed.ts): a running job's run Job deleted, a kaniko build aborted, kubectl's
// declarative patch, and an account without `patch` refused.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { LaunchJob } from '@launch-agent/runtime';
import { run } from './agent-queue-testbed.js';
import { endRunJob, helmEnv, runCliWith, sourceDir, waitFor } from './agent-harness.js';
import { uniqueName } from './testenv.js';
import {
  STOP_SECONDS,
  batch,
  bucket,
  cli,
  config,
  create,
  env,
  eventReasons,
  expectCancelled,
  getJob,
  holdRunJob,
  phaseIs,
  reader,
  researcher,
  s3,
  team,
  agentNs,
  useCancelTestbed,
} from './agent-cancel-testbed.js';

useCancelTestbed();

describe('launch-agent cancel', () => {
  it('deletes a running job’s run Job with stopped_run_timeout as grace period; Cancelled with the reason', async () => {
    const name = uniqueName('running');
    await create(name);
    const running = await phaseIs(name, 'Running');
    const runJobName = running.status!.runJobName!;
    const runJob = await batch.readNamespacedJob({ name: runJobName, namespace: team });
    expect(runJob.spec!.template.spec!.terminationGracePeriodSeconds).toBe(STOP_SECONDS);
    // A finalizer holds the deleted Job, so how it was deleted can be read off it.
    await holdRunJob(runJobName, ['launch-agent.dev/test-hold']);
    const started = Date.now();
    const result = await cli(['cancel', name, '--reason', 'diverged']);
    expect(result.code).toBe(0);
    const ended = await phaseIs(name, 'Cancelled', (STOP_SECONDS + 10) * 1000);
    expect(Date.now() - started).toBeLessThan((STOP_SECONDS + 10) * 1000);
    expectCancelled(ended, /^cancelled while running by .*: diverged$/);
    const deleted = await batch.readNamespacedJob({ name: runJobName, namespace: team });
    expect(deleted.metadata?.deletionTimestamp).toBeDefined();
    // Background propagation: no orphan or foregroundDeletion finalizer. (A Job has no graceful
    // deletion of its own: its pods' terminationGracePeriodSeconds is what the run gets.)
    expect(deleted.metadata?.finalizers).toEqual(['launch-agent.dev/test-hold']);
    await holdRunJob(runJobName, null);
    await waitFor(
      `a Cancelled Event`,
      () => eventReasons(name),
      (r) => r.includes('Cancelled'),
    );

    const again = await cli(['cancel', name]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      `launchjob ${team}/${name} already ended Cancelled; nothing to cancel`,
    );
  }, 60_000);

  it('aborts a kaniko build: its build Job and uploaded context are removed, the job ends Cancelled', async () => {
    const submitted = await runCliWith(
      [
        'submit',
        sourceDir(uniqueName('ctx')),
        '--queue',
        'default',
        '--json',
        '--config',
        config,
        '--namespace',
        team,
      ],
      env.kubeconfig,
    );
    expect(submitted.code).toBe(0);
    const name = (JSON.parse(submitted.stdout) as LaunchJob).metadata.name!;
    await phaseIs(name, 'Building', 60_000);
    const buildJobs = () =>
      batch
        .listNamespacedJob({ namespace: agentNs, labelSelector: 'launch-agent.dev/build-id' })
        .then((list) => list.items);
    await waitFor('the kaniko build Job', buildJobs, (jobs) => jobs.length === 1, 60_000);
    // What the kaniko builder uploaded for its Job: removed by the abort's clean-up.
    const upload = (await buildJobs())[0]!.metadata!.annotations!['launch-agent.dev/context-key']!;
    const uploaded = () =>
      s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `launch/${upload}` })).then(
        () => true,
        () => false,
      );
    expect(await uploaded()).toBe(true);
    const result = await cli(['cancel', name]);
    expect(result.code).toBe(0);
    expectCancelled(await phaseIs(name, 'Cancelled'), /^cancelled while building by /);
    await waitFor('the build Job to be deleted', buildJobs, (jobs) => jobs.length === 0);
    await waitFor('the kaniko upload to be deleted', uploaded, (exists) => !exists);
    expect(
      (await batch.listNamespacedJob({ namespace: team })).items.filter(
        (j) => j.metadata?.labels?.['launch-agent.dev/launchjob'] === name,
      ),
    ).toEqual([]);
  }, 120_000);

  it('takes the declarative patch kubectl sends; the rest of spec stays immutable and a cancel cannot be withdrawn', async () => {
    const name = uniqueName('declarative');
    await create(name);
    await phaseIs(name, 'Running');
    const kubectl = async (args: string[]) =>
      run('kubectl', ['-n', team, ...args], { env: { ...(await helmEnv(researcher)) } }).then(
        (r) => ({ code: 0, out: `${r.stdout}` }),
        (error: { code?: number; stderr?: string }) => ({
          code: error.code ?? 1,
          out: `${error.stderr}`,
        }),
      );
    // What `kubectl patch --type merge` sends, as the researcher.
    const mergePatch = (body: string) =>
      kubectl(['patch', 'launchjob', name, '--type', 'merge', '-p', body]);
    const queue = await mergePatch('{"spec":{"queue":"other"}}');
    expect(queue.code).not.toBe(0);
    expect(queue.out).toContain('spec is immutable but for spec.cancel');
    const patched = await mergePatch('{"spec":{"cancel":{"requested":true}}}');
    expect(patched).toMatchObject({ code: 0 });
    expectCancelled(await phaseIs(name, 'Cancelled'), /^cancelled while running$/);
    const withdraw = await mergePatch('{"spec":{"cancel":{"requested":false}}}');
    expect(withdraw.code).not.toBe(0);
    expect(withdraw.out).toContain('a requested cancel cannot be withdrawn');
    const columns = await kubectl(['get', 'launchjob', name]);
    expect(columns.out.split('\n')[0]).toMatch(/NAME\s+QUEUE\s+PHASE\s+REASON/);
    expect(columns.out.split('\n')[1]).toMatch(
      new RegExp(`^${name}\\s+default\\s+Cancelled\\s+CancelRequested\\s`),
    );
  }, 60_000);

  it('says so when the account may not patch LaunchJobs, and leaves the job alone', async () => {
    const name = uniqueName('guarded');
    await create(name);
    const running = await phaseIs(name, 'Running');
    const refused = await cli(['cancel', name], reader);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `you may not cancel launchjob ${team}/${name}: your RBAC does not allow patch on launchjobs in ${team}`,
    );
    expect((await getJob(name)).spec.cancel).toBeUndefined();
    const missing = await cli(['cancel', 'no-such-job'], reader);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`launchjob ${team}/no-such-job not found`);
    await endRunJob(batch, running, 'Complete');
    await phaseIs(name, 'Succeeded');
  }, 60_000);
});
