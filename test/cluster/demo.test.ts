// scripts/demo, the path a user takes, on the cluster profile with nothing played by the test:
// `helm install --wait` of the chart (kaniko builder, a PersistentVolumeClaim as build-context
// store), `launch-agent submit` of a context into the tenant namespace the agent serves, the
// agent in its pod (in the release namespace) building the image with a kaniko Job that the
// kubelet runs, pushing to the test registry, running the image as a batch/v1 Job in the tenant
// namespace and reporting the outcome, which `launch-agent status`/`logs` print. The test
// watches LaunchJobs and Jobs while the script runs, and reads the registry and the claim's
// directory afterwards.
//
// It also covers what the chart's own install test did: the agent's pod Ready after
// `helm install --wait`, its JSON log through `kubectl logs`.
//
// The environment must be up (scripts/testenv up, scripts/testenv cluster up): DEMO_SKIP_SETUP=1
// skips the script's own bootstrap and `up` steps, which the tier has already done.
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { repoRoot, uniqueName } from '../integration/testenv.js';
import {
  clusterKubeConfig,
  loadClusterEnv,
  registryDigest,
  type ClusterEnv,
} from './cluster-env.js';

const run = promisify(execFile);
const TIMEOUT = 600_000;
/** The finished LaunchJobs' retention: long enough to read them, short for the cleanup check. */
const TTL_SECONDS = 30;

interface LaunchJobObject {
  metadata: { name: string; namespace: string };
  spec: { source: { context?: { key: string } } };
  status?: {
    phase?: string;
    image?: string;
    imageStatus?: string;
    digest?: string;
    runJobName?: string;
    runJobNamespace?: string;
    message?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

let env: ClusterEnv;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
/** The release namespace: the agent, its Lease and kaniko build Jobs. */
const namespace = uniqueName('demo');
/** The tenant namespace the agent serves: the LaunchJobs and their run Jobs. */
const tenant = `${namespace}-team`;
const pvName = `demo-contexts-${namespace}`;
const workDirs: string[] = [];

/** Phases per LaunchJob, in the order the watch delivered them; the build Jobs created. */
const phases = new Map<string, string[]>();
const latest = new Map<string, LaunchJobObject>();
const buildJobs: string[] = [];
const aborts: AbortController[] = [];
let stopped = false;

beforeAll(async () => {
  env = loadClusterEnv();
  kc = clusterKubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  // The agent runs from the repository's build output (mounted at /app).
  await run(path.join(repoRoot, 'node_modules/.bin/tsc'), ['-b', 'packages/cli'], {
    cwd: repoRoot,
  });
  // Watches that start again whenever they end (a server timeout, a dropped connection), so no
  // update of the runs below is missed; a restart delivers the current objects again.
  const keepWatching = <T>(
    path: string,
    params: Record<string, string>,
    onEvent: (type: string, object: T) => void,
  ) => {
    const watch = new k8s.Watch(kc);
    const start = (): void => {
      if (stopped) return;
      void watch
        .watch(path, params, onEvent, () => {
          if (!stopped) setTimeout(start, 200);
        })
        .then((abort) => aborts.push(abort))
        .catch(() => setTimeout(start, 200));
    };
    start();
  };
  keepWatching<LaunchJobObject>(
    `/apis/launch-agent.dev/v1alpha1/namespaces/${tenant}/launchjobs`,
    {},
    (type, job) => {
      if (type === 'DELETED') return;
      const name = job.metadata.name;
      const seen = phases.get(name) ?? [];
      const phase = job.status?.phase ?? 'Pending';
      if (seen[seen.length - 1] !== phase) seen.push(phase);
      phases.set(name, seen);
      latest.set(name, job);
    },
  );
  keepWatching<k8s.V1Job>(
    `/apis/batch/v1/namespaces/${namespace}/jobs`,
    { labelSelector: 'app.kubernetes.io/component=kaniko-build' },
    (type, job) => {
      const name = job.metadata!.name!;
      if (type === 'ADDED' && !buildJobs.includes(name)) buildJobs.push(name);
    },
  );
}, TIMEOUT);

afterAll(async () => {
  stopped = true;
  for (const abort of aborts) abort.abort();
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  if (!kc) return;
  await run(env.kubectl, [
    '--kubeconfig',
    env.clusterKubeconfig,
    'delete',
    'namespace',
    namespace,
    tenant,
    '--wait=false',
  ]).catch(() => undefined);
  await core.deletePersistentVolume({ name: pvName }).catch(() => undefined);
  // The chart's admission policy is cluster-wide: deleting the namespaces leaves it behind.
  await run(env.kubectl, [
    '--kubeconfig',
    env.clusterKubeconfig,
    'delete',
    'validatingadmissionpolicybindings,validatingadmissionpolicies,clusterroles,clusterrolebindings',
    '-l',
    'app.kubernetes.io/part-of=launch-agent',
    '--ignore-not-found',
    '--wait=false',
  ]).catch(() => undefined);
  rmSync(path.join(env.pvDir, pvName), { recursive: true, force: true });
}, TIMEOUT);

interface DemoResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The LaunchJob the run submitted (from its "launchjob/NAME submitted" line). */
  name: string | undefined;
}

function demo(args: string[]): Promise<DemoResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(repoRoot, 'scripts/demo'),
      [
        '--namespace',
        namespace,
        '--tenant',
        tenant,
        '--ttl',
        String(TTL_SECONDS),
        '--timeout',
        '400',
        ...args,
      ],
      { env: { ...process.env, DEMO_SKIP_SETUP: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, name: /launchjob\/(\S+) submitted/.exec(stderr)?.[1] }),
    );
  });
}

