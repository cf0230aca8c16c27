// The kaniko builder against the test environment: a real kube-apiserver (RBAC on, but no
// kubelet, controller-manager or scheduler) and the storage emulators (moto S3, fake-gcs-server,
// Azurite, and a directory standing in for a mounted PVC).
//
// The builder acts with a TokenRequest token for a ServiceAccount bound to the chart's own Role
// (its rules are read from charts/launch-agent/templates/rbac.yaml), so the chart's RBAC is shown
// to suffice. Because nothing runs pods here, THE TEST PLAYS THE KUBELET AND JOB CONTROLLER: when
// the builder's Job appears it reads the uploaded context from the store (gunzip + untar, file
// list and bytes compared), creates the pod object the Job controller would, patches the pod's
// status with a terminated kaniko init container and a push container whose termination message
// is `<ref>@<digest>` (or an OOMKilled / Error end, or an ImagePullBackOff wait), and patches the
// Job's status with Complete or Failed conditions. The builder sees all of it through its watches
// and reports success with the digest or failure with the reason. Afterwards Jobs, Secrets and
// the context object are listed to show that everything was removed.
//
// Push credentials: for ECR the builder mints them through the real EcrRegistry against moto
// (GetAuthorizationToken); the Secret the API server stored is checked. For Artifact Registry
// and ACR the registries' token exchanges are tested against local servers with the services'
// recorded shapes in build-registry-http.test.ts; here a registry hands the builder credentials
// of the shape those exchanges return.
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigText, normalizeConfig } from '../../packages/config/src/index.js';
import { createBuildPlan, type BuildPlan } from '../../packages/runtime/src/context/build-plan.js';
import {
  BuildFailedError,
  type ProgressReporter,
} from '../../packages/runtime/src/builders/builder.js';
import { createKanikoBuilder } from '../../packages/runtime/src/builders/kaniko/create-kaniko-builder.js';
import { MANAGED_BY_LABEL } from '../../packages/runtime/src/builders/kaniko/kaniko-job-spec.js';
import { gcsClient } from '../../packages/runtime/src/storage/gcs-context-store.js';
import { playKubelet, pushAuths, registryFor, type Ending } from './kaniko-kubelet.js';
import {
  repoRoot,
  requireServices,
  serviceAccountKubeConfig,
  uniqueName,
  waitUntilAllowed,
} from './testenv.js';

const ns = uniqueName('kaniko');
const agentSa = 'launch-agent';
const buildSa = 'launch-agent-build';
const bucket = uniqueName('kaniko-s3');
const gcsBucket = uniqueName('kaniko-gcs');
const azureContainer = uniqueName('kaniko-az');
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

let admin: k8s.KubeConfig;
let agentKubeConfig: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let s3: S3Client;
let pvcDir: string;
let contextDir: string;
let plan: BuildPlan;
const roots: string[] = [];

/** The agent's Role exactly as the chart renders it: the static rules of the first Role in rbac.yaml. */
function chartRoleRules(): k8s.V1PolicyRule[] {
  const text = readFileSync(join(repoRoot, 'charts/launch-agent/templates/rbac.yaml'), 'utf8');
  const rules = /^rules:\n([\s\S]*?)\n---/m.exec(text);
  if (!rules) throw new Error('no rules block in the chart Role');
  return k8s.loadYaml<k8s.V1PolicyRule[]>(rules[1]!.replace(/^ {2}/gm, ''));
}

function tokenKubeConfig(sa = agentSa): Promise<k8s.KubeConfig> {
  return serviceAccountKubeConfig(admin, ns, sa);
}

