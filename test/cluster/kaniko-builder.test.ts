// The kaniko builder (createKanikoBuilder, as the agent makes it from a config) on the cluster
// profile, with nothing played by the test: it packs and uploads the context to moto's S3, creates
// the Job, the scheduler places the pod, the kubelet pulls the kaniko executor built here, kaniko
// fetches the context from S3, builds and pushes to the test registry, the Job controller
// completes the Job, and the builder returns the digest from the termination message. Afterwards
// the Job, its pods, ConfigMaps and the uploaded context are gone.
//
// builder.kaniko-config gives the build pod hostNetwork (the registry and moto listen on
// 127.0.0.1 only), kaniko's plain-HTTP flags and the S3 endpoint; see docs/testing.md.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig } from '../../packages/config/src/index.js';
import { createBuildPlan } from '../../packages/runtime/src/context/build-plan.js';
import {
  BuildFailedError,
  type ProgressReporter,
} from '../../packages/runtime/src/builders/builder.js';
import { createKanikoBuilder } from '../../packages/runtime/src/builders/kaniko/create-kaniko-builder.js';
import type { Registry } from '../../packages/runtime/src/registries/registry.js';
import { uniqueName } from '../integration/testenv.js';
import {
  clusterBuilderConfig,
  clusterKubeConfig,
  createNamespace,
  loadClusterEnv,
  registryDigest,
  type ClusterEnv,
} from './cluster-env.js';

const TIMEOUT = 300_000;

let env: ClusterEnv;
let kc: k8s.KubeConfig;
let namespace: string;
let s3: S3Client;
const bucket = uniqueName('kaniko-builder');

beforeAll(async () => {
  env = loadClusterEnv();
  kc = clusterKubeConfig();
  namespace = uniqueName('builder');
  await createNamespace(kc, namespace);
  s3 = new S3Client({ forcePathStyle: true, endpoint: env.awsEndpoint, region: env.awsRegion });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

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

/** An open registry: no push credentials; the digest comes from the push container's termination message, so it is never asked. */
const neverAsked = {
  exists: () => Promise.reject(new Error('the registry must not be asked')),
  credentials: async () => undefined,
} as unknown as Registry;

function configText(repository: string): string {
  return clusterBuilderConfig({
    destination: `${env.registry}/${repository}`,
    bucket,
    namespace,
    kanikoArgs: ['--insecure=true', `--insecure-registry=${env.registry}`],
    timeoutSeconds: 240,
  });
}

async function build(repository: string, files: Record<string, string>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-builder-'));
  try {
    for (const [name, content] of Object.entries(files))
      writeFileSync(path.join(dir, name), content);
    const checked = checkConfigText(configText(repository), 'kaniko.yaml');
    expect(checked.errors).toEqual([]);
    const settings = normalizeConfig(checked.config!);
    const builder = await createKanikoBuilder({
      settings: settings.builder,
      agent: settings,
      kubeConfig: kc,
    });
    const plan = await createBuildPlan({ contextDir: dir, cacheDir: false });
    const destination = settings.builder.destination!;
    const progress = recorder();
    const outcome = await builder
      .build({
        plan,
        destination,
        tag: plan.tag,
        imageReference: `${destination.reference}:${plan.tag}`,
        registry: neverAsked,
        progress,
      })
      .then(
        (result) => ({ result, error: undefined }),
        (error: Error) => ({ result: undefined, error }),
      );
    return { outcome, plan, progress };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Nothing the build made is left: Jobs, pods, ConfigMaps, context objects. */
async function expectNothingLeft(): Promise<void> {
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const jobs = await batch.listNamespacedJob({ namespace });
    const pods = await core.listNamespacedPod({ namespace });
    const configMaps = await core.listNamespacedConfigMap({
      namespace,
      labelSelector: 'app.kubernetes.io/managed-by=launch-agent',
    });
    if (jobs.items.length + pods.items.length + configMaps.items.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `left behind: ${[...jobs.items, ...pods.items, ...configMaps.items].map((o) => o.metadata?.name).join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const objects = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expect(objects.Contents ?? []).toEqual([]);
}

test(
  'the builder builds and pushes a real image; its digest is the registry’s; nothing is left',
  async () => {
    const repository = `cluster-builder/${uniqueName('ok')}`;
    const { outcome, plan, progress } = await build(repository, {
      Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n',
      'hello.txt': `hello ${repository}\n`,
    });
    if (outcome.error) throw outcome.error;
    expect(outcome.result!.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await registryDigest(env.registry, repository, plan.tag)).toBe(outcome.result!.digest);
    expect(progress.phases).toEqual(['upload', 'build']);
    // The build log streamed from the kubelet through the API server.
    expect(progress.lines.join('')).toContain('[kaniko] ');
    await expectNothingLeft();
  },
  TIMEOUT,
);

test(
  'a failing Dockerfile: the builder reports the Job’s failure and the log tail; nothing is left',
  async () => {
    const repository = `cluster-builder/${uniqueName('fail')}`;
    const { outcome, plan } = await build(repository, {
      Dockerfile: 'FROM scratch\nCOPY missing.txt /missing.txt\n',
    });
    expect(outcome.error).toBeInstanceOf(BuildFailedError);
    const error = outcome.error as BuildFailedError;
    expect(error.message).toMatch(/the kaniko build Job .* failed/);
    expect(error.output).toContain('missing.txt');
    expect(await registryDigest(env.registry, repository, plan.tag)).toBeUndefined();
    await expectNothingLeft();
  },
  TIMEOUT,
);
