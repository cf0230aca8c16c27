// The cluster tier's view of `scripts/testenv cluster` (a real single-node cluster: kubelet on
// containerd, scheduler, controller-manager). It needs the default profile too (registry, S3).
//
// No test here skips: when the cluster profile is not up, loadClusterEnv() throws and every test
// of the file fails with "run scripts/testenv cluster up". The tier runs only through
// `pnpm test:cluster`, never as part of `pnpm test:integration`.
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { loadTestEnv, parseExports, repoRoot, type TestEnv } from '../integration/testenv.js';

export interface ClusterEnv extends TestEnv {
  clusterState: string;
  /** cluster-admin kubeconfig of the cluster profile's API server (not the default one). */
  clusterKubeconfig: string;
  node: string;
  /** The kaniko executor image built here and pushed to the open test registry. */
  kanikoImage: string;
  /** crane (images/crane), the build pods' push step, built here likewise. */
  craneImage: string;
  /** Debian's busybox (sh, grep, ...) FROM scratch, in the open registry (images/demo-base). */
  demoBaseImage: string;
  /** Host directory under which hostPath PersistentVolumes are made. */
  pvDir: string;
  kubectl: string;
}

let cached: ClusterEnv | undefined;

export function loadClusterEnv(): ClusterEnv {
  if (cached) return cached;
  const base = loadTestEnv();
  const run = (args: string[]) =>
    execFileSync(`${repoRoot}/scripts/testenv`, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  try {
    run(['cluster', 'status']);
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    throw new Error(
      `the cluster profile is not up (scripts/testenv cluster status):\n${out}\nRun scripts/testenv up && scripts/testenv cluster up`,
      { cause: err },
    );
  }
  const env = parseExports(run(['cluster', 'env']));
  cached = {
    ...base,
    clusterState: env.TESTENV_CLUSTER_STATE!,
    clusterKubeconfig: env.TESTENV_CLUSTER_KUBECONFIG!,
    node: env.TESTENV_CLUSTER_NODE!,
    kanikoImage: env.TESTENV_CLUSTER_KANIKO_IMAGE!,
    craneImage: env.TESTENV_CLUSTER_CRANE_IMAGE!,
    demoBaseImage: env.TESTENV_CLUSTER_DEMO_BASE_IMAGE!,
    pvDir: env.TESTENV_CLUSTER_PV_DIR!,
    kubectl: env.TESTENV_KUBECTL!,
  };
  return cached;
}

export function clusterKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(loadClusterEnv().clusterKubeconfig);
  return kc;
}

/** A namespace with its `default` ServiceAccount (made by the controller-manager, waited for). */
export async function createNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The digest the registry serves for repo:tag (HEAD of the manifest). */
export async function registryDigest(
  registry: string,
  repository: string,
  tag: string,
): Promise<string | undefined> {
  const res = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.index.v1+json',
      ].join(', '),
    },
  });
  return res.ok ? (res.headers.get('docker-content-digest') ?? undefined) : undefined;
}

/** The digest in the push container's termination message (crane's `<ref>@sha256:...`). */
export function pushedDigest(message: string | undefined): string | undefined {
  return /@(sha256:[a-f0-9]{64})\s*$/.exec(message ?? '')?.[1];
}

/**
 * builder.kaniko-config for this environment, as a user would write it: hostNetwork (the
 * registries and moto listen on 127.0.0.1 of this machine, which the pod bridge cannot reach),
 * the given kaniko args (plain HTTP to the test registries) and moto's S3 for the context.
 */
export function clusterKanikoConfig(
  args: string[],
  containerEnv: k8s.V1EnvVar[] = motoS3Env(),
): Record<string, unknown> {
  return {
    spec: {
      template: {
        spec: {
          hostNetwork: true,
          containers: [{ name: 'kaniko', args, env: containerEnv }],
        },
      },
    },
  };
}

/** What kaniko needs to read an s3:// context from moto (or from another endpoint). */
export function motoS3Env(endpoint = loadClusterEnv().awsEndpoint): k8s.V1EnvVar[] {
  const env = loadClusterEnv();
  return [
    { name: 'S3_ENDPOINT', value: endpoint },
    { name: 'S3_FORCE_PATH_STYLE', value: 'true' },
    { name: 'AWS_ACCESS_KEY_ID', value: 'testing' },
    { name: 'AWS_SECRET_ACCESS_KEY', value: 'testing' },
    { name: 'AWS_REGION', value: env.awsRegion },
  ];
}

/** A kaniko builder config for this environment (as the agent would load it), as YAML text. */
export function clusterBuilderConfig(options: {
  destination: string;
  bucket: string;
  namespace: string;
  kanikoArgs: string[];
  timeoutSeconds: number;
  /** More `builder` keys, `key: value` each. */
  builderLines?: string[];
}): string {
  const env = loadClusterEnv();
  return [
    'builder:',
    '  type: kaniko',
    `  destination: ${options.destination}`,
    `  build-context-store: s3://${options.bucket}/contexts`,
    `  kaniko-image: ${env.kanikoImage}`,
    `  kaniko-push-image: ${env.craneImage}`,
    `  build-timeout-seconds: ${options.timeoutSeconds}`,
    ...(options.builderLines ?? []).map((line) => `  ${line}`),
    `  kaniko-config: ${JSON.stringify(clusterKanikoConfig(options.kanikoArgs))}`,
    `kubernetes: {namespace: ${options.namespace}, build-service-account: default}`,
    '',
  ].join('\n');
}
