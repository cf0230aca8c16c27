// The agent under API-server faults, on the test environment's real kube-apiserver and etcd:
// the API server killed for 30 s while a build Job and a run Job run, a LaunchJob deleted while
// the agent is cut off with etcd compacted (so the watch is answered 410 Gone), and three agent
// processes on one queue, one of them SIGKILLed mid-run.
//
// The test environment has no kubelet and no controller-manager. THE TEST PLAYS THE JOB
// CONTROLLER for run Jobs (endRunJob) and THE KUBELET for kaniko build Jobs (playKubelet), as
// agent-harness.ts and kaniko-kubelet.ts describe. Every wait is a condition with a deadline;
// the one fixed wait is the outage itself.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Job,
} from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  createLogger,
  selectContextStore,
  contextUploadMetadata,
  newUploadToken,
  silentLogger,
  type LaunchAgentOptions,
  type LaunchJob,
} from '@launch-agent/runtime';
import { LABEL_AGENT_LEASE } from '../../packages/runtime/src/agent/lease.js';
import {
  applyLaunchJobCrd,
  namespacesWithChartRbac,
  configFile,
  endRunJob,
  removeTempDirs,
  sleep,
  tempDir,
  waitFor,
} from './agent-harness.js';
import {
  apiServerAddress,
  FlakyHttpRelay,
  compactEtcd,
  killApiServer,
  Relay,
  startServices,
  throughRelay,
} from './faults.js';
import { playKubelet } from './kaniko-kubelet.js';
import { kubeRequest, repoRoot, requireServices, uniqueName, type TestEnv } from './testenv.js';

const run = promisify(execFile);
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const bucket = uniqueName('faults');

let env: TestEnv;
let admin: KubeConfig;
let agentKubeConfig: KubeConfig;
let buildServiceAccount: string;
/** The agent's own namespace: Leases, build Jobs and their ConfigMaps. */
let namespace: string;
/** The tenant namespace the agents serve: LaunchJobs, their run Jobs and Events. */
let tenant: string;
let adminJobs: LaunchJobClient;
let batch: BatchV1Api;
let core: CoreV1Api;
let s3: S3Client;
const agents: LaunchAgent[] = [];
const relays: Relay[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await requireServices('kubernetes', 'registry', 'aws');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  namespace = uniqueName('agent-faults');
  tenant = uniqueName('faults-tenant');
  core = admin.makeApiClient(CoreV1Api);
  ({ kubeConfig: agentKubeConfig, buildServiceAccount } = await namespacesWithChartRbac(
    admin,
    env.kubeconfig,
    { agentNamespace: namespace, tenants: [tenant] },
  ));
  adminJobs = new LaunchJobClient(admin);
  batch = admin.makeApiClient(BatchV1Api);
  s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}, 120_000);

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
});

afterAll(async () => {
  s3?.destroy();
  removeTempDirs();
  for (const name of [namespace, tenant]) {
    if (name) await core.deleteNamespace({ name }).catch(() => undefined);
  }
});

const kanikoConfig = (
  queue: string,
  maxJobs: number,
  options: { registry?: string; s3Endpoint?: string } = {},
) =>
  configFile([
    `queues: [${queue}]`,
    `max_jobs: ${maxJobs}`,
    'builder:',
    '  type: kaniko',
    `  destination: ${options.registry ?? env.registry}/agent-faults/${queue}`,
    `  build-context-store: s3://${bucket}/contexts`,
    ...(options.s3Endpoint ? [`  s3-endpoint: ${options.s3Endpoint}`] : []),
    `kubernetes: {build-service-account: ${buildServiceAccount}, target-namespaces: [${tenant}]}`,
  ]);

/**
 * A context tar.gz in the S3 store, as `launch-agent submit` leaves it: with its digest, and its
 * upload token's hash and the namespace in the object's metadata (the job carries the token).
 */
