// Leftovers of kaniko builds interrupted by an agent crash: Jobs labelled as ours, their
// per-build push credential Secrets and uploaded contexts are removed at start once older than the threshold,
// with a token for a ServiceAccount bound to the chart's Role; younger Jobs and Jobs that are
// not ours are left alone. The real API server sets creationTimestamp, so "older" is shown by
// moving the cleaner's clock forward.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanUpKanikoLeftovers } from '../../packages/runtime/src/builders/kaniko/leftovers.js';
import { S3ContextStore } from '../../packages/runtime/src/storage/s3-context-store.js';
import {
  repoRoot,
  requireServices,
  serviceAccountKubeConfig,
  uniqueName,
  waitUntilAllowed,
} from './testenv.js';

const ns = uniqueName('kaniko-left');
const bucket = uniqueName('kaniko-left');
let admin: k8s.KubeConfig;
let agent: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let s3: S3Client;

function chartRoleRules(): k8s.V1PolicyRule[] {
  const text = readFileSync(join(repoRoot, 'charts/launch-agent/templates/rbac.yaml'), 'utf8');
  const rules = /^rules:\n([\s\S]*?)\n---/m.exec(text);
  if (!rules) throw new Error('no rules block in the chart Role');
  return k8s.loadYaml<k8s.V1PolicyRule[]>(rules[1]!.replace(/^ {2}/gm, ''));
}

beforeAll(async () => {
  const env = await requireServices('kubernetes', 'aws');
  admin = new k8s.KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  core = admin.makeApiClient(k8s.CoreV1Api);
  batch = admin.makeApiClient(k8s.BatchV1Api);
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({
    namespace: ns,
    body: { metadata: { name: 'launch-agent' } },
  });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: { metadata: { name: 'launch-agent' }, rules: chartRoleRules() },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'launch-agent' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'launch-agent' },
      subjects: [{ kind: 'ServiceAccount', name: 'launch-agent', namespace: ns }],
    },
  });
  agent = await serviceAccountKubeConfig(admin, ns, 'launch-agent', 600);
  await waitUntilAllowed(agent, {
    namespace: ns,
    group: 'batch',
    resource: 'jobs',
    verb: 'delete',
  });
  s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  s3?.destroy();
  await core?.deleteNamespace({ name: ns }).catch(() => undefined);
});

function job(name: string, labels: Record<string, string>, key?: string): k8s.V1Job {
  return {
    metadata: {
      name,
      labels,
      ...(key ? { annotations: { 'launch-agent.dev/context-key': key } } : {}),
    },
    spec: {
      template: {
        spec: { restartPolicy: 'Never', containers: [{ name: 'kaniko', image: 'x' }] },
      },
    },
  };
}

const OURS = {
  'app.kubernetes.io/managed-by': 'launch-agent',
  'app.kubernetes.io/component': 'kaniko-build',
};

test('removes our old Jobs, their push Secrets and contexts; leaves young and foreign ones', async () => {
  const store = new S3ContextStore({ bucket, prefix: 'contexts' });
  await store.put('old.tar.gz', Buffer.from('context'));
  await store.put('other.tar.gz', Buffer.from('context'));
  await batch.createNamespacedJob({ namespace: ns, body: job('build-old', OURS, 'old.tar.gz') });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'build-old-push', labels: OURS }, stringData: { a: 'b' } },
  });
  await batch.createNamespacedJob({
    namespace: ns,
    body: job('someone-elses', { app: 'x' }, 'other.tar.gz'),
  });

  // Just created: younger than the threshold, so kept.
  const young = await cleanUpKanikoLeftovers({ kubeConfig: agent, namespace: ns, store });
  expect(young).toEqual({ jobs: [], secrets: [], contexts: [], failures: [] });

  const later = Date.now() + 3 * 3600 * 1000;
  const removed = await cleanUpKanikoLeftovers({
    kubeConfig: agent,
    namespace: ns,
    store,
    olderThanSeconds: 3600,
    now: () => later,
  });
  expect(removed).toEqual({
    jobs: ['build-old'],
    secrets: ['build-old-push'],
    contexts: [`s3://${bucket}/contexts/old.tar.gz`],
    failures: [],
  });
  const jobs = await batch.listNamespacedJob({ namespace: ns });
  expect(jobs.items.map((j) => j.metadata!.name)).toEqual(['someone-elses']);
  const secrets = await core.listNamespacedSecret({
    namespace: ns,
    labelSelector: 'app.kubernetes.io/managed-by=launch-agent',
  });
  expect(secrets.items).toEqual([]);
  expect(await store.exists('old.tar.gz')).toBe(false);
  expect(await store.exists('other.tar.gz')).toBe(true);
});
