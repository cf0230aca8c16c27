// Tenancy on the real API server (RBAC on): two tenant namespaces, the agent with the chart's
// Roles, and a submitter whose identity is a ServiceAccount token bound to the chart's submitter
// ClusterRole in team-a only. What a submitter can and cannot make the agent do (docs/tenancy.md)
// is held here: each hostile LaunchJob is refused by the API server or ends Failed with a reason,
// leaves no object outside its namespace, and does not delay the next job (max_jobs: 1).
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import {
  LaunchAgent,
  LaunchJobClient,
  silentLogger,
  type LaunchJob,
  type LaunchJobSpec,
} from '@launch-agent/runtime';
import {
  applyChartTemplates,
  applyLaunchJobCrd,
  configFile,
  endRunJob,
  removeTempDirs,
  waitFor,
} from './agent-harness.js';
import {
  kubeRequest,
  requireServices,
  serviceAccountKubeConfig,
  uniqueName,
  waitUntilAllowed,
  type TestEnv,
} from './testenv.js';

let env: TestEnv;
let admin: KubeConfig;
let submitter: LaunchJobClient;
let adminJobs: LaunchJobClient;
let batch: BatchV1Api;
let agent: LaunchAgent;
const agentNs = uniqueName('agent');
const teamA = uniqueName('team-a');
const teamB = uniqueName('team-b');
const AGENT = 'tenancy-agent-0';

/** Applies the chart's RBAC objects, as `helm template` renders them, with the admin's rights. */
async function applyChart(sets: string[], templates: string[]): Promise<void> {
  await applyChartTemplates({
    kubeconfigFile: env.kubeconfig,
    namespace: agentNs,
    sets,
    templates,
  });
}

function spec(queue: string, runSpec: LaunchJobSpec['run'] = {}): LaunchJobSpec {
  return { queue, source: { image: 'registry.invalid/ml/train:1' }, run: runSpec };
}

async function finished(namespace: string, name: string): Promise<LaunchJob> {
  return waitFor(
    `${namespace}/${name} to finish`,
    () => adminJobs.get(namespace, name),
    (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
    30_000,
  );
}

async function runJobsIn(namespace: string): Promise<V1Job[]> {
  return (await batch.listNamespacedJob({ namespace })).items;
}

/** A benign job of the submitter's runs (its run Job is made and ends Complete) within 15 s. */
async function benignJobRuns(): Promise<void> {
  const name = uniqueName('benign');
  await submitter.create(teamA, { name }, spec('default', { args: ['train'] }));
  const running = await waitFor(
    `${name} to run`,
    () => adminJobs.get(teamA, name),
    (job) => job.status?.phase === 'Running',
    15_000,
  );
  await endRunJob(batch, running, 'Complete');
  expect((await finished(teamA, name)).status?.phase).toBe('Succeeded');
}

beforeAll(async () => {
  env = await requireServices('kubernetes');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of [agentNs, teamA, teamB]) {
    await core.createNamespace({ body: { metadata: { name, labels: { tenant: name } } } });
  }
  await core.createNamespacedServiceAccount({
    namespace: teamA,
    body: { metadata: { name: 'researcher' } },
  });
  await applyChart(
    [
      `additionalTargetNamespaces={${teamA},${teamB}}`,
      `submitterRole.bindings.${teamA}[0].kind=ServiceAccount`,
      `submitterRole.bindings.${teamA}[0].name=researcher`,
      `submitterRole.bindings.${teamA}[0].namespace=${teamA}`,
    ],
    ['serviceaccount.yaml', 'rbac.yaml', 'submitter-role.yaml'],
  );
  const agentKubeConfig = await serviceAccountKubeConfig(
    admin,
    agentNs,
    'agent-launch-agent',
    3600,
  );
  const researcher = await serviceAccountKubeConfig(admin, teamA, 'researcher', 3600);
  await waitUntilAllowed(researcher, {
    group: 'launch-agent.dev',
    resource: 'launchjobs',
    verb: 'create',
    namespace: teamA,
  });
  submitter = new LaunchJobClient(researcher);
  adminJobs = new LaunchJobClient(admin);
  batch = admin.makeApiClient(BatchV1Api);
  const { settings } = configFile([
    'queues: [default, gpu, kueue, restricted]',
    'max_jobs: 1',
    'builder: { type: noop }',
    `kubernetes: { namespace: ${agentNs}, target-namespaces: [${teamA}, ${teamB}] }`,
    'queue-policies:',
    `  restricted: { namespaces: [${teamB}] }`,
    '  gpu:',
    '    max-resources: { nvidia.com/gpu: 8, memory: 64Gi }',
    '    allowed-priority-classes: [batch-low]',
    'run-templates:',
    '  gpu:',
    '    spec: { template: { spec: { nodeSelector: { pool: gpu }, priorityClassName: batch-low } } }',
    '  kueue:',
    '    metadata: { labels: { kueue.x-k8s.io/queue-name: team-queue } }',
  ]);
  agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    settings,
    namespace: agentNs,
    identity: AGENT,
    log: silentLogger,
    orphanGraceMs: 1_000,
  });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  // The policy is cluster-wide: leave none behind for the other test files.
  const policy = `${agentNs}-agent-launch-agent-launchjobs`;
  for (const kind of ['validatingadmissionpolicybindings', 'validatingadmissionpolicies']) {
    await kubeRequest(
      admin,
      'DELETE',
      `/apis/admissionregistration.k8s.io/v1/${kind}/${policy}`,
      '',
      'application/json',
    );
  }
  removeTempDirs();
});