/** A copy of examples/demo with a file of its own: a source hash no earlier run has built. */
function demoContext(extra: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'launch-demo-'));
  workDirs.push(dir);
  cpSync(path.join(repoRoot, 'examples/demo'), dir, { recursive: true });
  for (const [name, content] of Object.entries(extra)) writeFileSync(path.join(dir, name), content);
  return dir;
}

/** The watch delivers the last update shortly after the script read it; wait for it. */
async function finalState(name: string): Promise<LaunchJobObject> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = latest.get(name);
    const phase = job?.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return job!;
    if (Date.now() > deadline) throw new Error(`launchjob/${name} seen as ${phase ?? 'nothing'}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const explain = (result: DemoResult) => `exit ${result.code}\n${result.stdout}\n${result.stderr}`;

let context: string;
let runId: string;
let firstTag: string;

test('a CONTEXT without a Dockerfile fails before anything is created', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'launch-demo-empty-'));
  workDirs.push(dir);
  writeFileSync(path.join(dir, 'train.py'), 'print("no Dockerfile here")\n');
  const result = await demo([dir]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`CONTEXT ${dir} has no Dockerfile`);
  const namespaces = (await core.listNamespace()).items.map((n) => n.metadata!.name);
  expect(namespaces).not.toContain(namespace);
  expect(namespaces).not.toContain(tenant);
});

test(
  'the first run builds with kaniko and runs the job to Succeeded',
  async () => {
    runId = uniqueName('run');
    context = demoContext({ 'run-id.txt': `${runId}\n` });
    const result = await demo([context, '--', 'sh', '-c', 'cat /demo/run-id.txt; sh /demo/run.sh']);
    if (result.code !== 0) throw new Error(explain(result));
    const name = result.name!;
    const job = await finalState(name);
    expect(phases.get(name)).toEqual(['Pending', 'Building', 'Running', 'Succeeded']);
    expect(buildJobs).toHaveLength(1);
    expect(job.status!.imageStatus).toBe('built');
    // Submitted into the tenant namespace, and run there.
    expect(job.metadata.namespace).toBe(tenant);
    expect(job.status!.runJobNamespace).toBe(tenant);
    expect(result.stderr).toContain(`-n ${tenant} get launchjobs`);

    // The run's output, as the script printed it and as the kubelet has it.
    expect(result.stdout).toContain(runId);
    expect(result.stdout).toContain('hello from the launch-agent demo job');
    expect(result.stdout).toContain('This line was copied into the image');
    const pods = await core.listNamespacedPod({
      namespace: tenant,
      labelSelector: `job-name=${job.status!.runJobName}`,
    });
    expect(pods.items).toHaveLength(1);
    // No API token in the run pod, no privilege escalation: the baseline the agent holds to.
    expect(pods.items[0]!.spec!.automountServiceAccountToken).toBe(false);
    expect(pods.items[0]!.spec!.containers[0]!.securityContext?.allowPrivilegeEscalation).toBe(
      false,
    );
    const log = await core.readNamespacedPodLog({
      namespace: tenant,
      name: pods.items[0]!.metadata!.name!,
      container: 'job',
    });
    expect(log).toContain(runId);
    expect(log).toContain('run-id.txt');

    // The digest the agent reported is the registry's for the image's source-hash tag.
    const image = job.status!.image!;
    const [repository, tag] = image.slice(env.registry.length + 1).split(':');
    firstTag = tag!;
    expect(image.startsWith(`${env.registry}/launch-demo:`)).toBe(true);
    expect(job.status!.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await registryDigest(env.registry, repository!, tag!)).toBe(job.status!.digest);

    // The agent is up as helm install --wait left it (its readiness probe answers through the
    // pod network), and `kubectl logs` returns its JSON log.
    const deployment = await kc
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ namespace, name: 'demo-launch-agent' });
    expect(deployment.status?.readyReplicas).toBe(1);
    const { stdout: agentLog } = await run(env.kubectl, [
      '--kubeconfig',
      env.clusterKubeconfig,
      '-n',
      namespace,
      'logs',
      'deployment/demo-launch-agent',
      '-c',
      'agent',
    ]);
    const first = agentLog.split('\n').find((l) => l.startsWith('{'));
    expect(() => JSON.parse(first!) as unknown).not.toThrow();
  },
  TIMEOUT,
);

test(
  'the same context again: the image is reused and no build Job is created',
  async () => {
    const builds = buildJobs.length;
    const result = await demo([context]);
    if (result.code !== 0) throw new Error(explain(result));
    const job = await finalState(result.name!);
    expect(job.status!.imageStatus).toBe('reused');
    expect(job.status!.image).toBe(`${env.registry}/launch-demo:${firstTag}`);
    // The agent enters Building while it fetches the context and asks the registry for the tag,
    // before it knows that no build is needed (docs/agent.md says Building comes only when a
    // build is needed); what shows that none ran is the build Jobs, below.
    expect(phases.get(result.name!)!.filter((p) => p !== 'Building')).toEqual([
      'Pending',
      'Running',
      'Succeeded',
    ]);
    expect(buildJobs).toHaveLength(builds);
    expect(result.stdout).toContain('(reused)');
    expect(result.stdout).toContain('run-id.txt');
  },
  TIMEOUT,
);

test('the admission policy the chart installed refuses a bad LaunchJob, naming the field', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'launch-demo-bad-'));
  workDirs.push(dir);
  const create = async (where: string, runSpec: Record<string, unknown>) => {
    const file = path.join(dir, `${where}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'launch-agent.dev/v1alpha1',
        kind: 'LaunchJob',
        metadata: { name: uniqueName('refused'), namespace: where },
        spec: { queue: 'default', source: { image: 'busybox:1.36' }, run: runSpec },
      }),
    );
    const out = await run(env.kubectl, [
      '--kubeconfig',
      env.clusterKubeconfig,
      'create',
      '-f',
      file,
    ]).then(
      () => '',
      (error: { stderr?: string }) => error.stderr ?? String(error),
    );
    return out;
  };
  const privileged = await create(tenant, { privileged: true });
  expect(privileged).toContain('ValidatingAdmissionPolicy');
  expect(privileged).toContain('spec.run.privileged');
  const agentNamespace = await create(namespace, {});
  expect(agentNamespace).toContain(
    `metadata.namespace: the agent does not run LaunchJobs in namespace ${namespace}`,
  );
  // Nothing was created in either namespace.
  const listed = await core.listNamespacedPod({ namespace: tenant });
  expect(listed.items.filter((p) => p.metadata?.name?.startsWith('refused-'))).toEqual([]);
});

