// The agent taking jobs from its queue, against the real kube-apiserver of scripts/testenv and
// acting as the chart's ServiceAccount (agent-queue-testbed.ts): the LaunchJob CRD's own rules,
// claiming a job, the run Job it creates, the job's status mirrored from that Job (Succeeded,
// Failed with its reason), the jobs it refuses (secure_mode, a job created in the agent's own
// namespace, a run namespace other than the job's) and
// max_jobs across two agents. Agents that die or stop mid-job: agent-restarts.test.ts; the
// launch-agent commands: agent-cli.test.ts.
//
// The test plays the Job controller (endRunJob, see agent-harness.ts): nothing runs the run
// Jobs' pods.
import { endRunJob, sleep, waitFor } from './agent-harness.js';
import {
  adminJobs,
  agentNamespace,
  batch,
  namespace,
  phaseIs,
  runJobsOf,
  settingsFor,
  startAgent,
  submit,
  useQueueTestbed,
} from './agent-queue-testbed.js';
import { uniqueName } from './testenv.js';

useQueueTestbed();

describe('LaunchJob CRD', () => {
  it('refuses a job with two sources and accepts one with exactly one', async () => {
    await expect(
      adminJobs.create(
        namespace,
        { name: uniqueName('bad') },
        { queue: 'q', source: { image: 'busybox', git: { url: 'https://example.com/x.git' } } },
      ),
    ).rejects.toMatchObject({ code: 422 });
    const ok = await submit('crd-check');
    expect(ok.metadata.uid).toBeDefined();
  });
});

