// The agent's retention: Lease heartbeats timed by the config (and no write per running job),
// finished LaunchJobs deleted after their TTL with their run Jobs and their context once no job
// (in any served namespace) uses it, and run Jobs whose LaunchJob is gone removed from the tenant
// namespace, also those left while no agent ran, but only when they carry that LaunchJob's uid.
// The agent acts as the chart's ServiceAccount, with the chart's Roles in its own and in two
// tenant namespaces (agent-stores-testbed.ts).
//
// The test environment has no controller-manager: THE TEST PLAYS THE JOB CONTROLLER for run Jobs
// (endRunJob writes the Complete or Failed status), as described in agent-harness.ts.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { type LaunchJob } from '@launch-agent/runtime';
import { agentLeaseName } from '../../packages/runtime/src/agent/lease.js';
import { runJobName } from '../../packages/runtime/src/agent/run-job-spec.js';
import { configFile, endRunJob, sleep, sourceDir, waitFor } from './agent-harness.js';
import {
  admin,
  adminJobs,
  agentNamespace,
  batch,
  env,
  getJob,
  isGone,
  kubernetesConfig,
  namespace,
  phaseIs,
  startAgent,
  storeUri,
  stores,
  submit,
  target,
  useStoresTestbed,
} from './agent-stores-testbed.js';
import { uniqueName } from './testenv.js';

useStoresTestbed();

