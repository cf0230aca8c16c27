// `launch-agent cancel` and `launch-agent list` on the real API server (RBAC on), with the agent
// in-process and the chart's Roles: a tenant namespace, a researcher bound to the chart's
// submitter ClusterRole there, and a reader who may only read LaunchJobs. There is no Job
// controller or kubelet here: endRunJob plays the Job controller, and a kaniko build Job never
// runs, so a job stays Building until it is cancelled.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import {
  LaunchAgent,
  LaunchJobClient,
  selectContextStore,
  silentLogger,
  type LaunchJob,
  type LaunchJobSpec,
} from '@launch-agent/runtime';
import {
  applyLaunchJobCrd,
  chartDir,
  configFile,
  endRunJob,
  helmEnv,
  removeTempDirs,
  runCliWith,
  sourceDir,
  tempDir,
  waitFor,
} from './agent-harness.js';
import { run } from './agent-queue-testbed.js';
import {
  kubeRequest,
  requireServices,
  serviceAccountKubeConfig,
  uniqueName,
  waitUntilAllowed,
  type TestEnv,
} from './testenv.js';

const STOP_SECONDS = 7;
let env: TestEnv;
let admin: KubeConfig;
let adminJobs: LaunchJobClient;
let batch: BatchV1Api;
let core: CoreV1Api;
let s3: S3Client;
let agent: LaunchAgent;
let config: string;
/** Kubeconfig files: the researcher (submitter role) and the reader (get/list/watch only). */
let researcher: string;
let reader: string;
const agentNs = uniqueName('cancel-agent');
const team = uniqueName('cancel-team');
const bucket = uniqueName('cancel-ctx');

function kubeconfigFile(kubeConfig: KubeConfig, name: string): string {
  const file = join(tempDir('cancel-kubeconfig-'), name);
  writeFileSync(file, kubeConfig.exportConfig());
  return file;
}

const spec = (name = 'train'): LaunchJobSpec => ({
  queue: 'default',
  source: { image: 'registry.invalid/ml/train:1' },
  run: { args: [name] },
});

const getJob = (name: string) => adminJobs.get(team, name);
const phaseIs = (name: string, phase: string, timeoutMs = 20_000) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (j) => j.status?.phase === phase,
    timeoutMs,
  );

const cli = (args: string[], kubeconfig = researcher) =>
  runCliWith([...args, '--config', config, '-n', team], kubeconfig);

async function create(name: string): Promise<LaunchJob> {
  return adminJobs.create(team, { name }, spec(name));
}

/** The Cancelled condition, and that the job holds no slot nor run Job any more. */
function expectCancelled(job: LaunchJob, message: RegExp): void {
  expect(job.status?.phase).toBe('Cancelled');
  expect(job.status?.completionTime).toBeDefined();
  const condition = job.status?.conditions?.find((c) => c.type === 'Cancelled');
  expect(condition).toMatchObject({ status: 'True', reason: 'CancelRequested' });
  expect(condition?.message).toMatch(message);
  // The last condition is the latest transition: kubectl's Reason column shows it.
  expect(job.status?.conditions?.at(-1)?.type).toBe('Cancelled');
}

async function eventReasons(name: string): Promise<string[]> {
  const events = (await run('kubectl', ['get', 'events.events.k8s.io', '-n', team, '-o', 'json'], {
    env: await helmEnv(env.kubeconfig),
  })) as { stdout: string };
  const items = (
    JSON.parse(events.stdout) as {
      items: Array<{ reason: string; regarding?: { name?: string } }>;
    }
  ).items;
  return items.filter((e) => e.regarding?.name === name).map((e) => e.reason);
}

/** Sets the run Job's finalizers (null: none), with a merge patch as the admin. */
async function holdRunJob(name: string, finalizers: string[] | null): Promise<void> {
  const { status, body } = await kubeRequest(
    admin,
    'PATCH',
    `/apis/batch/v1/namespaces/${team}/jobs/${name}`,
    JSON.stringify({ metadata: { finalizers } }),
    'application/merge-patch+json',
  );
  if (status !== 200) throw new Error(`patching Job ${name}: HTTP ${status}: ${body}`);
}