async function storeContext(
  settings: AgentSettings,
  marker: string,
): Promise<{ key: string; digest: string; uploadToken: string }> {
  const src = tempDir('faults-src-');
  writeFileSync(join(src, 'Dockerfile'), 'FROM scratch\nCOPY data.txt /data.txt\n');
  writeFileSync(join(src, 'data.txt'), `${marker}\n`);
  const archive = join(tempDir('faults-tgz-'), 'context.tar.gz');
  await run('tar', ['czf', archive, '-C', src, '.']);
  const key = `${uniqueName('ctx')}.tar.gz`;
  const bytes = readFileSync(archive);
  const uploadToken = newUploadToken();
  await (await selectContextStore(settings))!.put(key, bytes, {
    metadata: contextUploadMetadata({ namespace: tenant, uploadToken }),
  });
  return {
    key,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    uploadToken,
  };
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
    heartbeatIntervalMs: 500,
    staleAfterMs: 3000,
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

const submit = (queue: string, source: LaunchJob['spec']['source']) =>
  adminJobs.create(tenant, { name: uniqueName('lj') }, { queue, source });
const getJob = (name: string) => adminJobs.get(tenant, name);
const phaseIs = (name: string, phase: string, timeoutMs = 60_000) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (job) => job.status?.phase === phase,
    timeoutMs,
  );
const buildJobs = async (): Promise<V1Job[]> =>
  (
    await batch.listNamespacedJob({
      namespace,
      labelSelector: 'app.kubernetes.io/managed-by=launch-agent,launch-agent.dev/build-id',
    })
  ).items;
const runJobsOf = async (queue: string): Promise<V1Job[]> =>
  (
    await batch.listNamespacedJob({
      namespace: tenant,
      labelSelector: `launch-agent.dev/queue=${queue}`,
    })
  ).items;

describe('API-server faults', () => {
  it('kube-apiserver killed for 30 s while a build Job and a run Job run: the same agent recovers, one build Job and one run Job each', async () => {
    const queue = 'outage';
    const { settings } = kanikoConfig(queue, 2);
    const agent = await startAgent(settings);
    const { key, digest } = await storeContext(settings, uniqueName('outage'));
    const building = await submit(queue, { context: { key, digest } });
    const running = await submit(queue, { image: 'busybox:1.36' });
    const runningNow = await phaseIs(running.metadata.name!, 'Running');
    const [buildJob] = await waitFor('the build Job', buildJobs, (jobs) => jobs.length === 1);
    await phaseIs(building.metadata.name!, 'Building');

    const down = Date.now();
    killApiServer();
    await waitFor(
      'the agent to report the lost connection',
      async () => agent.notReadyBecause(),
      (why) => why?.startsWith('disconnected from the API server') ?? false,
      20_000,
    );
    expect(agent.isLive()).toBe(true);
    // The outage itself.
    await sleep(Math.max(0, 30_000 - (Date.now() - down)));
    await startServices();
    await waitFor('the agent to be ready again', async () => agent.isReady(), Boolean, 90_000);

    // The build went on in its pod meanwhile; its end is seen after the outage.
    const seen = await playKubelet({
      batch,
      core,
      namespace,
      ending: { kind: 'complete' },
      digest: DIGEST,
      readContext: async (objectKey) =>
        buffer(await (await selectContextStore(settings))!.open(objectKey)),
    });
    expect(seen.job.metadata!.uid).toBe(buildJob!.metadata!.uid);
    const built = await phaseIs(building.metadata.name!, 'Running');
    expect(built.status).toMatchObject({ imageStatus: 'built', digest: DIGEST });

    await endRunJob(batch, runningNow, 'Complete');
    await endRunJob(batch, built, 'Complete');
    await phaseIs(running.metadata.name!, 'Succeeded');
    await phaseIs(building.metadata.name!, 'Succeeded');
    const runs = await runJobsOf(queue);
    expect(runs).toHaveLength(2);
    expect(new Set(runs.map((r) => r.metadata!.labels!['launch-agent.dev/launchjob'])).size).toBe(
      2,
    );
    expect(agent.metrics.counter('run_jobs_created', { result: 'created' })).toBe(2);
    await waitFor('the build Job to be removed', buildJobs, (jobs) => jobs.length === 0, 20_000);
  }, 300_000);

  it('a LaunchJob deleted while the agent is cut off, etcd compacted: the watch gets 410, the agent lists again and forgets it and its context', async () => {
    const queue = 'ghost';
    const { settings } = kanikoConfig(queue, 1);
    const relay = await new Relay(apiServerAddress(agentKubeConfig)).start();
    relays.push(relay);
    const agent = await startAgent(settings, { kubeConfig: throughRelay(agentKubeConfig, relay) });
    const holder = await submit(queue, { image: 'busybox:1.36' });
    await phaseIs(holder.metadata.name!, 'Running');
    const context = await storeContext(settings, uniqueName('ghost'));
    const { key } = context;
    const waiting = await submit(queue, { context });
    const depth = (n: number) => `launch_agent_queue_depth{queue="${queue}"} ${n}`;
    await waitFor(
      'the job to wait in the queue',
      async () => agent.metrics.render(),
      (m) => m.includes(depth(1)),
    );

    const cachedBefore = agent.cacheSizes().launchJobs;
    await relay.cut();
    await waitFor(
      'the agent to report the lost connection',
      async () => agent.notReadyBecause(),
      (why) => why?.startsWith('disconnected from the API server') ?? false,
      20_000,
    );
    await adminJobs.deleteIfUnchanged(await getJob(waiting.metadata.name!));
    // A restarted API server starts its watch cache at etcd's compacted revision: the agent's
    // last resourceVersion is then too old for it, and the watch is answered 410 Gone.
    await compactEtcd();
    killApiServer();
    await startServices();
    const expiredBefore = agent.relists().expired;
    await relay.restore();

    await waitFor('the agent to be ready again', async () => agent.isReady(), Boolean, 60_000);
    await waitFor(
      'the queue depth to drop',
      async () => agent.metrics.render(),
      (m) => m.includes(depth(0)),
    );
    expect(agent.relists().expired).toBeGreaterThan(expiredBefore);
    expect(agent.cacheSizes().launchJobs).toBe(cachedBefore - 1);
    const store = (await selectContextStore(settings))!;
    await waitFor(
      'its context to be deleted',
      () => store.exists(key),
      (exists) => !exists,
    );
    expect(agent.metrics.counter('claims', { result: 'won' })).toBe(1);
  }, 180_000);
});

