// A hostile Dockerfile on the cluster profile cannot read the push credentials. The kaniko
// builder (createKanikoBuilder, as the agent makes it) builds a context whose Dockerfile looks
// everywhere a RUN step can: the Docker config kaniko reads (/kaniko/.docker/config.json and
// $DOCKER_CONFIG), its environment and every process's, the ServiceAccount token path, the
// mounts, the push container's config directory, and `grep -r` over the whole file system for
// the registry password and its base64 `auth` string. It writes what it found into the image
// (/leak.txt) and prints it to the build log. The destination is the test environment's
// authenticating (htpasswd) registry; the build runs to Succeeded and pushes there, so the push
// credentials were real and in the pod. The test then asserts that neither the log nor the
// image holds the password or the `auth` string.
//
// Positive control: the build also gets a pull-only Docker config (pull-docker-config-secret)
// with a canary credential. The same probes must find the canary's `auth` (in the Docker config
// and through grep), which shows they would have found the push credential had it been there.
//
// Not probed here: the cloud metadata server (169.254.169.254). Nothing on this machine may send
// traffic off loopback, and the test cluster's bridge CNI does not enforce NetworkPolicy; the
// chart's policy that denies it is covered by charts/launch-agent/tests/networkpolicy_build_test.yaml.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig } from '../../packages/config/src/index.js';
import type { ProgressReporter } from '../../packages/runtime/src/builders/builder.js';
import { createKanikoBuilder } from '../../packages/runtime/src/builders/kaniko/create-kaniko-builder.js';
import { createBuildPlan } from '../../packages/runtime/src/context/build-plan.js';
import { OciRegistry } from '../../packages/runtime/src/registries/oci-registry.js';
import { RegistryCredentials } from '../../packages/runtime/src/registries/registry.js';
import { uniqueName } from '../integration/testenv.js';
import {
  clusterBuilderConfig,
  clusterKubeConfig,
  createNamespace,
  loadClusterEnv,
  type ClusterEnv,
} from './cluster-env.js';

const TIMEOUT = 420_000;
const CANARY_PASSWORD = `pull-canary-${uniqueName('pw')}`;
const CANARY_AUTH = Buffer.from(`puller:${CANARY_PASSWORD}`).toString('base64');

let env: ClusterEnv;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let namespace: string;
const bucket = uniqueName('kaniko-isolation');

/** The secrets a leak would show: the push password and the `auth` value built from it. */
function pushSecrets(): string[] {
  const auth = Buffer.from(`${env.authRegistryUser}:${env.authRegistryPassword}`).toString(
    'base64',
  );
  return [env.authRegistryPassword, auth];
}

const reversed = (text: string) => [...text].reverse().join('');

/**
 * The hostile Dockerfile. The strings grep looks for are written reversed and turned back with
 * `rev` at run time, so neither the context nor the build log's echo of the RUN line holds them.
 */
function hostileDockerfile(patterns: string[]): string {
  const probe = [
    'set +e',
    'o=/leak.txt',
    'echo "== kaniko docker config" >>$o; cat /kaniko/.docker/config.json >>$o 2>&1',
    'echo "== DOCKER_CONFIG=$DOCKER_CONFIG" >>$o; cat "$DOCKER_CONFIG/config.json" >>$o 2>&1; ls -la "$DOCKER_CONFIG" >>$o 2>&1',
    'echo "== push dir" >>$o; ls -laR /push >>$o 2>&1',
    'echo "== env" >>$o; env >>$o',
    'echo "== every process environment" >>$o; for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" <$f; done >>$o 2>&1',
    'echo "== every process command line" >>$o; for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <$f; echo; done >>$o 2>&1',
    'echo "== serviceaccount token" >>$o; cat /var/run/secrets/kubernetes.io/serviceaccount/token >>$o 2>&1; ls -laR /var/run/secrets >>$o 2>&1',
    'echo "== mounts" >>$o; cat /proc/self/mountinfo >>$o',
    ...patterns.map((p, i) => `p${i}=$(echo ${reversed(p)} | rev)`),
    'echo "== grep" >>$o',
    // Every top-level directory but the kernel's views and this probe's own output.
    `for d in /*; do case $d in /proc|/sys|/dev|/leak.txt) continue;; esac; grep -rsoF ${patterns
      .map((_, i) => `-e "$p${i}"`)
      .join(' ')} "$d" >>/leak-grep.txt; done`,
    'echo "grep matches: $(wc -l </leak-grep.txt)" >>$o; cat /leak-grep.txt >>$o; rm -f /leak-grep.txt',
    'echo "== end" >>$o',
    'cat $o',
  ].join('; \\\n    ');
  return `FROM ${env.demoBaseImage}\nRUN ${probe}\n`;
}

