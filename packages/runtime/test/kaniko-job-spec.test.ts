import type * as k8s from '@kubernetes/client-node';
import { parseContextStore, parseDestination } from '@launch-agent/config';
import { KanikoConfigError, mergeArgs } from '../src/builders/kaniko/kaniko-config-overlay.js';
import {
  buildKanikoJob,
  buildSuffix,
  DEFAULT_KANIKO_IMAGE,
  kanikoJobName,
  type KanikoJobInput,
} from '../src/builders/kaniko/kaniko-job-spec.js';
import { RegistryCredentials } from '../src/registries/registry.js';

const TAG = 'abcdef0123456789abcdef0123456789';

function input(
  destination: string,
  store: string,
  extra: Partial<KanikoJobInput> = {},
  settings: Partial<KanikoJobInput['settings']> = {},
): KanikoJobInput {
  const d = parseDestination(destination).value!;
  const s = parseContextStore(store).value!;
  return {
    jobName: 'wandb-launch-container-build-0123456789',
    namespace: 'agents',
    settings: { buildTimeoutSeconds: 1800, ...settings },
    destination: d,
    store: s,
    imageReference: `${d.reference}:${TAG}`,
    tag: TAG,
    sourceHash: `${TAG}${TAG}`,
    contextKey: `${TAG}.tar.gz`,
    contextUri: 'uri-set-by-test',
    dockerfile: 'Dockerfile',
    env: {},
    ...extra,
  };
}

