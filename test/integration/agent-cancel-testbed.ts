// The testbed of agent-cancel.test.ts and agent-list.test.ts: `launch-agent cancel` and `list`
// on the real API server (RBAC on), with the agent
// in-process and the chart's Roles: a tenant namespace, a researcher bound to the chart's
// submitter ClusterRole there, and a reader who may only read LaunchJobs. There is no Job
// controller or kubelet here: endRunJob plays the Job controller, and a kaniko build Job never
// runs, so a job stays Building until it is cancelled.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
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
  applyChartTemplates,
  applyLaunchJobCrd,
  configFile,
  helmEnv,
  removeTempDirs,
  runCliWith,
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

export const STOP_SECONDS = 7;
export let env: TestEnv;
export let admin: KubeConfig;
export let adminJobs: LaunchJobClient;
export let batch: BatchV1Api;
export let core: CoreV1Api;
export let s3: S3Client;
export let agent: LaunchAgent;
export let config: string;
/** Kubeconfig files: the researcher (submitter role) and the reader (get/list/watch only). */
export let researcher: string;
export let reader: string;
export const agentNs = uniqueName('cancel-agent');
export const team = uniqueName('cancel-team');
export const bucket = uniqueName('cancel-ctx');

function kubeconfigFile(kubeConfig: KubeConfig, name: string): string {
  const file = join(tempDir('cancel-kubeconfig-'), name);
  writeFileSync(file, kubeConfig.exportConfig());
  return file;
}

export const spec = (name = 'train'): LaunchJobSpec => ({
  queue: 'default',
  source: { image: 'registry.invalid/ml/train:1' },
  run: { args: [name] },
});

export const getJob = (name: string) => adminJobs.get(team, name);
export const phaseIs = (name: string, phase: string, timeoutMs = 20_000) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (j) => j.status?.phase === phase,
    timeoutMs,
  );

export const cli = (args: string[], kubeconfig = researcher) =>
  runCliWith([...args, '--config', config, '-n', team], kubeconfig);

export async function create(name: string): Promise<LaunchJob> {
  return adminJobs.create(team, { name }, spec(name));
}

/** The Cancelled condition, and that the job holds no slot nor run Job any more. */
export function expectCancelled(job: LaunchJob, message: RegExp): void {
  expect(job.status?.phase).toBe('Cancelled');
  expect(job.status?.completionTime).toBeDefined();
  const condition = job.status?.conditions?.find((c) => c.type === 'Cancelled');
  expect(condition).toMatchObject({ status: 'True', reason: 'CancelRequested' });
  expect(condition?.message).toMatch(message);
  // The last condition is the latest transition: kubectl's Reason column shows it.
  expect(job.status?.conditions?.at(-1)?.type).toBe('Cancelled');
}

export async function eventReasons(name: string): Promise<string[]> {
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
export async function holdRunJob(name: string, finalizers: string[] | null): Promise<void> {
  const { status, body } = await kubeRequest(
    admin,
    'PATCH',
    `/apis/batch/v1/namespaces/${team}/jobs/${name}`,
    JSON.stringify({ metadata: { finalizers } }),
    'application/merge-patch+json',
  );
  if (status !== 200) throw new Error(`patching Job ${name}: HTTP ${status}: ${body}`);
}

/** Namespaces, the chart's RBAC, a reader, a bucket and one agent (max_jobs 1) for the file. */
export function useCancelTestbed(): void {
  beforeAll(async () => {
    env = await requireServices('kubernetes', 'aws', 'registry');
    admin = new KubeConfig();
    admin.loadFromFile(env.kubeconfig);
    await applyLaunchJobCrd(admin);
    core = admin.makeApiClient(CoreV1Api);
    for (const name of [agentNs, team])
      await core.createNamespace({ body: { metadata: { name } } });
    for (const name of ['researcher', 'reader']) {
      await core.createNamespacedServiceAccount({ namespace: team, body: { metadata: { name } } });
    }
    await applyChartTemplates({
      kubeconfigFile: env.kubeconfig,
      namespace: agentNs,
      sets: [
        `additionalTargetNamespaces={${team}}`,
        `submitterRole.bindings.${team}[0].kind=ServiceAccount`,
        `submitterRole.bindings.${team}[0].name=researcher`,
        `submitterRole.bindings.${team}[0].namespace=${team}`,
      ],
      templates: ['serviceaccount.yaml', 'rbac.yaml', 'submitter-role.yaml'],
    });
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
    for (const name of [agentNs, team])
      await core?.deleteNamespace({ name }).catch(() => undefined);
  });
}
