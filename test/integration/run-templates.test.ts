// A queue's run template on the real API server: the LaunchJob (with spec.run.priorityClassName)
// is accepted by the chart's CRD, the run Job runJobSpec makes from the template is accepted by
// the API server's validation, a Job labelled for Kueue stays suspended until something
// unsuspends it (here the test, playing Kueue's admission), and then runs to Succeeded through
// the Job controller stand-in. Priority admission resolves the template's PriorityClass.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  SchedulingV1Api,
} from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig } from '@launch-agent/config';
import {
  LAUNCHJOB_GROUP,
  LAUNCHJOB_PLURAL,
  LAUNCHJOB_VERSION,
  type LaunchJob,
} from '@launch-agent/runtime';
import {
  runJobSpec,
  runJobWaiting,
  runTemplateForQueue,
} from '../../packages/runtime/src/agent/run-job-spec.js';
import { applyLaunchJobCrd, waitFor } from './agent-harness.js';
import { playRunJobController } from './run-job-controller.js';
import { repoRoot, requireServices, uniqueName } from './testenv.js';

const templateFile = join(repoRoot, 'test', 'fixtures', 'run-templates', 'gpu-queue.yaml');

function agentConfigWithTemplate(): string {
  const template = readFileSync(templateFile, 'utf8')
    .split('\n')
    .map((line) => (line ? `    ${line}` : line))
    .join('\n');
  return `queues: [gpu]\nentity: ml-platform\nrun-templates:\n  gpu:\n${template}\n`;
}

describe('run templates on the API server', () => {
  let admin: KubeConfig;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  const namespace = uniqueName('run-templates');
  const priorityClass = uniqueName('high');

  beforeAll(async () => {
    const env = await requireServices('kubernetes');
    admin = new KubeConfig();
    admin.loadFromFile(env.kubeconfig);
    batch = admin.makeApiClient(BatchV1Api);
    core = admin.makeApiClient(CoreV1Api);
    await applyLaunchJobCrd(admin);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'trainer' } },
    });
    await admin.makeApiClient(SchedulingV1Api).createPriorityClass({
      body: { metadata: { name: priorityClass }, value: 100000 },
    });
  });

  afterAll(async () => {
    await admin.makeApiClient(SchedulingV1Api).deletePriorityClass({ name: priorityClass });
    await core.deleteNamespace({ name: namespace });
  });

  it('creates a Kueue-labelled run Job suspended; it runs to Succeeded once unsuspended', async () => {
    const checked = checkConfigText(agentConfigWithTemplate(), 'launch-config.yaml');
    expect(checked.errors).toEqual([]);
    const settings = normalizeConfig(checked.config!);
    // The template names the fixture's class; this run's class has a unique name.
    (
      settings.runTemplates.gpu!.spec as { template: { spec: Record<string, unknown> } }
    ).template.spec.priorityClassName = priorityClass;

    const launchJob = (await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: LAUNCHJOB_GROUP,
      version: LAUNCHJOB_VERSION,
      plural: LAUNCHJOB_PLURAL,
      namespace,
      body: {
        apiVersion: `${LAUNCHJOB_GROUP}/${LAUNCHJOB_VERSION}`,
        kind: 'LaunchJob',
        metadata: { name: 'train-1', labels: { 'launch-agent.dev/project': 'llm-eval' } },
        spec: {
          queue: 'gpu',
          source: { image: 'registry.local/ml/launch:abc123' },
          run: { args: ['--epochs=1'], priorityClassName: 'batch-low' },
        },
      },
    })) as LaunchJob;
    expect(launchJob.spec.run?.priorityClassName).toBe('batch-low');

    const body = runJobSpec(launchJob, {
      image: launchJob.spec.source.image!,
      agentName: 'agent-0',
      template: runTemplateForQueue(settings, launchJob.spec.queue),
    });
    const created = await batch.createNamespacedJob({ namespace, body });
    const name = created.metadata!.name!;
    expect(created.spec!.suspend).toBe(true);
    expect(created.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('team-a');
    // The run Job is made in its LaunchJob's namespace, owned by it.
    expect(created.metadata!.namespace).toBe(namespace);
    expect(created.metadata!.ownerReferences![0]!.uid).toBe(launchJob.metadata.uid);
    expect(runJobWaiting(created)?.reason).toBe('Suspended');

    const controller = playRunJobController({ batch, core, namespace, name });
    try {
      // The controller has looked at the suspended Job many times and started nothing.
      await waitFor(
        'the controller to see the suspended Job',
        async () => controller.suspendedRounds(),
        (n) => n >= 20,
      );
      const pods = await core.listNamespacedPod({ namespace });
      expect(pods.items).toEqual([]);
      const still = await batch.readNamespacedJob({ name, namespace });
      expect(still.spec!.suspend).toBe(true);
      expect(still.status?.startTime).toBeUndefined();

      // Kueue's admission: unsuspend.
      await batch.patchNamespacedJob({
        name,
        namespace,
        body: [{ op: 'replace', path: '/spec/suspend', value: false }],
      });
      const pod = await controller.done;
      expect(pod.status!.phase).toBe('Succeeded');
      expect(pod.spec!.priorityClassName).toBe(priorityClass);
      expect(pod.spec!.priority).toBe(100000);
      expect(pod.spec!.serviceAccountName).toBe('trainer');
      // The template names the account the pod runs as: its token is mounted as that account's.
      expect(pod.spec!.automountServiceAccountToken).toBeUndefined();
      expect(pod.spec!.containers[0]!.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
      });
      expect(pod.spec!.containers[0]!.args).toEqual(['--epochs=1']);
      expect(pod.spec!.containers[0]!.volumeMounts).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'dshm', mountPath: '/dev/shm' })]),
      );
      const finished = await batch.readNamespacedJob({ name, namespace });
      expect(finished.status!.conditions!.find((c) => c.type === 'Complete')?.status).toBe('True');
      expect(runJobWaiting(finished)).toBeUndefined();
    } finally {
      controller.stop();
    }
  });
});
