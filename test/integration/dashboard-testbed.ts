// The dashboard's test bed on the real API server (RBAC on): two tenant namespaces, LaunchJobs in
// every phase (their status written with the admin's replaceStatus, as an agent would), an Event
// about one, a pod object for its run Job, and ServiceAccount identities that may read only
// team-a: a viewer, and an operator who may also patch LaunchJobs there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  dumpYaml,
  loadYaml,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { LaunchJobClient, type LaunchJob, type LaunchJobStatus } from '@launch-agent/runtime';
import { applyChartTemplates, chartDir } from './agent-harness.js';
import {
  grantRole,
  kubeRequest,
  serviceAccountKubeConfig,
  uniqueName,
  waitUntilAllowed,
} from './testenv.js';

export const CHROMIUM = '/usr/bin/chromium';

const crdFile = join(chartDir, 'crds', 'launchjobs.launch-agent.dev.yaml');

/** What the dashboard needs to read a namespace: nothing more (the chart's dashboard Role). */
const READ_RULES: V1PolicyRule[] = [
  { apiGroups: ['launch-agent.dev'], resources: ['launchjobs'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

interface CrdSchema {
  properties: Record<string, unknown>;
  'x-kubernetes-validations'?: unknown;
}

async function applyCrd(admin: KubeConfig, text: string): Promise<void> {
  const name = 'launchjobs.launch-agent.dev';
  const { status, body } = await kubeRequest(
    admin,
    'PATCH',
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=launch-agent-tests&force=true`,
    text,
    'application/apply-patch+yaml',
  );
  if (status !== 200 && status !== 201)
    throw new Error(`applying ${name}: HTTP ${status}: ${body}`);
}

/**
 * The chart's CRD, able to hold the declarative cancel. The `cancel` command's change to the CRD
 * declares spec.cancel and lets it change on an immutable spec; until a CRD in this tree does,
 * the test bed applies a copy that declares it and drops the immutability rule, so the
 * dashboard's merge patch can be checked on the object. The chart's CRD is put back by
 * `restoreCrd`.
 */
export async function applyCrdWithCancel(admin: KubeConfig): Promise<void> {
  const text = readFileSync(crdFile, 'utf8');
  const crd = loadYaml(text) as {
    spec: {
      versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, CrdSchema> } } }>;
    };
  };
  const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!;
  if (!spec.properties.cancel) {
    spec.properties.cancel = {
      type: 'object',
      properties: { requested: { type: 'boolean' }, reason: { type: 'string' } },
    };
    delete spec['x-kubernetes-validations'];
  }
  await applyCrd(admin, dumpYaml(crd));
  for (let i = 0; i < 100; i++) {
    const { body } = await kubeRequest(
      admin,
      'GET',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/launchjobs.launch-agent.dev',
      '',
      'application/json',
    );
    const conditions = (
      JSON.parse(body) as { status?: { conditions?: Array<{ type: string; status: string }> } }
    ).status?.conditions;
    if (conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function restoreCrd(admin: KubeConfig): Promise<void> {
  await applyCrd(admin, readFileSync(crdFile, 'utf8'));
}

export interface DashboardBed {
  teamA: string;
  teamB: string;
  viewer: KubeConfig;
  operator: KubeConfig;
  jobs: LaunchJobClient;
  /** team-a's jobs by role in the test: name → object as created and given its status. */
  byRole: Record<'waitingOld' | 'waitingNew' | 'building' | 'running' | 'failed', LaunchJob>;
  teamBJob: LaunchJob;
  runJobName: string;
  eventNote: string;
}

const condition = (reason: string, message: string, at: string) => ({
  type: 'Ready',
  status: 'False' as const,
  reason,
  message,
  lastTransitionTime: at,
});

export async function setUpDashboardBed(admin: KubeConfig): Promise<DashboardBed> {
  const teamA = uniqueName('dash-a');
  const teamB = uniqueName('dash-b');
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of [teamA, teamB]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  for (const name of ['viewer', 'operator']) {
    await core.createNamespacedServiceAccount({ namespace: teamA, body: { metadata: { name } } });
  }
  const both = [
    { namespace: teamA, name: 'viewer' },
    { namespace: teamA, name: 'operator' },
  ];
  await grantRole(admin, { namespace: teamA, name: 'dashboard-read', rules: READ_RULES }, both);
  const patch = { apiGroups: ['launch-agent.dev'], resources: ['launchjobs'], verbs: ['patch'] };
  await grantRole(admin, { namespace: teamA, name: 'dashboard-cancel', rules: [patch] }, [
    { namespace: teamA, name: 'operator' },
  ]);
  const viewer = await serviceAccountKubeConfig(admin, teamA, 'viewer', 3600);
  const operator = await serviceAccountKubeConfig(admin, teamA, 'operator', 3600);
  const read = {
    group: 'launch-agent.dev',
    resource: 'launchjobs',
    verb: 'list',
    namespace: teamA,
  };
  await waitUntilAllowed(viewer, read);
  await waitUntilAllowed(operator, { ...read, verb: 'patch' });

  const jobs = new LaunchJobClient(admin);
  const spec = (queue: string) => ({ queue, source: { image: 'registry.example/ml/train:1' } });
  const make = async (name: string, queue: string, status?: LaunchJobStatus, ns = teamA) => {
    const created = await jobs.create(ns, { name }, spec(queue));
    // Creation times are whole seconds: a pause keeps the waiting order unambiguous.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    return status ? jobs.replaceStatus(created, status) : created;
  };
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const runJobName = uniqueName('run');
  const byRole = {
    waitingOld: await make('train-waiting-1', 'gpu'),
    waitingNew: await make('train-waiting-2', 'gpu'),
    building: await make('train-building', 'gpu', {
      phase: 'Building',
      agent: 'agent-0',
      claimedTime: now(),
      conditions: [condition('Building', 'kaniko build started', now())],
    }),
    running: await make('train-running', 'cpu', {
      phase: 'Running',
      agent: 'agent-0',
      claimedTime: now(),
      startTime: now(),
      image: 'registry.example/ml/train:1',
      imageStatus: 'prebuilt',
      digest: 'sha256:' + 'ab'.repeat(32),
      runJobName,
      runJobNamespace: teamA,
      conditions: [condition('RunJobCreated', 'run Job created', now())],
    }),
    failed: await make('train-failed', 'cpu', {
      phase: 'Failed',
      agent: 'agent-0',
      completionTime: now(),
      conditions: [condition('BackoffLimitExceeded', 'the run Job failed 3 times', now())],
    }),
  };
  const teamBJob = await make('team-b-secret-job', 'gpu', undefined, teamB);
  // The run Job's pod: no kubelet runs it in this tier, so the API server cannot produce its log.
  await core.createNamespacedPod({
    namespace: teamA,
    body: {
      metadata: {
        name: `${runJobName}-abcde`,
        labels: { 'batch.kubernetes.io/job-name': runJobName },
      },
      // No controller makes a `default` ServiceAccount here; the pod names one that exists.
      spec: {
        serviceAccountName: 'viewer',
        automountServiceAccountToken: false,
        containers: [{ name: 'job', image: 'registry.example/ml/train:1' }],
      },
    },
  });
  const eventNote = `Pulled image for ${uniqueName('note')}`;
  const { status, body } = await kubeRequest(
    admin,
    'POST',
    `/apis/events.k8s.io/v1/namespaces/${teamA}/events`,
    JSON.stringify({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: uniqueName('train-running') },
      eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: 'launch-agent.dev/agent',
      reportingInstance: 'agent-0',
      action: 'Run',
      reason: 'RunJobCreated',
      note: eventNote,
      type: 'Normal',
      regarding: {
        apiVersion: 'launch-agent.dev/v1alpha1',
        kind: 'LaunchJob',
        namespace: teamA,
        name: byRole.running.metadata.name,
        uid: byRole.running.metadata.uid,
      },
    }),
    'application/json',
  );
  if (status !== 201) throw new Error(`creating the Event: HTTP ${status}: ${body}`);
  return { teamA, teamB, viewer, operator, jobs, byRole, teamBJob, runJobName, eventNote };
}

/**
 * The chart's dashboard objects for `namespace` (dashboard.enabled, read-only), as `helm template`
 * renders them, applied with the admin's rights (kubectl's strict field validation): the API server
 * validates the Deployment, Service and RBAC. Returns a kubeconfig acting as the dashboard's ServiceAccount.
 */
export async function chartDashboardKubeConfig(
  admin: KubeConfig,
  adminKubeconfigFile: string,
  namespace: string,
): Promise<KubeConfig> {
  await applyChartTemplates({
    kubeconfigFile: adminKubeconfigFile,
    namespace,
    sets: ['dashboard.enabled=true', `dashboard.namespaces={${namespace}}`],
    templates: ['dashboard.yaml'],
  });
  const kubeConfig = await serviceAccountKubeConfig(
    admin,
    namespace,
    'agent-launch-agent-dashboard',
    3600,
  );
  await waitUntilAllowed(kubeConfig, {
    group: 'launch-agent.dev',
    resource: 'launchjobs',
    verb: 'watch',
    namespace,
  });
  return kubeConfig;
}