describe('a submitter with namespace RBAC in one tenant namespace', () => {
  it("runs the submitter's benign job in their namespace, with baseline security and no API token", async () => {
    const name = uniqueName('train');
    const created = await submitter.create(teamA, { name }, spec('default', { args: ['train'] }));
    const running = await waitFor(
      'the job to run',
      () => adminJobs.get(teamA, name),
      (job) => job.status?.phase === 'Running',
      15_000,
    );
    const runJob = (await runJobsIn(teamA)).find(
      (j) => j.metadata?.labels?.['launch-agent.dev/launchjob-uid'] === created.metadata.uid,
    )!;
    expect(runJob.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'LaunchJob', name });
    const pod = runJob.spec!.template.spec!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers[0]!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      privileged: false,
    });
    await endRunJob(batch, running, 'Complete');
    expect((await finished(teamA, name)).status?.phase).toBe('Succeeded');
  });

  it('cannot create LaunchJobs in another tenant namespace or in the agent namespace (namespace RBAC)', async () => {
    for (const namespace of [teamB, agentNs]) {
      await expect(
        submitter.create(namespace, { name: uniqueName('x') }, spec('default')),
      ).rejects.toThrow(/HTTP 403/);
    }
  });

  it("fails a LaunchJob created in the agent's own namespace, without running it", async () => {
    const name = uniqueName('in-agent-ns');
    await adminJobs.create(agentNs, { name }, spec('default'));
    const job = await finished(agentNs, name);
    expect(job.status).toMatchObject({ phase: 'Failed' });
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({
      reason: 'NamespaceNotServed',
      message: expect.stringContaining("the agent's own namespace"),
    });
    expect(job.status?.agent).toBeUndefined();
    expect(await runJobsIn(agentNs)).toEqual([]);
  });

  const hostile: Array<[string, string, LaunchJobSpec['run'], string]> = [
    ['another namespace', 'default', { namespace: 'TEAM_B' }, 'NamespaceNotAllowed'],
    ['privileged', 'default', { privileged: true }, 'PodSecurityViolation'],
    [
      'hostPath',
      'default',
      { volumes: [{ name: 'h', hostPath: { path: '/' } }] },
      'PodSecurityViolation',
    ],
    [
      'nfs',
      'default',
      { volumes: [{ name: 'n', nfs: { server: '10.0.0.1', path: '/' } }] },
      'VolumeTypeNotAllowed',
    ],
    [
      'a toleration of every taint',
      'default',
      { tolerations: [{ operator: 'Exists' }] },
      'TolerationNotAllowed',
    ],
    [
      'a system priority class',
      'default',
      { priorityClassName: 'system-node-critical' },
      'PriorityClassNotAllowed',
    ],
    [
      "a run template's fixed field overridden",
      'gpu',
      { nodeSelector: { pool: 'cpu' } },
      'TemplateFieldFixed',
    ],
    [
      'resources over the cap',
      'gpu',
      { resources: { limits: { 'nvidia.com/gpu': '16' } } },
      'ResourcesOverCap',
    ],
    ['a queue not offered to the namespace', 'restricted', {}, 'QueueNotOffered'],
  ];
  it.each(hostile)(
    '%s: ends Failed with the reason, leaves nothing, delays nothing',
    async (_what, queue, runSpec, reason) => {
      const name = uniqueName('hostile');
      const wanted = JSON.parse(
        JSON.stringify(runSpec ?? {}).replace('TEAM_B', teamB),
      ) as LaunchJobSpec['run'];
      const created = await submitter.create(teamA, { name }, spec(queue, wanted));
      const job = await finished(teamA, name);
      expect(job.status?.phase).toBe('Failed');
      expect(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe(reason);
      for (const namespace of [teamA, teamB, agentNs]) {
        const made = (await runJobsIn(namespace)).filter(
          (j) => j.metadata?.labels?.['launch-agent.dev/launchjob-uid'] === created.metadata.uid,
        );
        expect(made).toEqual([]);
      }
      await benignJobRuns();
    },
  );

  it('runs a job whose name is too long for a label, the label shortened with a hash', async () => {
    const name = `long-${'n'.repeat(60)}-${uniqueName('x')}`.slice(0, 70);
    expect(name).toHaveLength(70);
    await submitter.create(teamA, { name }, spec('default'));
    const running = await waitFor(
      'the long-named job to run',
      () => adminJobs.get(teamA, name),
      (job) => job.status?.phase === 'Running',
      15_000,
    );
    const runJob = await batch.readNamespacedJob({
      namespace: teamA,
      name: running.status!.runJobName!,
    });
    const label = runJob.metadata!.labels!['launch-agent.dev/launchjob']!;
    expect(label.length).toBeLessThanOrEqual(63);
    expect(label).toMatch(/-[0-9a-f]{6}$/);
    await endRunJob(batch, running, 'Complete');
    expect((await finished(teamA, name)).status?.phase).toBe('Succeeded');
  });

  it("a forged status names another namespace's Job: the agent neither follows nor deletes it", async () => {
    const victim = uniqueName('victim');
    await batch.createNamespacedJob({
      namespace: teamB,
      body: {
        metadata: { name: victim },
        spec: {
          suspend: true,
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] },
          },
        },
      },
    });
    const name = uniqueName('forged');
    await adminJobs.create(teamA, { name }, spec('kueue'));
    const waiting = await waitFor(
      'the run to wait for Kueue',
      () => adminJobs.get(teamA, name),
      (job) => job.status?.phase === 'Pending' && job.status?.runJobName !== undefined,
      15_000,
    );
    const own = waiting.status!.runJobName!;
    // Status as someone with status rights could write it: another namespace's Job as the run.
    for (let i = 0; ; i++) {
      const current = await adminJobs.get(teamA, name);
      try {
        await adminJobs.replaceStatus(current, {
          ...current.status,
          phase: 'Running',
          image: 'evil:1',
          runJobName: victim,
          runJobNamespace: teamB,
        });
        break;
      } catch (error) {
        if (i > 20 || !/HTTP 409/.test(String(error))) throw error;
      }
    }
    // The agent follows the Job of the job's own name and namespace, and says so again.
    const corrected = await waitFor(
      'the agent to mirror its own run Job again',
      () => adminJobs.get(teamA, name),
      (job) => job.status?.runJobName === own && job.status?.runJobNamespace === teamA,
      15_000,
    );
    expect(corrected.status?.phase).toBe('Pending');
    await adminJobs.deleteIfUnchanged(corrected);
    await waitFor(
      'its own run Job to be deleted',
      () => runJobsIn(teamA),
      (jobs) => !jobs.some((j) => j.metadata?.name === own && !j.metadata?.deletionTimestamp),
      15_000,
    );
    const still = await batch.readNamespacedJob({ namespace: teamB, name: victim });
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('a run Job the API server refuses (over quota) ends Failed with the reason and frees the slot', async () => {
    const core = admin.makeApiClient(CoreV1Api);
    const quota = 'no-jobs';
    await core.createNamespacedResourceQuota({
      namespace: teamB,
      body: { metadata: { name: quota }, spec: { hard: { 'count/jobs.batch': '0' } } },
    });
    // No controller-manager here: the quota's status is written as its controller would.
    const status = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: quota, namespace: teamB },
      spec: { hard: { 'count/jobs.batch': '0' } },
      status: { hard: { 'count/jobs.batch': '0' }, used: { 'count/jobs.batch': '0' } },
    });
    const written = await kubeRequest(
      admin,
      'PUT',
      `/api/v1/namespaces/${teamB}/resourcequotas/${quota}/status`,
      status,
      'application/json',
    );
    expect(written.status).toBe(200);
    const name = uniqueName('over-quota');
    await adminJobs.create(teamB, { name }, spec('default'));
    const job = await finished(teamB, name);
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({
      reason: 'QuotaExceeded',
      message: expect.stringContaining('exceeded quota'),
    });
    await core.deleteNamespacedResourceQuota({ namespace: teamB, name: quota });
    await benignJobRuns();
  });

  it('a run waiting for Kueue holds no max_jobs slot: another queue runs meanwhile', async () => {
    const waiting = uniqueName('kueue');
    await submitter.create(teamA, { name: waiting }, spec('kueue'));
    const pending = await waitFor(
      'the Kueue run to wait',
      () => adminJobs.get(teamA, waiting),
      (job) => job.status?.phase === 'Pending' && job.status?.runJobName !== undefined,
      15_000,
    );
    expect(pending.status?.conditions?.find((c) => c.type === 'Running')?.reason).toBe('Suspended');
    await benignJobRuns();
    expect((await adminJobs.get(teamA, waiting)).status?.phase).toBe('Pending');
  });
});

describe('the admission policy', () => {
  it('refuses a bad LaunchJob at create time with a message naming the field', async () => {
    await applyChart(
      [`additionalTargetNamespaces={${teamA},${teamB}}`, 'agentConfig.queues={default}'],
      ['admission-policy.yaml'],
    );
    const name = uniqueName('refused');
    let message = '';
    for (let i = 0; i < 50 && !message; i++) {
      // The policy takes effect once the API server has compiled it.
      try {
        await adminJobs.create(
          teamA,
          { name: `${name}-${i}` },
          spec('default', { privileged: true }),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      } catch (error) {
        message = (error as Error).message;
      }
    }
    expect(message).toMatch(/HTTP 403/);
    expect(message).toContain('spec.run.privileged');
    await expect(
      adminJobs.create(agentNs, { name: uniqueName('x') }, spec('default')),
    ).rejects.toThrow(/metadata.namespace: the agent does not run LaunchJobs in namespace/);
  });
});