beforeAll(async () => {
  const env = await requireServices('kubernetes', 'aws', 'gcs', 'azure');
  admin = new k8s.KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  core = admin.makeApiClient(k8s.CoreV1Api);
  batch = admin.makeApiClient(k8s.BatchV1Api);
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const name of [agentSa, buildSa, 'no-rbac']) {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  }
  await rbac.createNamespacedRole({
    namespace: ns,
    body: { metadata: { name: 'launch-agent' }, rules: chartRoleRules() },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'launch-agent' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'launch-agent' },
      subjects: [{ kind: 'ServiceAccount', name: agentSa, namespace: ns }],
    },
  });
  agentKubeConfig = await tokenKubeConfig();
  await waitUntilAllowed(agentKubeConfig, {
    namespace: ns,
    group: 'batch',
    resource: 'jobs',
    verb: 'create',
  });

  s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await gcsClient('testenv').bucket(gcsBucket).create();
  await BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!)
    .getContainerClient(azureContainer)
    .create();

  pvcDir = mkdtempSync(join(tmpdir(), 'kaniko-pvc-'));
  contextDir = mkdtempSync(join(tmpdir(), 'kaniko-ctx-'));
  roots.push(pvcDir, contextDir);
  writeFileSync(join(contextDir, 'Dockerfile'), 'FROM python:3.12-slim\nCOPY . /app\n');
  writeFileSync(join(contextDir, '.dockerignore'), '*.log\nsecrets/\n');
  writeFileSync(join(contextDir, 'app.py'), 'print("hello")\n'.repeat(5000));
  writeFileSync(join(contextDir, 'run.sh'), '#!/bin/sh\nexec python app.py\n');
  chmodSync(join(contextDir, 'run.sh'), 0o755);
  mkdirSync(join(contextDir, 'data'));
  // Incompressible bytes over several 4 MiB gzip members: the parallel compressor stores them.
  const weights = randomBytes(9 * 1024 * 1024 + 17);
  writeFileSync(join(contextDir, 'data', 'weights.bin'), weights);
  writeFileSync(join(contextDir, 'debug.log'), 'ignored\n');
  mkdirSync(join(contextDir, 'secrets'));
  writeFileSync(join(contextDir, 'secrets', 'token'), 'ignored\n');
  plan = await createBuildPlan({ contextDir, cacheDir: false, buildArgs: { MODE: 'test' } });
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
  // Without a namespace controller the namespace stays Terminating; its contents are gone.
  await core?.deleteNamespace({ name: ns }).catch(() => undefined);
});

function expectContext(files: Map<string, { mode: number; bytes: Buffer }>): void {
  expect([...files.keys()].sort()).toEqual([
    '.dockerignore',
    'Dockerfile',
    'app.py',
    'data/weights.bin',
    'run.sh',
  ]);
  for (const [name, { bytes }] of files)
    expect(bytes.equals(readFileSync(join(contextDir, name)))).toBe(true);
  expect(files.get('run.sh')!.mode & 0o111).not.toBe(0);
}

function recorder(): ProgressReporter & { phases: string[]; lines: string[] } {
  const phases: string[] = [];
  const lines: string[] = [];
  return {
    phases,
    lines,
    phase: (name: string) => phases.push(name),
    output: (text: string) => lines.push(text),
    transfer: () => {},
  } as unknown as ProgressReporter & { phases: string[]; lines: string[] };
}

interface Case {
  name: string;
  config: string;
  destination: string;
  ending: Ending;
  read: (key: string) => Promise<Buffer>;
  exists: (key: string) => Promise<boolean>;
  expectJob: (job: k8s.V1Job, secrets: k8s.V1Secret[]) => void;
  expectResult: { digest: string } | { reason: RegExp; output?: RegExp };
}

function container(job: k8s.V1Job): k8s.V1Container {
  return job.spec!.template.spec!.initContainers!.find((c) => c.name === 'kaniko')!;
}
function pushContainer(job: k8s.V1Job): k8s.V1Container {
  return job.spec!.template.spec!.containers.find((c) => c.name === 'push')!;
}
function envOf(job: k8s.V1Job) {
  return Object.fromEntries(
    (container(job).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]),
  );
}
async function s3Read(key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `contexts/${key}` }));
  return Buffer.from(await got.Body!.transformToByteArray());
}
async function s3Exists(key: string): Promise<boolean> {
  return s3Read(key).then(
    () => true,
    (e: { name?: string }) => (e.name === 'NoSuchKey' ? false : Promise.reject(e)),
  );
}
const azureBlob = (key: string) =>
  BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!)
    .getContainerClient(azureContainer)
    .getBlockBlobClient(`launch/${key}`);