describe('registry and context-store faults', () => {
  it('registry answering 503 for 20 s: the existence check is retried and the build goes on', async () => {
    const queue = 'registry503';
    const [host, port] = env.registry.split(':');
    const relay = await new FlakyHttpRelay({ host: host!, port: Number(port) }).start();
    try {
      const { settings } = kanikoConfig(queue, 1, { registry: `127.0.0.1:${relay.port}` });
      await startAgent(settings);
      const { key, digest } = await storeContext(settings, uniqueName('registry'));
      relay.unavailable = true;
      const outageStart = Date.now();
      const job = await submit(queue, { context: { key, digest } });
      await waitFor(
        'the registry to be asked',
        async () => relay.refused,
        (n) => n >= 1,
      );
      // The outage itself.
      await sleep(Math.max(0, 20_000 - (Date.now() - outageStart)));
      expect((await getJob(job.metadata.name!)).status?.phase).toBe('Building');
      expect(await buildJobs()).toHaveLength(0);
      relay.unavailable = false;
      await playKubelet({
        batch,
        core,
        namespace,
        ending: { kind: 'complete' },
        digest: DIGEST,
        readContext: async (objectKey) =>
          buffer(await (await selectContextStore(settings))!.open(objectKey)),
      });
      const running = await phaseIs(job.metadata.name!, 'Running');
      expect(running.status).toMatchObject({ imageStatus: 'built', digest: DIGEST });
      expect(relay.refused).toBeGreaterThan(3);
      expect(relay.forwarded).toBeGreaterThanOrEqual(1);
      await endRunJob(batch, running, 'Complete');
      await phaseIs(job.metadata.name!, 'Succeeded');
    } finally {
      await relay.stop();
    }
  }, 180_000);

  it('context store unreachable: the job fails naming the store, and no build Job or ConfigMap is left', async () => {
    const queue = 'store-down';
    const s3Endpoint = new URL(env.awsEndpoint);
    const relay = await new Relay({
      host: s3Endpoint.hostname,
      port: Number(s3Endpoint.port),
    }).start();
    relays.push(relay);
    const { settings } = kanikoConfig(queue, 1, { s3Endpoint: `http://127.0.0.1:${relay.port}` });
    const { key, digest } = await storeContext(settings, uniqueName('store'));
    await relay.cut();
    await startAgent(settings);
    const job = await submit(queue, { context: { key, digest } });
    const failed = await phaseIs(job.metadata.name!, 'Failed', 120_000);
    const reason = failed.status!.conditions!.find((c) => c.type === 'Failed')!;
    expect(reason.reason).toMatch(/^BuildContext/);
    // The message names the object that could not be read, and why.
    expect(failed.status!.message).toContain(`${bucket}/contexts/${key}`);
    expect(failed.status!.message).toContain('ECONNREFUSED');
    expect(await buildJobs()).toHaveLength(0);
    const configMaps = await core.listNamespacedConfigMap({
      namespace,
      labelSelector: 'launch-agent.dev/build-job',
    });
    expect(configMaps.items).toHaveLength(0);
    expect(await runJobsOf(queue)).toHaveLength(0);
  }, 180_000);
});