beforeAll(async () => {
  env = loadClusterEnv();
  kc = clusterKubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  namespace = uniqueName('isolation');
  await createNamespace(kc, namespace);
  const s3 = new S3Client({
    forcePathStyle: true,
    endpoint: env.awsEndpoint,
    region: env.awsRegion,
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await core.createNamespacedSecret({
    namespace,
    body: dockerConfigSecret('pull-only', env.registry, 'puller', CANARY_PASSWORD),
  });
  await core.createNamespacedSecret({
    namespace,
    body: dockerConfigSecret(
      'push-credentials',
      env.authRegistry,
      env.authRegistryUser,
      env.authRegistryPassword,
    ),
  });
});

function dockerConfigSecret(name: string, host: string, user: string, password: string) {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return {
    metadata: { name },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [host]: { auth } } }) },
  };
}

function configText(repository: string, dockerConfigSecretName: string | undefined): string {
  return clusterBuilderConfig({
    destination: `${env.authRegistry}/${repository}`,
    bucket,
    namespace,
    kanikoArgs: [`--insecure-registry=${env.registry}`, `--insecure-registry=${env.authRegistry}`],
    timeoutSeconds: 360,
    builderLines: [
      'pull-docker-config-secret: pull-only',
      ...(dockerConfigSecretName ? [`docker-config-secret: ${dockerConfigSecretName}`] : []),
    ],
  });
}

/** The file at `name` in the image's last layer, read from the authenticating registry. */
async function fileInImage(repository: string, tag: string, name: string): Promise<string> {
  const authorization = `Basic ${Buffer.from(`${env.authRegistryUser}:${env.authRegistryPassword}`).toString('base64')}`;
  const base = `http://${env.authRegistry}/v2/${repository}`;
  const manifest = (await (
    await fetch(`${base}/manifests/${tag}`, {
      headers: {
        authorization,
        accept:
          'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
      },
    })
  ).json()) as { layers: Array<{ digest: string }> };
  const layer = manifest.layers.at(-1)!.digest;
  const blob = Buffer.from(
    await (await fetch(`${base}/blobs/${layer}`, { headers: { authorization } })).arrayBuffer(),
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'isolation-layer-'));
  try {
    writeFileSync(path.join(dir, 'layer.tgz'), blob);
    return execFileSync('tar', ['-xzOf', path.join(dir, 'layer.tgz'), '--wildcards', `*${name}`], {
      encoding: 'utf8',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.each([
  ['credentials the agent minted into a per-build Secret', undefined],
  ['the user’s docker-config-secret', 'push-credentials'],
])(
  'a hostile Dockerfile finds no push credential (%s); the image is pushed',
  async (_label, dockerConfigSecretName) => {
    const repository = `isolation/${uniqueName('hostile')}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-isolation-'));
    const lines: string[] = [];
    const progress = {
      phase: () => {},
      output: (text: string) => lines.push(text),
      transfer: () => {},
    } as unknown as ProgressReporter;
    try {
      writeFileSync(
        path.join(dir, 'Dockerfile'),
        hostileDockerfile([...pushSecrets(), CANARY_AUTH]),
      );
      const checked = checkConfigText(configText(repository, dockerConfigSecretName), 'k.yaml');
      expect(checked.errors).toEqual([]);
      const settings = normalizeConfig(checked.config!);
      const builder = await createKanikoBuilder({
        settings: settings.builder,
        agent: settings,
        kubeConfig: kc,
      });
      const destination = settings.builder.destination!;
      // What the agent itself holds for this registry: the source of the minted Secret.
      const registry = new OciRegistry(destination, {
        credentials: async () =>
          RegistryCredentials.password(
            env.authRegistry,
            env.authRegistryUser,
            env.authRegistryPassword,
          ),
      });
      const plan = await createBuildPlan({ contextDir: dir, cacheDir: false });
      const result = await builder.build({
        plan,
        destination,
        tag: plan.tag,
        imageReference: `${destination.reference}:${plan.tag}`,
        registry,
        progress,
      });
      expect(result.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect((await registry.exists(plan.tag)).digest).toBe(result.digest);

      const log = lines.join('');
      const leak = await fileInImage(repository, plan.tag, 'leak.txt');
      // The probes ran to the end, in the image and in the log.
      for (const text of [leak, log]) {
        expect(text).toContain('== serviceaccount token');
        expect(text).toContain('== end');
      }
      // The positive control: the probes see what the build container does hold.
      expect(leak).toContain(CANARY_AUTH);
      expect(leak).toMatch(/grep matches: [1-9]/);
      expect(leak).toMatch(/\/kaniko\/\.docker\/[^\n]*config\.json:/);
      expect(leak).toMatch(/serviceaccount\/token'?: No such file or directory/);
      // Nothing the build saw holds the push credential.
      for (const secret of pushSecrets()) {
        expect(leak).not.toContain(secret);
        expect(log).not.toContain(secret);
      }
      // The per-build Secret is gone with the build.
      const left = await core.listNamespacedSecret({ namespace });
      expect(left.items.map((s) => s.metadata!.name).sort()).toEqual([
        'pull-only',
        'push-credentials',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TIMEOUT,
);