const cases: Case[] = [
  {
    name: 'ECR + S3 (moto): Complete, digest from the termination message',
    config: `environment: {type: aws, region: us-west-2}\nbuilder:\n  type: kaniko\n  destination: 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app\n  build-context-store: s3://${bucket}/contexts\n  build-timeout-seconds: 900\n`,
    destination: '123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app',
    ending: { kind: 'complete' },
    read: s3Read,
    exists: s3Exists,
    expectJob: (job, secrets) => {
      expect(job.spec!.activeDeadlineSeconds).toBe(900);
      // The agent's S3 endpoint (moto, from AWS_ENDPOINT_URL) goes to kaniko too, path style.
      expect(envOf(job)).toEqual({
        AWS_REGION: 'us-west-2',
        S3_ENDPOINT: process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL,
        S3_FORCE_PATH_STYLE: 'true',
      });
      // Minted by the agent from moto's GetAuthorizationToken: `AWS:<token>`.
      const auths = pushAuths(job, secrets);
      expect(Object.keys(auths)).toEqual(['123456789012.dkr.ecr.us-west-2.amazonaws.com']);
      expect(auths['123456789012.dkr.ecr.us-west-2.amazonaws.com']).toMatch(/^AWS:.{8,}$/);
      expect(container(job).args![0]).toMatch(
        new RegExp(
          `^--context=s3://${bucket}/contexts/${plan.sourceHash}-[0-9a-f]{10}\\.tar\\.gz$`,
        ),
      );
    },
    expectResult: { digest: DIGEST },
  },
  {
    name: 'Artifact Registry + GCS (fake-gcs-server) with a key Secret: Complete, logs requested from a node that does not exist',
    config: `environment: {type: gcp, region: us-central1, project: testenv}\nbuilder:\n  type: kaniko\n  destination: us-central1-docker.pkg.dev/proj/repo/img\n  build-context-store: gs://${gcsBucket}/ctx\n  secret-name: gcp-key\n  secret-key: key.json\n`,
    destination: 'us-central1-docker.pkg.dev/proj/repo/img',
    ending: { kind: 'complete', nodeName: 'no-such-node' },
    read: async (key) =>
      (await gcsClient('testenv').bucket(gcsBucket).file(`ctx/${key}`).download())[0],
    exists: async (key) =>
      (await gcsClient('testenv').bucket(gcsBucket).file(`ctx/${key}`).exists())[0],
    expectJob: (job, secrets) => {
      expect(envOf(job)).toEqual({ GOOGLE_APPLICATION_CREDENTIALS: '/kaniko/secrets/key.json' });
      expect(pushAuths(job, secrets)).toEqual({
        'us-central1-docker.pkg.dev': 'oauth2accesstoken:ya29.access',
      });
      expect(container(job).args).toContain('--cache=false');
    },
    expectResult: { digest: DIGEST },
  },
  {
    name: 'ACR + Azure Blob (Azurite) with a storage key Secret: OOMKilled',
    config: `environment: {type: azure}\nbuilder:\n  type: kaniko\n  destination: myregistry.azurecr.io/team/app\n  build-context-store: https://mlcontexts.blob.core.windows.net/${azureContainer}/launch\n  azure-storage-secret: {name: azure-storage}\n`,
    destination: 'myregistry.azurecr.io/team/app',
    ending: { kind: 'oom' },
    read: (key) => azureBlob(key).downloadToBuffer(),
    exists: (key) => azureBlob(key).exists(),
    expectJob: (job, secrets) => {
      expect(envOf(job)).toEqual({
        AZURE_STORAGE_ACCESS_KEY: {
          secretKeyRef: { name: 'azure-storage', key: 'AZURE_STORAGE_ACCESS_KEY' },
        },
      });
      expect(pushAuths(job, secrets)).toEqual({
        'myregistry.azurecr.io': '00000000-0000-0000-0000-000000000000:acr-refresh',
      });
      expect(secrets[0]!.metadata!.namespace).toBe(ns);
      // The build's identity is not used for the push any more: no workload identity label.
      expect(job.spec!.template.metadata!.labels!['azure.workload.identity/use']).toBeUndefined();
    },
    expectResult: { reason: /failed: OOMKilled: .*exit code 137/ },
  },
  {
    name: 'any registry + PVC with a dockerconfigjson Secret: Error, the log tail from the termination message',
    config: `builder:\n  type: kaniko\n  destination: registry.example.com:5000/team/app\n  build-context-store: pvc://contexts/builds\n  docker-config-secret: regcred\n  kaniko-config:\n    spec:\n      template:\n        spec:\n          containers:\n            - args: ["--cache=false"]\n`,
    destination: 'registry.example.com:5000/team/app',
    ending: { kind: 'error' },
    read: async (key) => readFileSync(join(pvcDir, 'builds', key)),
    exists: async (key) => {
      try {
        readFileSync(join(pvcDir, 'builds', key));
        return true;
      } catch {
        return false;
      }
    },
    expectJob: (job, secrets) => {
      expect(secrets).toEqual([]);
      expect(container(job).args![0]).toMatch(
        /^--context=tar:\/\/\/context\/builds\/[0-9a-f]{64}-[0-9a-f]{10}\.tar\.gz$/,
      );
      expect(container(job).args).toContain('--cache=false');
      expect(container(job).args).not.toContain('--cache=true');
      expect(pushContainer(job).volumeMounts!.map((m) => m.name)).toContain('push-docker-config');
      expect(container(job).volumeMounts!.map((m) => m.name)).not.toContain('push-docker-config');
      expect(job.spec!.template.spec!.volumes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'push-docker-config',
            secret: expect.objectContaining({
              secretName: 'regcred',
              items: [{ key: '.dockerconfigjson', path: 'config.json' }],
            }),
          }),
          {
            name: 'build-context',
            persistentVolumeClaim: { claimName: 'contexts', readOnly: true },
          },
        ]),
      );
    },
    expectResult: {
      reason: /failed: Error: .*exit code 1/,
      output: /RUN pip install nope: exit status 1/,
    },
  },
  {
    name: 'S3: DeadlineExceeded',
    config: `builder:\n  type: kaniko\n  destination: registry.example.com/team/app\n  build-context-store: s3://${bucket}/contexts\n`,
    destination: 'registry.example.com/team/app',
    ending: { kind: 'deadline' },
    read: s3Read,
    exists: s3Exists,
    expectJob: (_job, secrets) => expect(secrets).toEqual([]),
    expectResult: {
      reason: /failed: DeadlineExceeded: Job was active longer than specified deadline/,
    },
  },
  {
    name: 'S3: ImagePullBackOff fails the build without waiting for the deadline',
    config: `builder:\n  type: kaniko\n  destination: registry.example.com/team/app\n  build-context-store: s3://${bucket}/contexts\n  kaniko-image: ghcr.io/x/kaniko:v0\n`,
    destination: 'registry.example.com/team/app',
    ending: { kind: 'image-pull' },
    read: s3Read,
    exists: s3Exists,
    expectJob: (job) => expect(container(job).image).toBe('ghcr.io/x/kaniko:v0'),
    expectResult: { reason: /failed: ImagePullBackOff: Back-off pulling image/ },
  },
];

