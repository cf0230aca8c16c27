// The agent building contexts that `launch-agent submit` put in each object store (moto S3,
// fake-gcs-server, Azurite), with the docker builder (podman) and with the kaniko builder, and
// its retention: heartbeats timed by the config, finished LaunchJobs deleted after their TTL
// with their run Jobs and contexts, and run Jobs whose LaunchJob is gone removed from target
// namespaces. The agent acts as the chart's ServiceAccount, with the chart's Roles in its own
// and in a target namespace.
//
// The test environment has no kubelet and no controller-manager. THE TEST PLAYS THE JOB
// CONTROLLER for run Jobs (endRunJob) and THE KUBELET for kaniko build Jobs (playKubelet: it
// reads the context kaniko would read, creates the pod and reports a digest), as described in
// agent-harness.ts and kaniko-kubelet.ts.
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Job,
} from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig, type AgentSettings } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  createLogger,
  selectContextStore,
  silentLogger,
  type LaunchAgentOptions,
  type LaunchJob,
} from '@launch-agent/runtime';
import { agentLeaseName } from '../../packages/runtime/src/agent/lease.js';
import { gcsClient } from '../../packages/runtime/src/storage/gcs-context-store.js';
import {
  applyLaunchJobCrd,
  chartAgentKubeConfig,
  endRunJob,
  runCliWith,
  sleep,
  waitFor,
} from './agent-harness.js';
import { playKubelet } from './kaniko-kubelet.js';
import { requireServices, uniqueName, waitUntilAllowed, type TestEnv } from './testenv.js';

const DIGEST = `sha256:${'fedcba9876543210'.repeat(4)}`;
const bucket = uniqueName('agent-s3');
const gcsBucket = uniqueName('agent-gcs');
const azureContainer = uniqueName('agent-az');