describe('agent, as the chart ServiceAccount', () => {
  it('runs a prebuilt image: claim, run Job with the right spec, status mirrored to Succeeded', async () => {
    const queue = 'prebuilt';
    const agent = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue, {
      run: {
        args: ['train', '--epochs=1'],
        env: [{ name: 'EPOCHS', value: '1' }],
        resources: { limits: { cpu: '500m', memory: '128Mi' } },
        nodeSelector: { pool: 'cpu' },
        tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      },
    });
    const running = await phaseIs(job.metadata.name!, 'Running');
    expect(running.status).toMatchObject({
      agent: expect.any(String),
      image: 'busybox:1.36',
      imageStatus: 'prebuilt',
      runJobNamespace: namespace,
    });
    const [runJob, ...more] = await runJobsOf(queue);
    expect(more).toEqual([]);
    expect(runJob!.metadata!.name).toBe(running.status!.runJobName);
    expect(runJob!.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LaunchJob', uid: job.metadata.uid, controller: true }),
    ]);
    const container = runJob!.spec!.template.spec!.containers[0]!;
    expect(container).toMatchObject({
      image: 'busybox:1.36',
      args: ['train', '--epochs=1'],
      env: [{ name: 'EPOCHS', value: '1' }],
      resources: { limits: { cpu: '500m', memory: '128Mi' } },
    });
    expect(runJob!.spec!.template.spec!.nodeSelector).toEqual({ pool: 'cpu' });
    expect(runJob!.spec!.template.spec!.restartPolicy).toBe('Never');
    // The queue's template names no ServiceAccount, and its policy is the baseline level.
    expect(runJob!.spec!.template.spec!.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
    });

    await endRunJob(batch, running, 'Complete');
    const done = await phaseIs(job.metadata.name!, 'Succeeded');
    expect(done.status!.completionTime).toBeDefined();
    expect(done.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Succeeded', status: 'True', reason: 'Completed' }),
        expect.objectContaining({ type: 'Claimed', status: 'True', reason: 'Claimed' }),
      ]),
    );
    expect(await agent.metrics.render()).toContain(
      'launch_agent_images_total{result="prebuilt"} 1',
    );
  });

  it('mirrors a failed run Job with its reason', async () => {
    const queue = 'failing';
    await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue);
    const running = await phaseIs(job.metadata.name!, 'Running');
    await endRunJob(batch, running, 'Failed');
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }),
      ]),
    );
  });

  it('secure_mode: refuses an entrypoint override with a reason and creates no Job', async () => {
    const queue = 'secure';
    await startAgent({ settings: settingsFor({ queues: [queue], secure_mode: true }) });
    const job = await submit(queue, { run: { command: ['/bin/sh', '-c', 'id'] } });
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', reason: 'SecureModeViolation' }),
      ]),
    );
    expect(failed.status!.message).toContain('spec.run.command');
    expect(await runJobsOf(queue)).toEqual([]);
  });

  it("refuses a run namespace other than the job's own, and creates no Job anywhere", async () => {
    const queue = 'elsewhere';
    await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue, { run: { namespace: agentNamespace } });
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'NamespaceNotAllowed' })]),
    );
    expect(failed.status!.message).toContain('spec.run.namespace');
    // Naming its own namespace is the same as leaving it empty.
    const same = await submit(queue, { run: { namespace } });
    const running = await phaseIs(same.metadata.name!, 'Running');
    expect(running.status!.runJobNamespace).toBe(namespace);
    expect((await runJobsOf(queue)).map((j) => j.metadata!.name)).toEqual([
      running.status!.runJobName,
    ]);
    expect(await runJobsOf(queue, agentNamespace)).toEqual([]);
  });

  it("fails a LaunchJob created in the agent's own namespace (NamespaceNotServed), running nothing", async () => {
    const queue = 'own-namespace';
    const agent = await startAgent({ settings: settingsFor({ queues: [queue] }) });
    const job = await submit(queue, {}, agentNamespace);
    const failed = await waitFor(
      `${job.metadata.name} to be Failed`,
      () => adminJobs.get(agentNamespace, job.metadata.name!),
      (j) => j.status?.phase === 'Failed',
    );
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', reason: 'NamespaceNotServed' }),
      ]),
    );
    expect(failed.status!.message).toContain(`a namespace the agent serves (${namespace})`);
    expect(failed.status!.agent).toBeUndefined();
    expect(await runJobsOf(queue, agentNamespace)).toEqual([]);
    expect(await runJobsOf(queue)).toEqual([]);
    // Refused without a claim: the slot is free for the next job.
    expect(agent.metrics.counter('claims', { result: 'won' })).toBe(0);
  });

  it('max_jobs holds with many jobs queued, across two agents, one run Job per LaunchJob', async () => {
    const queue = 'limited';
    const settings = settingsFor({ queues: [queue], max_jobs: 2 });
    await startAgent({ settings });
    await startAgent({ settings });
    const jobs = await Promise.all(Array.from({ length: 7 }, () => submit(queue)));
    const names = new Set(jobs.map((job) => job.metadata.name!));
    let finished = 0;
    while (finished < jobs.length) {
      // Let the agents settle, then check the limit: 2 per agent, 4 in all.
      await waitFor(
        'the agents to fill their slots',
        () => adminJobs.list(namespace),
        (list) => {
          const mine = list.items.filter((j) => names.has(j.metadata.name!));
          const running = mine.filter((j) => j.status?.phase === 'Running').length;
          const left = mine.filter((j) => !['Succeeded', 'Failed'].includes(j.status?.phase ?? ''));
          return running === Math.min(4, left.length);
        },
      );
      await sleep(300);
      const list = (await adminJobs.list(namespace)).items.filter((j) =>
        names.has(j.metadata.name!),
      );
      const running = list.filter((j) => j.status?.phase === 'Running');
      const byAgent = new Map<string, number>();
      for (const j of running)
        byAgent.set(j.status!.agent!, (byAgent.get(j.status!.agent!) ?? 0) + 1);
      expect([...byAgent.values()].every((count) => count <= 2)).toBe(true);
      const runJobs = await runJobsOf(queue);
      const active = runJobs.filter((j) => !j.status?.conditions?.length);
      expect(active.length).toBeLessThanOrEqual(4);
      const perLaunchJob = new Set(
        runJobs.map((j) => j.metadata!.labels!['launch-agent.dev/launchjob']),
      );
      expect(perLaunchJob.size).toBe(runJobs.length);
      // End one of them, as the Job controller would.
      await endRunJob(batch, running[0]!, 'Complete');
      await phaseIs(running[0]!.metadata.name!, 'Succeeded');
      finished += 1;
    }
    expect((await runJobsOf(queue)).length).toBe(jobs.length);
  });
});