describe.each(cases)('kaniko builder: $name', (c) => {
  test('uploads the context, creates the Job as the chart ServiceAccount, follows it, cleans up', async () => {
    const checked = checkConfigText(
      `${c.config}kubernetes: {namespace: ${ns}, build-service-account: ${buildSa}}\n`,
      'kaniko.yaml',
    );
    expect(checked.errors).toEqual([]);
    const settings = normalizeConfig(checked.config!);
    const builder = await createKanikoBuilder({
      settings: settings.builder,
      agent: settings,
      kubeConfig: agentKubeConfig,
      pvcMountPath: pvcDir,
    });
    const progress = recorder();
    const destination = settings.builder.destination!;
    expect(destination.reference).toBe(c.destination);
    const building = builder
      .build({
        plan,
        destination,
        tag: plan.tag,
        imageReference: `${destination.reference}:${plan.tag}`,
        registry: registryFor(c.destination),
        progress,
      })
      .then(
        (result) => ({ result }),
        (error: Error) => ({ error }),
      );
    const seen = await playKubelet({
      batch,
      core,
      namespace: ns,
      digest: DIGEST,
      ending: c.ending,
      readContext: c.read,
    });
    const outcome = await building;

    // What was created, as the API server stored it.
    expect(seen.job.metadata!.namespace).toBe(ns);
    expect(seen.job.metadata!.name!.length).toBeLessThanOrEqual(63);
    expect(seen.job.metadata!.name).toMatch(/^wandb-launch-container-build-[0-9a-f]{10}$/);
    expect(seen.job.metadata!.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'launch-agent',
      'launch-agent.dev/build-id': plan.tag,
    });
    expect(seen.job.spec).toMatchObject({ backoffLimit: 0 });
    expect(seen.job.spec!.template.spec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      serviceAccountName: buildSa,
    });
    expect(container(seen.job).args).toEqual(
      expect.arrayContaining([
        '--dockerfile=Dockerfile',
        `--destination=${c.destination}:${plan.tag}`,
        '--snapshot-mode=redo',
        '--compressed-caching=false',
        '--digest-file=/dev/termination-log',
        '--build-arg=MODE=test',
      ]),
    );
    c.expectJob(seen.job, seen.secrets);
    expectContext(seen.context);

    if ('digest' in c.expectResult) {
      expect(outcome).toMatchObject({ result: { digest: c.expectResult.digest } });
    } else {
      expect('error' in outcome && outcome.error).toBeInstanceOf(BuildFailedError);
      const error = (outcome as { error: BuildFailedError }).error;
      expect(error.message).toMatch(c.expectResult.reason);
      if (c.expectResult.output) expect(error.output).toMatch(c.expectResult.output);
    }
    expect(progress.phases).toEqual(['upload', 'build']);

    // Everything the build made is gone: Job, its push credential Secret, the uploaded context.
    const jobs = await batch.listNamespacedJob({
      namespace: ns,
      labelSelector: `${MANAGED_BY_LABEL}=launch-agent`,
    });
    expect(jobs.items).toEqual([]);
    const secrets = await core.listNamespacedSecret({
      namespace: ns,
      labelSelector: `${MANAGED_BY_LABEL}=launch-agent`,
    });
    expect(secrets.items).toEqual([]);
    expect(await c.exists(seen.job.metadata!.annotations!['launch-agent.dev/context-key']!)).toBe(
      false,
    );
    // No garbage collector runs here: remove the pod the test made for the Job.
    await core.deleteCollectionNamespacedPod({ namespace: ns });
  }, 60_000);
});

