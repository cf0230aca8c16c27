// The test bed of the agent's store and retention tests (agent-stores.test.ts,
// agent-retention.test.ts): a namespace for the agent (its Lease, build Jobs) and two tenant
// namespaces it serves (LaunchJobs and their run Jobs), the chart's ServiceAccounts, Roles and
// ClusterRole in them (the agent acts as that account), and a bucket or container in each object
// store (moto S3, fake-gcs-server, Azurite).
//
// A test file calls useStoresTestbed() once at its top level: it registers the beforeAll that
// fills the bindings below, an afterEach that stops the agents a test started, and an afterAll
// that removes what the file made. The bindings are ES module exports, so an importer reads
// their current value.
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  createLogger,
  selectContextStore,
  silentLogger,
  type LaunchAgentOptions,
  type LaunchJob,
} from '@launch-agent/runtime';
import { gcsClient } from '../../packages/runtime/src/storage/gcs-context-store.js';
import {
  applyLaunchJobCrd,
  chartAgentKubeConfig,
  removeTempDirs,
  runCliWith,
  waitFor,
} from './agent-harness.js';
import { requireServices, uniqueName, waitUntilAllowed, type TestEnv } from './testenv.js';

export const bucket = uniqueName('agent-s3');
export const gcsBucket = uniqueName('agent-gcs');
export const azureContainer = uniqueName('agent-az');

export let env: TestEnv;
export let admin: KubeConfig;
export let agentKubeConfig: KubeConfig;
export let buildServiceAccount: string;
/** The agent's own namespace: its Lease, build Jobs and their ConfigMaps; no LaunchJob. */
export let agentNamespace: string;
/** The tenant namespace (kubernetes.target-namespaces) the tests' LaunchJobs live and run in. */
export let namespace: string;
/** A second tenant namespace the agent serves. */
export let target: string;
export let adminJobs: LaunchJobClient;
export let batch: BatchV1Api;
export let core: CoreV1Api;
export let s3: S3Client;
const agents: LaunchAgent[] = [];

export function useStoresTestbed(): void {
  beforeAll(async () => {
    env = await requireServices('kubernetes', 'docker', 'registry', 'aws', 'gcs', 'azure');
    admin = new KubeConfig();
    admin.loadFromFile(env.kubeconfig);
    await applyLaunchJobCrd(admin);
    agentNamespace = uniqueName('agent-st');
    namespace = uniqueName('agent-tn');
    target = uniqueName('agent-tg');
    core = admin.makeApiClient(CoreV1Api);
    for (const name of [agentNamespace, namespace, target]) {
      await core.createNamespace({ body: { metadata: { name } } });
    }
    ({ kubeConfig: agentKubeConfig, buildServiceAccount } = await chartAgentKubeConfig(
      admin,
      env.kubeconfig,
      agentNamespace,
      [namespace, target],
    ));
    for (const where of [namespace, target]) {
      await waitUntilAllowed(agentKubeConfig, {
        namespace: where,
        group: 'batch',
        resource: 'jobs',
        verb: 'delete',
      });
    }
    adminJobs = new LaunchJobClient(admin);
    batch = admin.makeApiClient(BatchV1Api);
    s3 = new S3Client({ forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await gcsClient('testenv').bucket(gcsBucket).create();
    await BlobServiceClient.fromConnectionString(env.azureConnectionString)
      .getContainerClient(azureContainer)
      .create();
  }, 120_000);

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });

  afterAll(async () => {
    s3?.destroy();
    removeTempDirs();
    // No namespace controller in the testenv: the namespaces stay Terminating.
    for (const name of [agentNamespace, namespace, target]) {
      if (name) await core.deleteNamespace({ name }).catch(() => undefined);
    }
  });
}

/** The config line of the namespaces the agent serves, with more `kubernetes` keys if given. */
export const kubernetesConfig = (more = '') =>
  `kubernetes: {namespace: ${agentNamespace}, target-namespaces: [${namespace}, ${target}]${more ? `, ${more}` : ''}}`;

/** `launch-agent submit DIR --queue QUEUE` with `config`, in the tenant namespace (or `where`). */
export async function submit(
  config: string,
  dir: string,
  queue: string,
  extra: string[] = [],
  where = namespace,
): Promise<LaunchJob> {
  const result = await runCliWith(
    ['submit', dir, '--queue', queue, '--json', '--config', config, '--namespace', where, ...extra],
    env.kubeconfig,
  );
  expect(result.stderr).not.toContain('error');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as LaunchJob;
}

/** Starts an agent as the chart's ServiceAccount; it is stopped after the test. */
export async function startAgent(
  settings: AgentSettings,
  options: Partial<LaunchAgentOptions> = {},
): Promise<LaunchAgent> {
  const agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    settings,
    namespace: agentNamespace,
    identity: uniqueName('agent'),
    // AGENT_TEST_LOG=1 shows what the agents do.
    log: process.env.AGENT_TEST_LOG
      ? createLogger({ format: 'text', level: 'debug' })
      : silentLogger,
    ...(settings.builder.buildContextStore
      ? { contextStore: (await selectContextStore(settings))! }
      : {}),
    ...options,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

export const getJob = (name: string, where = namespace) => adminJobs.get(where, name);
export const phaseIs = (name: string, phase: string, timeoutMs?: number, where = namespace) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name, where),
    (job) => job.status?.phase === phase,
    timeoutMs,
  );
export const isGone = (what: string, read: () => Promise<unknown>) =>
  waitFor(
    `${what} to be deleted`,
    () =>
      read().then(
        () => false,
        (error: { code?: number }) => error.code === 404,
      ),
    (gone) => gone,
    20_000,
  );

/** The build Jobs in the agent's namespace. */
export async function buildJobs(): Promise<V1Job[]> {
  const list = await batch.listNamespacedJob({
    namespace: agentNamespace,
    labelSelector: 'app.kubernetes.io/managed-by=launch-agent,launch-agent.dev/build-id',
  });
  return list.items;
}

/** Each object store: the URI a config names it by, and whether an object is there. */
export const stores = {
  s3: {
    uri: `s3://${bucket}/launch`,
    exists: (key: string) =>
      s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `launch/${key}` })).then(
        () => true,
        () => false,
      ),
  },
  gcs: {
    uri: `gs://${gcsBucket}/launch`,
    exists: async (key: string) =>
      (await gcsClient('testenv').bucket(gcsBucket).file(`launch/${key}`).exists())[0],
  },
  azure: {
    // AZURE_STORAGE_CONNECTION_STRING points the client at Azurite; the URI names the container.
    uri: `https://mlcontexts.blob.core.windows.net/${azureContainer}/launch`,
    exists: (key: string) =>
      BlobServiceClient.fromConnectionString(env.azureConnectionString)
        .getContainerClient(azureContainer)
        .getBlockBlobClient(`launch/${key}`)
        .exists(),
  },
};
export const storeUri = (name: keyof typeof stores) => stores[name].uri;
