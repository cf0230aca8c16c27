// The kaniko build pod keeps a Dockerfile's RUN steps away from the push credentials: kaniko
// (an init container) builds to a tarball with nothing to push with; the push container alone
// mounts the credentials. These tests read the Job the agent would create.
import type * as k8s from '@kubernetes/client-node';
import { parseContextStore, parseDestination } from '@launch-agent/config';
import {
  buildKanikoJob,
  DEFAULT_PUSH_IMAGE,
  type KanikoJobInput,
} from '../src/builders/kaniko/kaniko-job-spec.js';
import { RegistryCredentials } from '../src/registries/registry.js';

const TAG = 'abcdef0123456789abcdef0123456789';
const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

function input(
  destination: string,
  extra: Partial<KanikoJobInput> = {},
  settings: Partial<KanikoJobInput['settings']> = {},
): KanikoJobInput {
  const d = parseDestination(destination).value!;
  return {
    jobName: 'build-0123456789',
    namespace: 'agents',
    settings: { buildTimeoutSeconds: 1800, ...settings },
    destination: d,
    store: parseContextStore('s3://ctx/builds').value!,
    imageReference: `${d.reference}:${TAG}`,
    tag: TAG,
    sourceHash: TAG,
    contextKey: `${TAG}.tar.gz`,
    contextUri: `s3://ctx/builds/${TAG}.tar.gz`,
    dockerfile: 'Dockerfile',
    env: {},
    ...extra,
  };
}

function pod(job: k8s.V1Job): k8s.V1PodSpec {
  return job.spec!.template.spec!;
}
function kaniko(job: k8s.V1Job): k8s.V1Container {
  return pod(job).initContainers!.find((c) => c.name === 'kaniko')!;
}
function push(job: k8s.V1Job): k8s.V1Container {
  return pod(job).containers.find((c) => c.name === 'push')!;
}
/** The Secrets a container can read: through its volume mounts and its env. */
function secretsSeenBy(job: k8s.V1Job, container: k8s.V1Container): string[] {
  const volumes = new Map((pod(job).volumes ?? []).map((v) => [v.name, v]));
  const fromMounts = (container.volumeMounts ?? []).flatMap((m) => {
    const secret = volumes.get(m.name)?.secret?.secretName;
    return secret ? [secret] : [];
  });
  const fromEnv = (container.env ?? []).flatMap((e) =>
    e.valueFrom?.secretKeyRef?.name ? [e.valueFrom.secretKeyRef.name] : [],
  );
  return [...fromMounts, ...fromEnv];
}

const minted = RegistryCredentials.password(ECR, 'AWS', 'minted-ecr-token');