test('without the Role, creating the Job fails with HTTP 403 and the permission to grant; the context is removed', async () => {
  const checked = checkConfigText(
    `builder:\n  type: kaniko\n  destination: registry.example.com/team/app\n  build-context-store: s3://${bucket}/contexts\nkubernetes: {namespace: ${ns}}\n`,
    'kaniko.yaml',
  );
  const settings = normalizeConfig(checked.config!);
  const builder = await createKanikoBuilder({
    settings: settings.builder,
    agent: settings,
    kubeConfig: await tokenKubeConfig('no-rbac'),
  });
  const progress = recorder();
  const uploaded: string[] = [];
  const error = await builder
    .build({
      plan,
      destination: settings.builder.destination!,
      tag: plan.tag,
      imageReference: `${settings.builder.destination!.reference}:${plan.tag}`,
      registry: registryFor('registry.example.com/team/app'),
      progress: {
        ...progress,
        phase: (name: string, detail?: string) => {
          if (name === 'upload' && detail) uploaded.push(detail);
        },
      },
    })
    .catch((e: Error) => e);
  expect((error as Error).message).toMatch(
    /could not create the kaniko Job .* \(HTTP 403\): .*create batch\/jobs in its namespace/,
  );
  expect(uploaded).toHaveLength(1);
  const key = uploaded[0]!.slice(`s3://${bucket}/contexts/`.length);
  expect(key).toMatch(new RegExp(`^${plan.sourceHash}-[0-9a-f]{10}\\.tar\\.gz$`));
  expect(await s3Exists(key)).toBe(false);
});
