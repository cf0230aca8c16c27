// The test bed of the agent's queue tests (agent-queue.test.ts, agent-restarts.test.ts,
// agent-cli.test.ts): the chart's LaunchJob CRD on the real kube-apiserver of scripts/testenv, a
// namespace for the agent (its Lease, build Jobs) and a tenant namespace it serves (LaunchJobs and
// their run Jobs), with the chart's ServiceAccount, Roles and RoleBindings in both as `helm
// template` renders them (the agent authenticates with a token from the TokenRequest API), and a directory
// standing in for the PVC context store's mounted claim. Builds go to podman's Docker Engine API
// and push to the test registry.
//
// A test file calls useQueueTestbed() once at its top level: it registers the beforeAll that
// fills the bindings below, an afterEach that stops the agents a test started, and an afterAll
// that removes what the file made. The bindings are ES module exports, so an importer reads
// their current value.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { normalizeConfig, type LaunchAgentConfig } from '@launch-agent/config';
import {
  LaunchAgent,
  LaunchJobClient,
  createLogger,
  silentLogger,
  type Builder,
  type LaunchAgentOptions,
  type LaunchJob,
  type LaunchJobSpec,
} from '@launch-agent/runtime';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import {
  applyLaunchJobCrd,
  namespacesWithChartRbac,
  removeTempDirs,
  tempDir,
  waitFor,
} from './agent-harness.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

export const run = promisify(execFile);

export let env: TestEnv;
export let admin: KubeConfig;
export let agentKubeConfig: KubeConfig;
/** The tenant namespace the agents serve: LaunchJobs and their run Jobs. */
export let namespace: string;
/** The agents' own namespace: their Leases; no LaunchJob runs here. */
export let agentNamespace: string;
export let adminJobs: LaunchJobClient;
export let batch: BatchV1Api;
/** The PVC context store's claim, as the agent's pod would have it mounted. */
export let contextRoot: string;
/** The agents a test started; each is stopped after the test (a test removes one it ended). */
export const agents: LaunchAgent[] = [];

export function useQueueTestbed(): void {
  beforeAll(async () => {
    env = await requireServices('kubernetes', 'docker', 'registry');
    admin = new KubeConfig();
    admin.loadFromFile(env.kubeconfig);
    await applyLaunchJobCrd(admin);
    agentNamespace = uniqueName('agent-ns');
    namespace = uniqueName('tenant-ns');
    ({ kubeConfig: agentKubeConfig } = await namespacesWithChartRbac(admin, env.kubeconfig, {
      agentNamespace,
      tenants: [namespace],
    }));
    adminJobs = new LaunchJobClient(admin);
    batch = admin.makeApiClient(BatchV1Api);
    contextRoot = tempDir('agent-pvc-');
  }, 120_000);

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });

  afterAll(async () => {
    removeTempDirs();
    // No namespace controller in the testenv: the namespace stays Terminating, its objects stay.
    for (const name of [agentNamespace, namespace]) {
      if (name) await admin.makeApiClient(CoreV1Api).deleteNamespace({ name });
    }
  });
}

export const getJob = (name: string) => adminJobs.get(namespace, name);
export const phaseIs = (name: string, phase: string) =>
  waitFor(
    `${name} to be ${phase}`,
    () => getJob(name),
    (job) => job.status?.phase === phase,
  );

/**
 * Creates a LaunchJob on `queue` (by default: the prebuilt image busybox:1.36) in the tenant
 * namespace, or in `where`.
 */
export async function submit(
  queue: string,
  spec: Partial<LaunchJobSpec> = {},
  where = namespace,
): Promise<LaunchJob> {
  return adminJobs.create(
    where,
    { name: uniqueName('lj') },
    { queue, source: { image: 'busybox:1.36' }, ...spec },
  );
}

/** The run Jobs of `queue` in the tenant namespace (or `where`). */
export async function runJobsOf(queue: string, where = namespace): Promise<V1Job[]> {
  const list = await batch.listNamespacedJob({
    namespace: where,
    labelSelector: `launch-agent.dev/queue=${queue}`,
  });
  return list.items;
}

/**
 * An agent's settings from a config, with the noop builder unless the config names one, serving
 * the tenant namespace unless the config names what it serves.
 */
export function settingsFor(config: Partial<LaunchAgentConfig>) {
  return normalizeConfig({
    builder: { type: 'noop' },
    ...config,
    kubernetes: { 'target-namespaces': [namespace], ...config.kubernetes },
  } as LaunchAgentConfig);
}

/** Starts an agent as the chart's ServiceAccount (heartbeat 300 ms, stale after 2 s). */
export async function startAgent(
  options: Partial<LaunchAgentOptions> & Pick<LaunchAgentOptions, 'settings'>,
): Promise<LaunchAgent> {
  const agent = new LaunchAgent({
    kubeConfig: agentKubeConfig,
    namespace: agentNamespace,
    identity: uniqueName('agent'),
    heartbeatIntervalMs: 300,
    staleAfterMs: 2000,
    // AGENT_TEST_LOG=1 shows what the agents do.
    log: process.env.AGENT_TEST_LOG
      ? createLogger({ format: 'text', level: 'debug' })
      : silentLogger,
    ...options,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

/** A context tar.gz in the PVC store (a directory standing in for the mounted claim). */
/** Writes a context archive under `key`; returns its digest (a job's spec.source.context.digest). */
export async function storeContext(key: string, files: Record<string, string>): Promise<string> {
  const src = tempDir('agent-src-');
  for (const [path, content] of Object.entries(files)) writeFileSync(join(src, path), content);
  mkdirSync(join(contextRoot, key, '..'), { recursive: true });
  await run('tar', ['czf', join(contextRoot, key), '-C', src, '.']);
  const bytes = readFileSync(join(contextRoot, key));
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export const contextStore = () =>
  new PvcContextStore({ claim: 'contexts', prefix: '', mountPath: contextRoot });

/** A builder that never finishes on its own: a build an agent dies in the middle of. */
export const hangingBuilder = (started: () => void): Builder => ({
  name: 'hanging',
  build: ({ signal }) =>
    new Promise((_resolve, reject) => {
      started();
      signal?.addEventListener('abort', () => reject(new Error('build aborted')));
    }),
});