test(
  'a command that exits 3: exit 1, the exit code named, the LaunchJob Failed with its reason',
  async () => {
    const result = await demo([context, '--', 'sh', '-c', 'echo failing on purpose; exit 3']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('failing on purpose');
    expect(result.stderr).toContain("the job's command exited with code 3");
    const job = await finalState(result.name!);
    expect(job.status!.phase).toBe('Failed');
    const failed = job.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed?.reason).toBe('BackoffLimitExceeded');
    expect(result.stderr).toContain(`Failed (BackoffLimitExceeded)`);
  },
  TIMEOUT,
);

test(
  'a Dockerfile that fails to build: exit 1 with the build log’s last lines, the LaunchJob Failed',
  async () => {
    const builds = buildJobs.length;
    const dir = demoContext({
      Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY missing-file.txt /demo/\n',
    });
    const result = await demo([dir]);
    expect(result.code).toBe(1);
    const job = await finalState(result.name!);
    expect(phases.get(result.name!)).toEqual(['Pending', 'Building', 'Failed']);
    expect(buildJobs).toHaveLength(builds + 1);
    const failed = job.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed?.reason).toBe('BuildFailed');
    expect(job.status!.message).toContain('missing-file.txt');
    expect(result.stderr).toContain('Failed (BuildFailed)');
    expect(result.stderr).toContain('missing-file.txt');
  },
  TIMEOUT,
);

test(
  'once the TTL runs, nothing is left: LaunchJobs, run and build Jobs and pods, stored contexts',
  async () => {
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const pvDir = path.join(env.pvDir, pvName);
    const contexts = () =>
      readdirSync(pvDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.gz'));
    const deadline = Date.now() + (TTL_SECONDS + 90) * 1000;
    for (;;) {
      const launchJobs = (await custom.listNamespacedCustomObject({
        group: 'launch-agent.dev',
        version: 'v1alpha1',
        namespace: tenant,
        plural: 'launchjobs',
      })) as { items: unknown[] };
      // Run Jobs in the tenant namespace, build Jobs in the release namespace.
      const jobs = [
        ...(await batch.listNamespacedJob({ namespace: tenant })).items,
        ...(await batch.listNamespacedJob({ namespace })).items,
      ];
      const pods = [
        ...(await core.listNamespacedPod({ namespace: tenant })).items,
        ...(await core.listNamespacedPod({ namespace })).items,
      ].filter((p) => !p.metadata!.name!.startsWith('demo-launch-agent-'));
      const left = [
        ...launchJobs.items.map(() => 'a LaunchJob'),
        ...jobs.map((j) => `job/${j.metadata!.namespace}/${j.metadata!.name}`),
        ...pods.map((p) => `pod/${p.metadata!.name}`),
        ...contexts(),
      ];
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`left behind: ${left.join(', ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
  TIMEOUT,
);