describe('several agents on one queue', () => {
  it('three agent processes, one SIGKILLed mid-run: the others take its jobs over once its Lease expires, and no job runs twice', async () => {
    const queue = 'takeover';
    const { path } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 3',
      'builder: {type: noop}',
      'launchjobs: {heartbeat-seconds: 1, stale-after-seconds: 3}',
      `kubernetes: {target-namespaces: [${tenant}]}`,
    ]);
    const kubeconfig = join(tempDir('faults-kube-'), 'kubeconfig');
    writeFileSync(kubeconfig, agentKubeConfig.exportConfig());
    const logs = new Map<string, string>();
    const identities = ['agent-a', 'agent-b', 'agent-c'].map((n) => uniqueName(n));
    const processes = new Map<string, ChildProcess>();
    for (const identity of identities) {
      const child = spawn(
        process.execPath,
        [
          join(repoRoot, 'packages', 'cli', 'dist', 'bin.js'),
          'start',
          '--config',
          path,
          '--namespace',
          namespace,
          '--identity',
          identity,
          '--port',
          '0',
        ],
        { env: { ...process.env, KUBECONFIG: kubeconfig, LAUNCH_AGENT_LOG_FORMAT: 'json' } },
      );
      logs.set(identity, '');
      child.stderr!.on('data', (chunk: Buffer) =>
        logs.set(identity, `${logs.get(identity) ?? ''}${chunk.toString()}`),
      );
      children.push(child);
      processes.set(identity, child);
    }
    const coordination = admin.makeApiClient(CoordinationV1Api);
    await waitFor(
      'three agent Leases',
      async () =>
        (
          await coordination.listNamespacedLease({
            namespace,
            labelSelector: `${LABEL_AGENT_LEASE}=true`,
          })
        ).items.map((lease) => lease.spec?.holderIdentity),
      (holders) => identities.every((id) => holders.includes(id)),
    );
    const jobs = await Promise.all(
      [1, 2, 3, 4, 5].map(() => submit(queue, { image: 'busybox:1.36' })),
    );
    const runningJobs = await Promise.all(
      jobs.map((job) => phaseIs(job.metadata.name!, 'Running')),
    );
    const victim = runningJobs[0]!.status!.agent!;
    // On failure, what each agent logged.
    const dump = () => [...logs].map(([id, text]) => `--- ${id}\n${text.slice(-4000)}`).join('\n');
    const victims = runningJobs.filter((job) => job.status!.agent === victim);
    const killedAt = Date.now();
    processes.get(victim)!.kill('SIGKILL');

    const takenOver = await Promise.all(
      victims.map((job) =>
        waitFor(
          `${job.metadata.name} to be taken over`,
          () => getJob(job.metadata.name!),
          (j) => j.status?.agent !== undefined && j.status.agent !== victim,
          30_000,
        ).catch((error: Error) => {
          throw new Error(`${error.message}\n${dump()}`);
        }),
      ),
    );
    for (const job of takenOver) {
      expect(identities).toContain(job.status!.agent);
      expect(job.status!.runJobName).toBe(
        runningJobs.find((r) => r.metadata.uid === job.metadata.uid)!.status!.runJobName,
      );
      expect(job.status!.conditions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'Claimed', reason: 'ResumedFromStaleAgent' }),
        ]),
      );
      // Not before the Lease could have expired (3 s after a renewal that was at most 1 s old).
      expect(Date.parse(job.status!.claimedTime!) - killedAt).toBeGreaterThanOrEqual(1_000);
    }
    const runs = await runJobsOf(queue);
    expect(runs).toHaveLength(5);
    for (const job of runningJobs) await endRunJob(batch, job, 'Complete');
    for (const job of jobs) await phaseIs(job.metadata.name!, 'Succeeded');
    expect(await runJobsOf(queue)).toHaveLength(5);
    // kubectl describe tells the story: the takeover is an Event on the job.
    const events = await waitFor(
      'a TakenOver Event',
      async () =>
        (
          await kubeRequest(
            admin,
            'GET',
            `/apis/events.k8s.io/v1/namespaces/${tenant}/events`,
            '',
            'application/json',
          )
        ).body,
      (body) => body.includes('"reason":"TakenOver"'),
    );
    expect(events).toContain(victims[0]!.metadata.name);
  }, 180_000);
});
