// kaniko build Jobs, as our code generates them (buildKanikoJob) and follows them
// (followBuildJob), run for real on the cluster profile's node: the kubelet pulls the kaniko
// executor built here from the test registry, kaniko fetches the context from moto's S3 or from
// a hostPath PersistentVolume, builds, pushes to the test registry and writes the digest to the
// termination message.
//
// The build pods run with hostNetwork (through builder.kaniko-config, as a user would set it):
// the registry and moto listen on 127.0.0.1 of this machine, which a pod on the bridge network
// cannot reach (there is no kube-proxy and nothing listens on the bridge).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { parseContextStore, parseDestination, type ContextStore } from '@launch-agent/config';
import {
  followBuildJob,
  kanikoContainerStatus,
  pushContainerStatus,
} from '../../packages/runtime/src/builders/kaniko/job-watch.js';
import { buildKanikoJob } from '../../packages/runtime/src/builders/kaniko/kaniko-job-spec.js';
import { uniqueName } from '../integration/testenv.js';
import {
  clusterKanikoConfig,
  clusterKubeConfig,
  createNamespace,
  loadClusterEnv,
  motoS3Env,
  pushedDigest,
  registryDigest,
  type ClusterEnv,
} from './cluster-env.js';

/** Pulls, unpacking on the native snapshotter and the build itself, on 2 shared cores. */
const TIMEOUT = 300_000;

let env: ClusterEnv;
let kc: k8s.KubeConfig;
let batch: k8s.BatchV1Api;
let core: k8s.CoreV1Api;
let namespace: string;
let s3: S3Client;
const bucket = uniqueName('kaniko-ctx');

beforeAll(async () => {
  env = loadClusterEnv();
  kc = clusterKubeConfig();
  batch = kc.makeApiClient(k8s.BatchV1Api);
  core = kc.makeApiClient(k8s.CoreV1Api);
  namespace = uniqueName('kaniko');
  await createNamespace(kc, namespace);
  s3 = new S3Client({ forcePathStyle: true, endpoint: env.awsEndpoint, region: env.awsRegion });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

/** A build context as tar.gz: the files given, packed with tar. */
function contextTarGz(files: Record<string, string>): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaniko-ctx-'));
  try {
    for (const [name, content] of Object.entries(files))
      writeFileSync(path.join(dir, name), content);
    execFileSync('tar', [
      '-czf',
      path.join(dir, '..', `${path.basename(dir)}.tgz`),
      '-C',
      dir,
      '.',
    ]);
    const out = readFileSync(path.join(dir, '..', `${path.basename(dir)}.tgz`));
    rmSync(path.join(dir, '..', `${path.basename(dir)}.tgz`));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a user of this environment puts in builder.kaniko-config. */
function kanikoConfig(extraEnv: k8s.V1EnvVar[] = []): Record<string, unknown> {
  return clusterKanikoConfig(['--insecure', `--insecure-registry=${env.registry}`], extraEnv);
}

const s3Env = motoS3Env;

interface RunInput {
  name: string;
  store: ContextStore;
  contextUri: string;
  contextKey: string;
  repository: string;
  tag: string;
  config: Record<string, unknown>;
  timeoutSeconds?: number;
}

async function runBuildJob(input: RunInput) {
  const destination = parseDestination(`${env.registry}/${input.repository}`).value!;
  const spec = buildKanikoJob({
    jobName: input.name,
    namespace,
    settings: {
      kanikoImage: env.kanikoImage,
      kanikoPushImage: env.craneImage,
      kanikoConfig: input.config,
      buildTimeoutSeconds: input.timeoutSeconds ?? 300,
    },
    destination,
    store: input.store,
    imageReference: `${env.registry}/${input.repository}:${input.tag}`,
    tag: input.tag,
    sourceHash: input.tag,
    contextKey: input.contextKey,
    contextUri: input.contextUri,
    dockerfile: 'Dockerfile',
  });
  await batch.createNamespacedJob({ namespace, body: spec.job });
  const outcome = await followBuildJob({
    kubeConfig: kc,
    namespace,
    jobName: input.name,
    deadlineSeconds: spec.job.spec!.activeDeadlineSeconds!,
    graceSeconds: 30,
  });
  return { spec, outcome };
}

async function podLog(jobName: string): Promise<string> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `launch-agent.dev/build-job=${jobName}`,
  });
  const pod = pods.items[0];
  if (!pod) return '';
  return core.readNamespacedPodLog({ namespace, name: pod.metadata!.name!, container: 'kaniko' });
}