/** The kaniko build step: the init container named kaniko. */
function container(job: k8s.V1Job): k8s.V1Container {
  return job.spec!.template.spec!.initContainers!.find((c) => c.name === 'kaniko')!;
}
function pushContainer(job: k8s.V1Job): k8s.V1Container {
  return job.spec!.template.spec!.containers.find((c) => c.name === 'push')!;
}
function env(job: k8s.V1Job): Record<string, unknown> {
  return Object.fromEntries(
    (container(job).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]),
  );
}
function mounts(job: k8s.V1Job): Record<string, string> {
  return Object.fromEntries((container(job).volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
}

describe('kaniko job name', () => {
  test('is build-job-name plus a short hash, DNS-1123, at most 63 characters', () => {
    const suffix = buildSuffix(TAG, 'n1');
    expect(suffix).toMatch(/^[0-9a-f]{10}$/);
    expect(buildSuffix(TAG, 'n2')).not.toBe(suffix);
    expect(kanikoJobName('wandb-launch-container-build', suffix)).toBe(
      `wandb-launch-container-build-${suffix}`,
    );
    const long = kanikoJobName(`My_Build.Job-${'x'.repeat(80)}`, suffix);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(long.endsWith(`-${suffix}`)).toBe(true);
    expect(kanikoJobName('---', suffix)).toBe(`kaniko-build-${suffix}`);
  });
});

describe('kaniko Job spec defaults', () => {
  const { job, secrets } = buildKanikoJob(
    input('123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app', 's3://ctx-bucket/builds', {
      contextUri: `s3://ctx-bucket/builds/${TAG}.tar.gz`,
      serviceAccountName: 'launch-agent-build',
      pushCredentials: RegistryCredentials.password(
        '123456789012.dkr.ecr.us-west-2.amazonaws.com',
        'AWS',
        'minted-token',
      ),
      buildArgs: { PIP_INDEX: 'https://pypi.example/simple' },
      target: 'runtime',
      platform: 'linux/arm64',
    }),
  );

  test('follows the reference: Never, backoffLimit 0, deadline, its kaniko args', () => {
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1800 });
    expect(job.spec!.template.spec!.restartPolicy).toBe('Never');
    expect(container(job).args).toEqual([
      `--context=s3://ctx-bucket/builds/${TAG}.tar.gz`,
      '--dockerfile=Dockerfile',
      `--destination=123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:${TAG}`,
      '--no-push',
      '--tar-path=/image/image.tar',
      '--cache=false',
      '--no-push-cache',
      '--snapshot-mode=redo',
      '--compressed-caching=false',
      '--digest-file=/dev/termination-log',
      '--build-arg=PIP_INDEX=https://pypi.example/simple',
      '--target=runtime',
      '--custom-platform=linux/arm64',
    ]);
  });

  test('pins the fork by tag, runs without an API token under the build ServiceAccount', () => {
    expect(container(job).image).toBe(DEFAULT_KANIKO_IMAGE);
    expect(DEFAULT_KANIKO_IMAGE).toMatch(/^ghcr\.io\/osscontainertools\/kaniko:v\d+\.\d+\.\d+$/);
    const pod = job.spec!.template.spec!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('launch-agent-build');
    expect(container(job).resources?.requests).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(container(job).securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      runAsUser: 0,
    });
    expect(container(job).terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  test('labels the Job, the pod and the push Secret as ours, with the build id', () => {
    const ours = {
      'app.kubernetes.io/managed-by': 'launch-agent',
      'launch-agent.dev/build-id': TAG,
      'launch-agent.dev/build-job': 'wandb-launch-container-build-0123456789',
    };
    expect(job.metadata!.labels).toMatchObject(ours);
    expect(job.spec!.template.metadata!.labels).toMatchObject(ours);
    expect(secrets[0]!.metadata!.labels).toMatchObject(ours);
    expect(job.metadata!.namespace).toBe('agents');
    expect(secrets[0]!.metadata!.namespace).toBe('agents');
    expect(job.metadata!.annotations!['launch-agent.dev/context-key']).toBe(`${TAG}.tar.gz`);
  });
});

// Per cloud: what the build container gets. Only what reading the context needs: push
// credentials go to the push container (kaniko-build-isolation.test.ts).
const clouds: Array<{
  name: string;
  destination: string;
  store: string;
  settings?: Partial<KanikoJobInput['settings']>;
  env: Record<string, unknown>;
  mounts: Record<string, string>;
  podLabels?: Record<string, string>;
  volumes: Record<string, unknown>;
  cacheRepo: string;
}> = [
  {
    name: 'ECR + S3 with IRSA',
    destination: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app',
    store: 's3://bucket/p',
    env: { AWS_REGION: 'eu-west-1' },
    mounts: { image: '/image' },
    volumes: { image: { emptyDir: {} } },
    cacheRepo: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app',
  },
  {
    name: 'Artifact Registry + GCS with Workload Identity',
    destination: 'us-central1-docker.pkg.dev/proj/repo/img',
    store: 'gs://bucket/ctx',
    env: {},
    mounts: { image: '/image' },
    volumes: { image: { emptyDir: {} } },
    cacheRepo: 'us-central1-docker.pkg.dev/proj/repo/img/cache',
  },
  {
    name: 'Artifact Registry + GCS with a key file Secret',
    destination: 'us-central1-docker.pkg.dev/proj/repo/img',
    store: 'gs://bucket/ctx',
    settings: { credentialsSecret: { name: 'gcp-key', key: 'key.json' } },
    env: { GOOGLE_APPLICATION_CREDENTIALS: '/kaniko/secrets/key.json' },
    mounts: { 'cloud-credentials': '/kaniko/secrets', image: '/image' },
    volumes: { 'cloud-credentials': { secret: { secretName: 'gcp-key' } } },
    cacheRepo: 'us-central1-docker.pkg.dev/proj/repo/img/cache',
  },
  {
    name: 'ACR + Azure Blob with a storage key Secret',
    destination: 'myregistry.azurecr.io/team/app',
    store: 'https://acct.blob.core.windows.net/contexts/builds',
    settings: { azureStorageSecret: { name: 'azure-storage', key: 'AZURE_STORAGE_ACCESS_KEY' } },
    env: {
      AZURE_STORAGE_ACCESS_KEY: {
        secretKeyRef: { name: 'azure-storage', key: 'AZURE_STORAGE_ACCESS_KEY' },
      },
    },
    mounts: { image: '/image' },
    volumes: { image: { emptyDir: {} } },
    cacheRepo: 'myregistry.azurecr.io/team/app/cache',
  },
  {
    name: 'ACR + Azure Blob with Workload Identity',
    destination: 'myregistry.azurecr.io/team/app',
    store: 'https://acct.blob.core.windows.net/contexts/builds',
    env: {},
    mounts: { image: '/image' },
    podLabels: { 'azure.workload.identity/use': 'true' },
    volumes: { image: { emptyDir: {} } },
    cacheRepo: 'myregistry.azurecr.io/team/app/cache',
  },
  {
    name: 'any registry + PVC context with a pull-only dockerconfigjson Secret (CoreWeave)',
    destination: 'registry.example.com:5000/team/app',
    store: 'pvc://contexts/builds',
    settings: { dockerConfigSecret: 'regcred', pullDockerConfigSecret: 'pullcred' },
    env: {},
    mounts: {
      'build-docker-config': '/kaniko/.docker',
      'build-context': '/context',
      image: '/image',
    },
    volumes: {
      'build-docker-config': {
        secret: {
          secretName: 'pullcred',
          items: [{ key: '.dockerconfigjson', path: 'config.json' }],
        },
      },
      'build-context': { persistentVolumeClaim: { claimName: 'contexts', readOnly: true } },
    },
    cacheRepo: 'registry.example.com:5000/team/app/cache',
  },
];

describe.each(clouds)('kaniko Job for $name', (cloud) => {
  const { job } = buildKanikoJob(
    input(cloud.destination, cloud.store, { jobName: 'j' }, cloud.settings ?? {}),
  );

  test('env, mounts, volumes of the build container', () => {
    expect(env(job)).toEqual(cloud.env);
    expect(mounts(job)).toEqual(cloud.mounts);
    const volumes = Object.fromEntries(
      job.spec!.template.spec!.volumes!.map(({ name, ...rest }) => [name, rest]),
    );
    expect(volumes).toMatchObject(cloud.volumes);
  });

  test('pod labels; the registry cache only when kaniko-cache is on', () => {
    const labels = job.spec!.template.metadata!.labels!;
    for (const [k, v] of Object.entries(cloud.podLabels ?? {})) expect(labels[k]).toBe(v);
    if (!cloud.podLabels) expect(labels['azure.workload.identity/use']).toBeUndefined();
    expect(container(job).args).toContain('--cache=false');
    const cached = buildKanikoJob(
      input(
        cloud.destination,
        cloud.store,
        { jobName: 'j' },
        { ...cloud.settings, kanikoCache: true },
      ),
    ).job;
    expect(container(cached).args).toContain(`--cache-repo=${cloud.cacheRepo}`);
    expect(container(cached).args).toContain('--cache=true');
  });
});

describe('kaniko-config overlay (laid over the kaniko build container)', () => {
  const withConfig = (kanikoConfig: unknown): k8s.V1Job =>
    buildKanikoJob(
      input(
        'registry.example.com/team/app',
        's3://ctx-bucket',
        { contextUri: 's3://ctx-bucket/x.tar.gz' },
        { kanikoConfig: kanikoConfig as Record<string, unknown> },
      ),
    ).job;
  const base = withConfig(undefined);

  test('container args merge by flag name: a flag replaces the default in place', () => {
    const job = withConfig({
      spec: {
        template: {
          spec: { containers: [{ args: ['--snapshot-mode=full', '--verbosity=debug'] }] },
        },
      },
    });
    const args = container(job).args!;
    const at = container(base).args!.indexOf('--snapshot-mode=redo');
    expect(args[at]).toBe('--snapshot-mode=full');
    expect(args.filter((a) => a.startsWith('--snapshot-mode='))).toEqual(['--snapshot-mode=full']);
    expect(args.at(-1)).toBe('--verbosity=debug');
    expect(args.length).toBe(container(base).args!.length + 1);
    // The push step is not the overlay's container.
    expect(pushContainer(job).args).toEqual(pushContainer(base).args);
  });

  test('repeatable flags are added, not replaced', () => {
    expect(mergeArgs(['--build-arg=A=1'], ['--build-arg=B=2', '--build-arg=A=1'], 'args')).toEqual([
      '--build-arg=A=1',
      '--build-arg=B=2',
    ]);
  });

  test('lists are appended, user scalars win, our names and labels stay', () => {
    const job = withConfig({
      metadata: { name: 'hijack', labels: { team: 'ml', 'app.kubernetes.io/managed-by': 'x' } },
      spec: {
        activeDeadlineSeconds: 600,
        template: {
          metadata: { labels: { extra: 'yes' } },
          spec: {
            nodeSelector: { pool: 'builds' },
            volumes: [{ name: 'cache', emptyDir: {} }],
            initContainers: [{ name: 'prepare', image: 'busybox' }],
            containers: [
              {
                name: 'renamed',
                image: 'registry.example.com/kaniko@sha256:' + 'a'.repeat(64),
                env: [{ name: 'MY_ENV_VAR', value: 'v' }],
                volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
                resources: { requests: { memory: '8Gi' } },
              },
            ],
          },
        },
      },
    });
    expect(job.metadata!.name).toBe(base.metadata!.name);
    expect(job.metadata!.labels).toMatchObject({
      team: 'ml',
      'app.kubernetes.io/managed-by': 'launch-agent',
    });
    expect(job.spec!.template.metadata!.labels!.extra).toBe('yes');
    expect(job.spec!.activeDeadlineSeconds).toBe(600);
    expect(job.spec!.backoffLimit).toBe(0);
    // The user's init containers run before the build; the push step stays the one container.
    expect(job.spec!.template.spec!.initContainers!.map((c) => c.name)).toEqual([
      'prepare',
      'kaniko',
    ]);
    expect(job.spec!.template.spec!.containers.map((c) => c.name)).toEqual(['push']);
    const c = container(job);
    expect(c.image).toContain('@sha256:');
    expect(c.env!.map((e) => e.name)).toEqual([
      ...(container(base).env ?? []).map((e) => e.name),
      'MY_ENV_VAR',
    ]);
    expect(c.volumeMounts!.at(-1)).toEqual({ name: 'cache', mountPath: '/cache' });
    expect(c.resources!.requests).toEqual({ cpu: '500m', memory: '8Gi' });
    expect(job.spec!.template.spec!.volumes!.at(-1)).toEqual({ name: 'cache', emptyDir: {} });
    expect(job.spec!.template.spec!.nodeSelector).toEqual({ pool: 'builds' });
  });

  test('kaniko-image sets the build container image', () => {
    const { job } = buildKanikoJob(
      input(
        'registry.example.com/team/app',
        's3://ctx-bucket',
        {},
        {
          kanikoImage: 'example.com/kaniko:v9',
        },
      ),
    );
    expect(container(job).image).toBe('example.com/kaniko:v9');
  });

  test.each([
    [[], 'exactly one container'],
    [[{}, {}], 'exactly one container'],
  ])('rejects containers %j', (containers, message) => {
    expect(() => withConfig({ spec: { template: { spec: { containers } } } })).toThrow(message);
  });

  test('rejects args that are not flags, and shape mismatches, with the key path', () => {
    expect(() =>
      withConfig({
        spec: { template: { spec: { containers: [{ args: ['cache=false'] }] } } },
      }),
    ).toThrow('builder.kaniko-config.spec.template.spec.containers[0].args[0]');
    expect(() => withConfig({ spec: { template: { spec: { volumes: 'x' } } } })).toThrow(
      KanikoConfigError,
    );
    expect(() => withConfig('nope')).toThrow('partial batch/v1 Job');
  });
});

describe('kaniko Job for an S3-compatible store', () => {
  it('passes the endpoint and the addressing style to kaniko (S3_ENDPOINT, S3_FORCE_PATH_STYLE)', () => {
    const { job } = buildKanikoJob(
      input(
        'registry.example.com/ml/launch',
        's3://contexts/launch',
        {},
        {
          s3: { endpoint: 'https://cwobject.com', addressingStyle: 'virtual' },
        },
      ),
    );
    expect(env(job)).toMatchObject({
      S3_ENDPOINT: 'https://cwobject.com',
      S3_FORCE_PATH_STYLE: 'false',
    });
  });

  it('takes an endpoint from the agent environment, path style by default', () => {
    const { job } = buildKanikoJob(
      input('registry.example.com/ml/launch', 's3://contexts/launch', {
        env: { AWS_ENDPOINT_URL_S3: 'http://minio.storage:9000' },
      }),
    );
    expect(env(job)).toMatchObject({
      S3_ENDPOINT: 'http://minio.storage:9000',
      S3_FORCE_PATH_STYLE: 'true',
    });
  });

  it('adds nothing for Amazon S3 itself', () => {
    const { job } = buildKanikoJob(input('registry.example.com/ml/launch', 's3://contexts/launch'));
    expect(env(job)).not.toHaveProperty('S3_ENDPOINT');
    expect(env(job)).not.toHaveProperty('S3_FORCE_PATH_STYLE');
  });
});