describe('retention', () => {
  it('renews its Lease as often as launchjobs.heartbeat-seconds says, and writes nothing per running job', async () => {
    const queue = 'heartbeat';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: -1',
      'builder: {type: noop}',
      'launchjobs: {heartbeat-seconds: 1, stale-after-seconds: 3}',
      kubernetesConfig(),
    ]);
    expect(settings.launchJobs).toMatchObject({ heartbeatSeconds: 1, staleAfterSeconds: 3 });
    const identity = uniqueName('agent');
    const agent = await startAgent(settings, { identity });
    const jobs = await Promise.all(
      [1, 2, 3].map(() =>
        adminJobs.create(
          namespace,
          { name: uniqueName('lj') },
          { queue, source: { image: 'busybox:1.36' } },
        ),
      ),
    );
    for (const job of jobs) await phaseIs(job.metadata.name!, 'Running');
    const coordination = admin.makeApiClient(CoordinationV1Api);
    // The Lease is in the agent's own namespace, never a tenant's.
    const readLease = () =>
      coordination.readNamespacedLease({
        namespace: agentNamespace,
        name: agentLeaseName(identity),
      });
    const lease = await readLease();
    expect(lease.spec).toMatchObject({ holderIdentity: identity, leaseDurationSeconds: 3 });
    const before = agent.writes();
    const first = new Date(lease.spec!.renewTime!).valueOf();
    // Two renewals, one second apart: the only writes while the three jobs run.
    const renewed = await waitFor(
      'two more Lease renewals',
      readLease,
      (l) => new Date(l.spec!.renewTime!).valueOf() - first >= 1_500,
      6_000,
    );
    expect(new Date(renewed.spec!.renewTime!).valueOf() - first).toBeLessThan(4_000);
    const after = agent.writes();
    expect(after.status - before.status).toBe(0);
    expect(after.runJobs - before.runJobs).toBe(0);
    expect(after.lease - before.lease).toBeGreaterThanOrEqual(2);
    // The jobs carry the agent's name, not a timestamp of their own.
    const running = await getJob(jobs[0]!.metadata.name!);
    expect(running.status!.agent).toBe(identity);
    expect(running.status!.heartbeatTime).toBeUndefined();
  }, 60_000);

  it('deletes finished LaunchJobs after their TTL, their run Jobs in their namespaces, and the context its uploader uploaded once no job in any namespace uses it', async () => {
    const queue = 'ttl';
    const repository = `${env.registry}/agent-stores/ttl`;
    const { path, settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 2',
      'builder:',
      '  type: docker',
      `  destination: ${repository}`,
      `  build-context-store: ${storeUri('s3')}`,
      'launchjobs: {ttl-seconds-after-finished: 1}',
      kubernetesConfig(),
    ]);
    const source = sourceDir(uniqueName('ttl'));
    // The same source from two tenants: one stored context.
    const first = await submit(path, source, queue, [], target);
    const second = await submit(path, source, queue);
    const key = first.spec.source.context!.key;
    expect(second.spec.source.context!.key).toBe(key);
    // The first submit uploaded the context; the second found it stored and carries no token.
    expect(first.spec.source.context!.uploadToken).toBeDefined();
    expect(second.spec.source.context!.uploadToken).toBeUndefined();

    const agent = await startAgent(settings);
    const one = await phaseIs(first.metadata.name!, 'Running', 120_000, target);
    const two = await phaseIs(second.metadata.name!, 'Running', 120_000);
    expect(one.status!.runJobNamespace).toBe(target);
    expect(two.status!.runJobNamespace).toBe(namespace);
    const oneRunJob = () =>
      batch.readNamespacedJob({ name: one.status!.runJobName!, namespace: target });
    expect((await oneRunJob()).metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LaunchJob', uid: first.metadata.uid, controller: true }),
    ]);

    await endRunJob(batch, one, 'Complete');
    await phaseIs(first.metadata.name!, 'Succeeded', undefined, target);
    // The first job uploaded the context and the second still names it: the first is kept past
    // its TTL (only its deletion may remove the context), in the rounds that run every 500 ms.
    await sleep(1500);
    expect((await getJob(first.metadata.name!, target)).status!.phase).toBe('Succeeded');
    expect(await stores.s3.exists(key)).toBe(true);

    await endRunJob(batch, two, 'Failed');
    await isGone('the second LaunchJob', () => getJob(second.metadata.name!));
    // No garbage collector here: the agent deletes the run Jobs itself.
    await isGone('its run Job', () =>
      batch.readNamespacedJob({ name: two.status!.runJobName!, namespace }),
    );
    // Now the first is the last to name it: it goes, its run Job and the context with it.
    await isGone('the first LaunchJob', () => getJob(first.metadata.name!, target));
    await isGone('its run Job', oneRunJob);
    await waitFor(
      'the context to be deleted',
      () => stores.s3.exists(key),
      (e) => !e,
      20_000,
    );
    const metrics = await agent.metrics.render();
    expect(metrics).toContain('launch_agent_deleted_total{what="launchjob"} 2');
    expect(metrics).toContain('launch_agent_deleted_total{what="context"} 1');
  }, 240_000);

  it('deletes the run Job in the tenant namespace when its LaunchJob is deleted, finds those left while no agent ran, and never deletes a Job without its uid', async () => {
    const queue = 'orphans';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: -1',
      'builder: {type: noop}',
      kubernetesConfig(),
    ]);
    const create = () =>
      adminJobs.create(
        namespace,
        { name: uniqueName('lj') },
        { queue, source: { image: 'busybox:1.36' } },
      );
    const runJobOf = (job: LaunchJob) => () =>
      batch.readNamespacedJob({ name: runJobName(job), namespace });

    // Deleted while an agent watches.
    let agent = await startAgent(settings);
    const watched = await phaseIs((await create()).metadata.name!, 'Running');
    await adminJobs.deleteIfUnchanged(watched);
    await isGone('the run Job of the deleted LaunchJob', runJobOf(watched));

    // Deleted while no agent runs: the next one finds the Job past the grace period.
    const unwatched = await phaseIs((await create()).metadata.name!, 'Running');
    await agent.stop();
    await adminJobs.deleteIfUnchanged(await getJob(unwatched.metadata.name!));
    await runJobOf(unwatched)(); // still there
    const kept = await create();
    agent = await startAgent(settings, { orphanGraceMs: 0 });
    await isGone('the orphaned run Job', runJobOf(unwatched));
    // A run Job whose LaunchJob exists is left alone.
    const live = await phaseIs(kept.metadata.name!, 'Running');
    await sleep(1500);
    await expect(runJobOf(live)()).resolves.toBeDefined();
    expect(await agent.metrics.render()).toContain(
      'launch_agent_deleted_total{what="orphaned_run_job"} 1',
    );

    // A Job someone else made under the name the run Job would have: the LaunchJob fails
    // (RunJobNameTaken), and its deletion leaves that Job alone: it does not carry the job's uid.
    await agent.stop();
    const squatted = await create();
    const squatter = await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: {
          name: runJobName(squatted),
          labels: { 'launch-agent.dev/role': 'run', 'launch-agent.dev/queue': queue },
        },
        spec: {
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'busybox:1.36' }] },
          },
        },
      },
    });
    agent = await startAgent(settings, { orphanGraceMs: 0 });
    const taken = await phaseIs(squatted.metadata.name!, 'Failed');
    expect(taken.status!.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'RunJobNameTaken' })]),
    );
    await adminJobs.deleteIfUnchanged(taken);
    await isGone('the LaunchJob whose run Job name was taken', () =>
      getJob(squatted.metadata.name!),
    );
    await sleep(1500); // the deletion seen, and orphan sweeps every 500 ms
    const still = await runJobOf(squatted)();
    expect(still.metadata!.uid).toBe(squatter.metadata!.uid);
    expect(await agent.metrics.render()).not.toContain('what="run_job"');
  }, 120_000);
});