let env: TestEnv;
let admin: KubeConfig;
let agentKubeConfig: KubeConfig;
let buildServiceAccount: string;
let namespace: string;
let target: string;
let adminJobs: LaunchJobClient;
let batch: BatchV1Api;
let core: CoreV1Api;
let s3: S3Client;
const agents: LaunchAgent[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  env = await requireServices('kubernetes', 'docker', 'registry', 'aws', 'gcs', 'azure');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  namespace = uniqueName('agent-st');
  target = uniqueName('agent-tg');
  core = admin.makeApiClient(CoreV1Api);
  for (const name of [namespace, target]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  ({ kubeConfig: agentKubeConfig, buildServiceAccount } = await chartAgentKubeConfig(
    admin,
    env.kubeconfig,
    namespace,
    [target],
  ));
  await waitUntilAllowed(agentKubeConfig, {
    namespace: target,
    group: 'batch',
    resource: 'jobs',
    verb: 'delete',
  });
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
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  // No namespace controller in the testenv: the namespaces stay Terminating.
  for (const name of [namespace, target]) {
    if (name) await core.deleteNamespace({ name }).catch(() => undefined);
  }
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A config file as a user writes it, and the settings the agent gets from it. */
function configFile(lines: string[]): { path: string; settings: AgentSettings } {
  const text = `${lines.join('\n')}\n`;
  const checked = checkConfigText(text, 'launch-config.yaml');
  expect(checked.errors).toEqual([]);
  const path = join(tempDir('agent-config-'), 'launch-config.yaml');
  writeFileSync(path, text);
  return { path, settings: normalizeConfig(checked.config!) };
}

/** A source directory with a Dockerfile that builds FROM scratch (nothing to pull). */
function sourceDir(marker: string): string {
  const dir = tempDir('agent-src-');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY src/ /src/\n');
  writeFileSync(join(dir, 'src', 'main.txt'), `${marker}\n`);
  return dir;
}

async function submit(
  config: string,
  dir: string,
  queue: string,
  extra: string[] = [],
): Promise<LaunchJob> {
  const result = await runCliWith(
    [
      'submit',
      dir,
      '--queue',
      queue,
      '--json',
      '--config',
      config,
      '--namespace',
      namespace,
      ...extra,
    ],
    env.kubeconfig,
  );
  expect(result.stderr).not.toContain('error');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as LaunchJob;
}

async function startAgent(
  settings: AgentSettings,
  options: Partial<LaunchAgentOptions> = {},
): Promise<LaunchAgent> {
  const agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    settings,
    namespace,
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

const getJob = (name: string) => adminJobs.get(namespace, name);
const phaseIs = (name: string, phase: string, timeoutMs?: number) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (job) => job.status?.phase === phase,
    timeoutMs,
  );
const isGone = (what: string, read: () => Promise<unknown>) =>
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

async function buildJobs(): Promise<V1Job[]> {
  const list = await batch.listNamespacedJob({
    namespace,
    labelSelector: 'app.kubernetes.io/managed-by=launch-agent,launch-agent.dev/build-id',
  });
  return list.items;
}

const stores = {
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
const storeUri = (name: keyof typeof stores) => stores[name].uri;

describe('the agent builds contexts submitted to an object store', () => {
  it.each([
    ['s3', 'docker'],
    ['gcs', 'kaniko'],
    ['azure', 'kaniko'],
  ] as Array<[keyof typeof stores, 'docker' | 'kaniko']>)(
    '%s store, %s builder: submit uploads, the agent downloads, builds and runs it',
    async (store, builder) => {
      const queue = `${store}-${builder}`;
      const repository = `${env.registry}/agent-stores/${queue}`;
      const { path, settings } = configFile([
        `queues: [${queue}]`,
        'builder:',
        `  type: ${builder}`,
        `  destination: ${repository}`,
        `  build-context-store: ${storeUri(store)}`,
        `kubernetes: {build-service-account: ${buildServiceAccount}}`,
      ]);
      const source = sourceDir(uniqueName(queue));
      const submitted = await submit(path, source, queue, ['--', '/src/main.txt']);
      const key = submitted.spec.source.context!.key;
      expect(await stores[store].exists(key)).toBe(true);

      await startAgent(settings);
      let kaniko: Awaited<ReturnType<typeof playKubelet>> | undefined;
      if (builder === 'kaniko') {
        kaniko = await playKubelet({
          batch,
          core,
          namespace,
          ending: { kind: 'complete' },
          digest: DIGEST,
          // What kaniko would read: the context the kaniko builder uploaded for its Job.
          readContext: async (objectKey) =>
            buffer(await (await selectContextStore(settings))!.open(objectKey)),
        });
      }
      const running = await phaseIs(submitted.metadata.name!, 'Running', 120_000);
      expect(running.status).toMatchObject({
        imageStatus: 'built',
        image: expect.stringMatching(new RegExp(`^${repository}:[0-9a-f]{32,}$`)),
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      });
      const runJob = await batch.readNamespacedJob({
        name: running.status!.runJobName!,
        namespace,
      });
      expect(runJob.spec!.template.spec!.containers[0]).toMatchObject({
        image: running.status!.image,
        args: ['/src/main.txt'],
      });
      if (kaniko) {
        // The build pod got the same files submit packed, re-sent by the kaniko builder.
        expect([...kaniko.context.keys()].sort()).toEqual(['Dockerfile', 'src/main.txt']);
        expect(running.status!.digest).toBe(DIGEST);
        const kanikoKey = kaniko.job.metadata!.annotations!['launch-agent.dev/context-key']!;
        // Its own upload is gone once the build is over; the submitted context stays.
        await waitFor(
          'the kaniko context to be deleted',
          () => stores[store].exists(kanikoKey),
          (e) => !e,
        );
        await waitFor('the build Job to be deleted', buildJobs, (jobs) => jobs.length === 0);
      }
      expect(await stores[store].exists(key)).toBe(true);
    },
    180_000,
  );

  it('jobs of one sweep (same context, Dockerfile and args) share one build', async () => {
    const queue = 'sweep';
    const repository = `${env.registry}/agent-stores/sweep`;
    const { path, settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 4',
      'builder:',
      '  type: docker',
      `  destination: ${repository}`,
      `  build-context-store: ${storeUri('s3')}`,
    ]);
    const source = sourceDir(uniqueName(queue));
    const jobs: LaunchJob[] = [];
    for (let i = 0; i < 4; i++) {
      jobs.push(await submit(path, source, queue, ['--', '/src/main.txt', `--lr=0.${i}`]));
    }
    const agent = await startAgent(settings);
    const running = await Promise.all(
      jobs.map((job) => phaseIs(job.metadata.name!, 'Running', 120_000)),
    );
    expect(new Set(running.map((job) => job.status!.image)).size).toBe(1);
    expect(running.map((job) => job.status!.imageStatus).sort()).toEqual([
      'built',
      'reused',
      'reused',
      'reused',
    ]);
    const metrics = await agent.metrics.render();
    expect(metrics).toContain('launch_agent_images_total{result="built"} 1\n');
    expect(metrics).toContain('launch_agent_build_duration_seconds_count 1\n');
  }, 180_000);

  it('fails a job whose context is not in the store, saying which object', async () => {
    const queue = 'missing-context';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'builder:',
      '  type: docker',
      `  destination: ${env.registry}/agent-stores/missing`,
      `  build-context-store: ${storeUri('s3')}`,
    ]);
    await startAgent(settings);
    const job = await adminJobs.create(
      namespace,
      { name: uniqueName('lj') },
      { queue, source: { context: { key: 'contexts/0000.tar.gz' } } },
    );
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', reason: 'BuildContextNotFound' }),
      ]),
    );
    expect(failed.status!.message).toContain(`s3://${bucket}/launch/contexts/0000.tar.gz`);
  }, 60_000);
});