beforeAll(async () => {
  env = await requireServices('kubernetes', 'aws', 'registry');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  core = admin.makeApiClient(CoreV1Api);
  for (const name of [agentNs, team]) await core.createNamespace({ body: { metadata: { name } } });
  for (const name of ['researcher', 'reader']) {
    await core.createNamespacedServiceAccount({ namespace: team, body: { metadata: { name } } });
  }
  const helm = await helmEnv(env.kubeconfig);
  const { stdout } = await run(
    'helm',
    [
      'template',
      'agent',
      chartDir,
      '--namespace',
      agentNs,
      '--set',
      `additionalTargetNamespaces={${team}}`,
      '--set',
      `submitterRole.bindings.${team}[0].kind=ServiceAccount`,
      '--set',
      `submitterRole.bindings.${team}[0].name=researcher`,
      '--set',
      `submitterRole.bindings.${team}[0].namespace=${team}`,
      ...['serviceaccount.yaml', 'rbac.yaml', 'submitter-role.yaml'].flatMap((t) => [
        '--show-only',
        `templates/${t}`,
      ]),
    ],
    { env: helm },
  );
  const objects = join(tempDir('cancel-chart-'), 'objects.yaml');
  writeFileSync(objects, stdout);
  await run('kubectl', ['apply', '-f', objects], { env: helm });
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: team,
    body: {
      metadata: { name: 'launchjob-reader' },
      rules: [
        {
          apiGroups: ['launch-agent.dev'],
          resources: ['launchjobs'],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: team,
    body: {
      metadata: { name: 'launchjob-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'launchjob-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: team }],
    },
  });
  const researcherConfig = await serviceAccountKubeConfig(admin, team, 'researcher', 3600);
  const readerConfig = await serviceAccountKubeConfig(admin, team, 'reader', 3600);
  const launchjobs = { group: 'launch-agent.dev', resource: 'launchjobs', namespace: team };
  await waitUntilAllowed(researcherConfig, { ...launchjobs, verb: 'patch' });
  await waitUntilAllowed(readerConfig, { ...launchjobs, verb: 'get' });
  researcher = kubeconfigFile(researcherConfig, 'researcher');
  reader = kubeconfigFile(readerConfig, 'reader');
  adminJobs = new LaunchJobClient(admin);
  batch = admin.makeApiClient(BatchV1Api);
  s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const agentConfig = configFile([
    'queues: [default]',
    'max_jobs: 1',
    `stopped_run_timeout: ${STOP_SECONDS}`,
    'builder:',
    '  type: kaniko',
    `  destination: ${env.registry}/cancel-it/train`,
    `  build-context-store: s3://${bucket}/launch`,
    `kubernetes: { namespace: ${agentNs}, target-namespaces: [${team}], build-service-account: agent-launch-agent-build }`,
  ]);
  config = agentConfig.path;
  agent = new LaunchAgent({
    kubeConfig: await serviceAccountKubeConfig(admin, agentNs, 'agent-launch-agent', 3600),
    settings: agentConfig.settings,
    namespace: agentNs,
    identity: 'cancel-agent-0',
    log: silentLogger,
    contextStore: (await selectContextStore(agentConfig.settings))!,
  });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  s3?.destroy();
  removeTempDirs();
  for (const name of [agentNs, team]) await core?.deleteNamespace({ name }).catch(() => undefined);
});

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
    const queue = await kubectl([
      'patch',
      'launchjob',
      name,
      '--type',
      'merge',
      '-p',
      '{"spec":{"queue":"other"}}',
    ]);
    expect(queue.code).not.toBe(0);
    expect(queue.out).toContain('spec is immutable but for spec.cancel');
    const patched = await kubectl([
      'patch',
      'launchjob',
      name,
      '--type',
      'merge',
      '-p',
      '{"spec":{"cancel":{"requested":true}}}',
    ]);
    expect(patched).toMatchObject({ code: 0 });
    expectCancelled(await phaseIs(name, 'Cancelled'), /^cancelled while running$/);
    const withdraw = await kubectl([
      'patch',
      'launchjob',
      name,
      '--type',
      'merge',
      '-p',
      '{"spec":{"cancel":{"requested":false}}}',
    ]);
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