/** Deletes the Job with its pods (foreground) and waits until no pod of it is left. */
async function deleteJob(name: string): Promise<void> {
  await batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Foreground' });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `launch-agent.dev/build-job=${name}`,
    });
    const jobs = await batch.listNamespacedJob({ namespace });
    if (pods.items.length === 0 && !jobs.items.some((j) => j.metadata?.name === name)) return;
    if (Date.now() > deadline) throw new Error(`Job ${name} or its pods were not removed in 60 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const DOCKERFILE = 'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL dev.launch-agent.test=cluster\n';

test(
  'a kaniko Job builds from an S3 context and pushes; the digest is the registry’s',
  async () => {
    const name = uniqueName('kaniko-s3');
    const key = `${name}.tar.gz`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: contextTarGz({ Dockerfile: DOCKERFILE, 'hello.txt': `hello from ${name}\n` }),
      }),
    );
    const store = parseContextStore(`s3://${bucket}`).value!;
    const repository = `cluster-test/${name}`;
    const { outcome } = await runBuildJob({
      name,
      store,
      contextUri: `s3://${bucket}/${key}`,
      contextKey: key,
      repository,
      tag: 'v1',
      config: kanikoConfig(s3Env()),
    });
    if (outcome.status !== 'succeeded') {
      throw new Error(`build failed: ${JSON.stringify(outcome)}\n${await podLog(name)}`);
    }
    const digest = pushedDigest(pushContainerStatus(outcome.pod)?.state?.terminated?.message);
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await registryDigest(env.registry, repository, 'v1')).toBe(digest);
    // kaniko built without pushing; the push step pushed.
    expect(await podLog(name)).toContain(
      'Skipping push to container registry due to --no-push flag',
    );
    await deleteJob(name);
  },
  TIMEOUT,
);

test(
  'a kaniko Job builds from a PersistentVolumeClaim (hostPath PV)',
  async () => {
    const name = uniqueName('kaniko-pvc');
    const dir = path.join(env.pvDir, name);
    mkdirSync(dir, { recursive: true });
    const key = `${name}.tar.gz`;
    writeFileSync(
      path.join(dir, key),
      contextTarGz({ Dockerfile: DOCKERFILE, 'hello.txt': `hello from ${name}\n` }),
    );
    await core.createPersistentVolume({
      body: {
        metadata: { name },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce', 'ReadOnlyMany'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: 'testenv-hostpath',
          hostPath: { path: dir, type: 'Directory' },
          claimRef: { namespace, name },
        },
      },
    });
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'testenv-hostpath',
          volumeName: name,
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const store = parseContextStore(`pvc://${name}`).value!;
    const repository = `cluster-test/${name}`;
    const { outcome } = await runBuildJob({
      name,
      store,
      contextUri: `tar:///context/${key}`,
      contextKey: key,
      repository,
      tag: 'v1',
      config: kanikoConfig(),
    });
    if (outcome.status !== 'succeeded') {
      throw new Error(`build failed: ${JSON.stringify(outcome)}\n${await podLog(name)}`);
    }
    const digest = pushedDigest(pushContainerStatus(outcome.pod)?.state?.terminated?.message);
    expect(await registryDigest(env.registry, repository, 'v1')).toBe(digest);
    await deleteJob(name);
    await core.deleteNamespacedPersistentVolumeClaim({ namespace, name });
    await core.deletePersistentVolume({ name });
    rmSync(dir, { recursive: true, force: true });
  },
  TIMEOUT,
);

test(
  'a failing Dockerfile fails the Job; the termination message carries the log tail',
  async () => {
    const name = uniqueName('kaniko-fail');
    const key = `${name}.tar.gz`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: contextTarGz({ Dockerfile: 'FROM scratch\nCOPY missing.txt /missing.txt\n' }),
      }),
    );
    const { outcome } = await runBuildJob({
      name,
      store: parseContextStore(`s3://${bucket}`).value!,
      contextUri: `s3://${bucket}/${key}`,
      contextKey: key,
      repository: `cluster-test/${name}`,
      tag: 'v1',
      config: kanikoConfig(s3Env()),
    });
    expect(outcome.status).toBe('failed');
    const terminated = kanikoContainerStatus(outcome.pod)?.state?.terminated;
    expect(terminated?.exitCode).not.toBe(0);
    expect(terminated?.message ?? '').toContain('missing.txt');
    expect(await registryDigest(env.registry, `cluster-test/${name}`, 'v1')).toBeUndefined();
    await deleteJob(name);
  },
  TIMEOUT,
);

test(
  'activeDeadlineSeconds expiry surfaces as DeadlineExceeded',
  async () => {
    // An "S3 endpoint" that accepts connections and never answers: kaniko waits on it until the
    // job controller ends the Job at its deadline.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const name = uniqueName('kaniko-deadline');
    try {
      const { outcome } = await runBuildJob({
        name,
        store: parseContextStore(`s3://${bucket}`).value!,
        contextUri: `s3://${bucket}/never.tar.gz`,
        contextKey: 'never.tar.gz',
        repository: `cluster-test/${name}`,
        tag: 'v1',
        config: kanikoConfig(s3Env(`http://127.0.0.1:${port}`)),
        timeoutSeconds: 8,
      });
      expect(outcome.status).toBe('failed');
      expect(outcome.status === 'failed' && outcome.reason).toBe('DeadlineExceeded');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
    await deleteJob(name);
  },
  TIMEOUT,
);