describe('retention', () => {
  it('renews its Lease as often as launchjobs.heartbeat-seconds says, and writes nothing per running job', async () => {
    const queue = 'heartbeat';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: -1',
      'builder: {type: noop}',
      'launchjobs: {heartbeat-seconds: 1, stale-after-seconds: 3}',
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
    const readLease = () =>
      coordination.readNamespacedLease({ namespace, name: agentLeaseName(identity) });
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

  it('deletes finished LaunchJobs after their TTL, their run Jobs in the target namespace, and a context once no job uses it', async () => {
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
      `kubernetes: {target-namespaces: [${target}]}`,
    ]);
    const source = sourceDir(uniqueName('ttl'));
    const options = ['--run-namespace', target];
    const first = await submit(path, source, queue, options);
    const second = await submit(path, source, queue, options);
    const key = first.spec.source.context!.key;
    expect(second.spec.source.context!.key).toBe(key);

    const agent = await startAgent(settings);
    const one = await phaseIs(first.metadata.name!, 'Running', 120_000);
    const two = await phaseIs(second.metadata.name!, 'Running', 120_000);
    expect(one.status!.runJobNamespace).toBe(target);

    await endRunJob(batch, one, 'Complete');
    await phaseIs(first.metadata.name!, 'Succeeded');
    await isGone('the first LaunchJob', () => getJob(first.metadata.name!));
    await isGone('its run Job', () =>
      batch.readNamespacedJob({ name: one.status!.runJobName!, namespace: target }),
    );
    // The second job still names the context: it survives the round that removed the first
    // job and the rounds after it (they run every 500 ms with this TTL).
    await sleep(1500);
    expect(await stores.s3.exists(key)).toBe(true);

    await endRunJob(batch, two, 'Failed');
    await isGone('the second LaunchJob', () => getJob(second.metadata.name!));
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

  it('deletes the run Job in a target namespace when its LaunchJob is deleted, and finds those left while no agent ran', async () => {
    const queue = 'orphans';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: -1',
      'builder: {type: noop}',
      `kubernetes: {target-namespaces: [${target}]}`,
    ]);
    const create = () =>
      adminJobs.create(
        namespace,
        { name: uniqueName('lj') },
        { queue, source: { image: 'busybox:1.36' }, run: { namespace: target } },
      );
    const runJobOf = (job: LaunchJob) => () =>
      batch.readNamespacedJob({ name: job.status!.runJobName!, namespace: target });

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
  }, 120_000);
});