describe('a build with credentials the agent minted (ECR)', () => {
  const { job, secrets } = buildKanikoJob(
    input(`${ECR}/team/app`, { pushCredentials: minted, serviceAccountName: 'agent-build' }),
  );

  test('kaniko builds first (init container) without pushing; the push step is the one container', () => {
    expect(pod(job).initContainers!.map((c) => c.name)).toEqual(['kaniko']);
    expect(pod(job).containers.map((c) => c.name)).toEqual(['push']);
    expect(kaniko(job).args).toEqual(
      expect.arrayContaining(['--no-push', '--tar-path=/image/image.tar', '--no-push-cache']),
    );
    expect(kaniko(job).args).not.toContain('--cache=true');
    expect(kaniko(job).args!.some((a) => a.startsWith('--cache-repo'))).toBe(false);
  });

  test('no API token in either container; no identity or Docker config for kaniko', () => {
    expect(pod(job).automountServiceAccountToken).toBe(false);
    expect(secretsSeenBy(job, kaniko(job))).toEqual([]);
    const names = (kaniko(job).env ?? []).map((e) => e.name);
    for (const forbidden of [
      'DOCKER_CONFIG',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_ROLE_ARN',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'AZURE_CLIENT_ID',
      'AZURE_FEDERATED_TOKEN_FILE',
    ]) {
      expect(names).not.toContain(forbidden);
    }
    expect((kaniko(job).volumeMounts ?? []).map((m) => m.mountPath)).toEqual(['/image']);
    // Nor the ECR helper config: the build cannot ask the pod's identity for a token either.
    expect(JSON.stringify(kaniko(job))).not.toContain('ecr-login');
  });

  test('the minted credentials go into a per-build Secret only the push container mounts', () => {
    expect(secrets).toHaveLength(1);
    const secret = secrets[0]!;
    expect(secret.metadata!.name).toBe('build-0123456789-push');
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    const config = JSON.parse(secret.stringData!['.dockerconfigjson']!);
    expect(config).toEqual({
      auths: { [ECR]: { auth: Buffer.from('AWS:minted-ecr-token').toString('base64') } },
    });
    expect(secretsSeenBy(job, push(job))).toEqual(['build-0123456789-push']);
    expect(push(job).env).toContainEqual({ name: 'DOCKER_CONFIG', value: '/push/.docker' });
    // The Secret's contents are nowhere in the Job itself.
    expect(JSON.stringify(job)).not.toContain('minted-ecr-token');
  });

  test('the push container pushes the tarball with crane and reports the digest', () => {
    expect(push(job).image).toBe(DEFAULT_PUSH_IMAGE);
    expect(DEFAULT_PUSH_IMAGE).toMatch(/^gcr\.io\/go-containerregistry\/crane:v\d+\.\d+\.\d+$/);
    expect(push(job).args).toEqual([
      'push',
      '/image/image.tar',
      `${ECR}/team/app:${TAG}`,
      '--image-refs=/dev/termination-log',
    ]);
    expect(push(job).volumeMounts).toContainEqual({
      name: 'image',
      mountPath: '/image',
      readOnly: true,
    });
    expect(push(job).securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });
});

test('an ACR refresh token becomes an identitytoken for the push container', () => {
  const token = RegistryCredentials.identityToken('myregistry.azurecr.io', 'acr-refresh');
  const { secrets } = buildKanikoJob(
    input('myregistry.azurecr.io/team/app', { pushCredentials: token }),
  );
  expect(JSON.parse(secrets[0]!.stringData!['.dockerconfigjson']!)).toEqual({
    auths: {
      'myregistry.azurecr.io': {
        username: '00000000-0000-0000-0000-000000000000',
        identitytoken: 'acr-refresh',
      },
    },
  });
});

describe('docker-config-secret and pull-docker-config-secret', () => {
  const { job, secrets } = buildKanikoJob(
    input(
      'registry.example.com:5000/team/app',
      { pushCredentials: minted },
      { dockerConfigSecret: 'regcred', pullDockerConfigSecret: 'pull-only' },
    ),
  );

  test('the user’s push Secret is mounted in the push container only; nothing is minted', () => {
    expect(secrets).toEqual([]);
    expect(secretsSeenBy(job, push(job))).toEqual(['regcred']);
    expect(secretsSeenBy(job, kaniko(job))).toEqual(['pull-only']);
  });

  test('the pull-only Secret is kaniko’s Docker config', () => {
    const mount = kaniko(job).volumeMounts!.find((m) => m.mountPath === '/kaniko/.docker');
    expect(mount).toBeDefined();
    const volume = pod(job).volumes!.find((v) => v.name === mount!.name);
    expect(volume?.secret?.secretName).toBe('pull-only');
  });
});

test('kaniko-cache: the build container gets the push credentials too (the documented trade)', () => {
  const { job } = buildKanikoJob(
    input(`${ECR}/team/app`, { pushCredentials: minted }, { kanikoCache: true }),
  );
  expect(kaniko(job).args).toEqual(
    expect.arrayContaining(['--cache=true', `--cache-repo=${ECR}/team/app`]),
  );
  expect(kaniko(job).args).not.toContain('--no-push-cache');
  expect(secretsSeenBy(job, kaniko(job))).toEqual(['build-0123456789-push']);
});

test('an open registry: no Secret, no Docker config anywhere', () => {
  const { job, secrets } = buildKanikoJob(input('registry.example.com/team/app'));
  expect(secrets).toEqual([]);
  expect(secretsSeenBy(job, push(job))).toEqual([]);
  expect(push(job).env).toEqual([]);
});

test.each([
  [['--insecure'], true],
  [['--insecure-registry=registry.example.com:5000'], true],
  [['--skip-tls-verify-registry=registry.example.com:5000'], true],
  [['--insecure-registry=other.example.com'], false],
  [[], false],
])('kaniko-config args %j: the push step is insecure: %s', (args, insecure) => {
  const { job } = buildKanikoJob(
    input(
      'registry.example.com:5000/team/app',
      {},
      { kanikoConfig: { spec: { template: { spec: { containers: [{ args }] } } } } },
    ),
  );
  expect(push(job).args!.includes('--insecure')).toBe(insecure);
});
