// Smoke test: the test environment's kube-apiserver (RBAC on, ServiceAccount tokens) through
// @kubernetes/client-node, the client the runtime uses.
//
// There is no kubelet, scheduler or controller-manager. This test plays their parts, as any test
// that needs a Job to finish must: it creates the Job's pod object (job controller), sets the
// pod's phase (kubelet) and writes the Job's status (job controller). Nothing creates the
// `default` ServiceAccount of a namespace either, so the test creates it before the pod.
import * as k8s from '@kubernetes/client-node';

import { requireServices, uniqueName } from '../testenv.js';

let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let rbac: k8s.RbacAuthorizationV1Api;
const ns = uniqueName('smoke-k8s');
const otherNs = uniqueName('smoke-k8s-other');

beforeAll(async () => {
  const env = await requireServices('kubernetes');
  kc = new k8s.KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  batch = kc.makeApiClient(k8s.BatchV1Api);
  rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  for (const name of [ns, otherNs]) {
    await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedServiceAccount({
      namespace: name,
      body: { metadata: { name: 'default' } },
    });
  }
});

// Namespaces are not deleted: with no namespace controller they would stay Terminating forever.
// Every run uses fresh names; `scripts/testenv clean` wipes etcd.

function isComplete(job: k8s.V1Job): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True');
}

test('creates a Job, plays the controllers, and watches it complete', async () => {
  const name = 'hello';
  const seen: string[] = [];
  let controller: AbortController | undefined;
  let stopped = false;
  const completed = new Promise<k8s.V1Job>((resolve, reject) => {
    new k8s.Watch(kc)
      .watch(
        `/apis/batch/v1/namespaces/${ns}/jobs`,
        {},
        (type: string, job: k8s.V1Job) => {
          seen.push(type);
          if (job.metadata?.name === name && isComplete(job)) resolve(job);
        },
        (err: unknown) => {
          if (stopped) return; // our own abort() ends the watch with an AbortError
          reject(err instanceof Error ? err : new Error(`watch ended: ${String(err)}`));
        },
      )
      .then((c) => (controller = c), reject);
  });
  completed.catch(() => undefined); // awaited below; do not let an early failure go unhandled

  try {
    const job = await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'main', image: 'busybox:1.36', command: ['true'] }],
            },
          },
        },
      },
    });
    const uid = job.metadata!.uid!;
    expect(job.spec?.template.metadata?.labels?.['batch.kubernetes.io/controller-uid']).toBe(uid);

    // Job controller: create the pod, owned by the Job.
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: {
          name: `${name}-abcde`,
          labels: job.spec!.template.metadata!.labels,
          ownerReferences: [
            {
              apiVersion: 'batch/v1',
              kind: 'Job',
              name,
              uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: job.spec!.template.spec!,
      },
    });
    expect(pod.spec?.serviceAccountName).toBe('default');

    // Kubelet: the container ran and exited 0. (API times have whole seconds: a startTime with
    // milliseconds would read back different, and the Job's startTime may not change.)
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    await core.replaceNamespacedPodStatus({
      name: pod.metadata!.name!,
      namespace: ns,
      body: {
        ...pod,
        status: {
          phase: 'Succeeded',
          startTime: now,
          containerStatuses: [
            {
              name: 'main',
              image: 'busybox:1.36',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: {
                terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now },
              },
            },
          ],
        },
      },
    });

    // Job controller: record the success. The API validates the sequence (start time first,
    // then SuccessCriteriaMet and Complete with a completion time).
    const running = await batch.replaceNamespacedJobStatus({
      name,
      namespace: ns,
      body: { ...job, status: { startTime: now, active: 1 } },
    });
    await batch.replaceNamespacedJobStatus({
      name,
      namespace: ns,
      body: {
        ...running,
        status: {
          startTime: now,
          completionTime: now,
          active: 0,
          succeeded: 1,
          ready: 0,
          terminating: 0,
          uncountedTerminatedPods: {},
          conditions: [
            {
              type: 'SuccessCriteriaMet',
              status: 'True',
              reason: 'CompletionsReached',
              lastTransitionTime: now,
            },
            {
              type: 'Complete',
              status: 'True',
              reason: 'CompletionsReached',
              lastTransitionTime: now,
            },
          ],
        },
      },
    });

    const done = await completed;
    expect(done.status?.succeeded).toBe(1);
    expect(seen[0]).toBe('ADDED');
    expect(seen).toContain('MODIFIED');
  } finally {
    stopped = true;
    controller?.abort();
  }
});

test('a TokenRequest token for a ServiceAccount is held to RBAC', async () => {
  const sa = 'builder';
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'job-runner' },
      rules: [
        {
          apiGroups: ['batch'],
          resources: ['jobs'],
          verbs: ['get', 'list', 'watch', 'create', 'delete'],
        },
        { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'job-runner' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'job-runner' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    },
  });

  const tr = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: ns,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [], expirationSeconds: 600 },
    },
  });
  const token = tr.status!.token;
  expect(token.split('.')).toHaveLength(3); // a signed JWT

  const cluster = kc.getCurrentCluster()!;
  const saKc = new k8s.KubeConfig();
  saKc.loadFromOptions({
    clusters: [
      { name: 'testenv', server: cluster.server, caData: cluster.caData, skipTLSVerify: false },
    ],
    users: [{ name: sa, token }],
    contexts: [{ name: 'sa', cluster: 'testenv', user: sa, namespace: ns }],
    currentContext: 'sa',
  });

  // Who the API server thinks we are.
  const review = await saKc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:${sa}`);

  const saBatch = saKc.makeApiClient(k8s.BatchV1Api);
  const saCore = saKc.makeApiClient(k8s.CoreV1Api);

  // Allowed by the Role.
  const jobs = await saBatch.listNamespacedJob({ namespace: ns });
  expect(Array.isArray(jobs.items)).toBe(true);
  await saBatch.createNamespacedJob({
    namespace: ns,
    body: {
      metadata: { name: 'by-sa' },
      spec: {
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } },
      },
    },
  });

  // Not allowed: another resource, and the same resource in another namespace.
  const forbidden = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(403);
  };
  await forbidden(saCore.listNamespacedSecret({ namespace: ns }));
  await forbidden(saBatch.listNamespacedJob({ namespace: otherNs }));
  await forbidden(saCore.createNamespace({ body: { metadata: { name: uniqueName('nope') } } }));
});
