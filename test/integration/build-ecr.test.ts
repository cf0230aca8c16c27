// The ECR registry against moto (scripts/testenv): existence checks with DescribeImages,
// repository creation (builder.create-repository), GetAuthorizationToken. moto implements the ECR
// control plane only, so images are registered with PutImage instead of a docker push.
import { ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import { parseDestination } from '@launch-agent/config';
import { buildImage, RegistryError, type Builder } from '@launch-agent/runtime';
import { EcrRegistry, ecrEndpoint } from '../../packages/runtime/src/registries/ecr-registry.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

let env: TestEnv;
beforeAll(async () => {
  env = await requireServices('aws');
});

const ACCOUNT = '123456789012'; // moto's default account
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    size: 2,
    digest: `sha256:${'0'.repeat(64)}`,
  },
  layers: [],
});

function destinationFor(repository: string) {
  return parseDestination(`${ACCOUNT}.dkr.ecr.${env.awsRegion}.amazonaws.com/${repository}`).value!;
}

describe('ECR registry against moto', () => {
  it('points the SDK at AWS_ENDPOINT_URL from the test environment', () => {
    expect(ecrEndpoint()).toBe(env.awsEndpoint);
  });

  it('creates a missing nested repository only when allowed, then finds a tag with its digest', async () => {
    const repository = `team/${uniqueName('images')}`;
    const destination = destinationFor(repository);
    const strict = new EcrRegistry(destination, { endpoint: env.awsEndpoint });
    expect(await strict.exists('abc')).toEqual({ exists: false });
    await expect(strict.prepareForPush()).rejects.toThrow(/builder.create-repository: true/);

    const creating = new EcrRegistry(destination, {
      endpoint: env.awsEndpoint,
      createRepository: true,
    });
    await creating.prepareForPush();
    await creating.prepareForPush(); // idempotent: the repository now exists
    expect(await creating.exists('abc')).toEqual({ exists: false });

    const ecr = new ECRClient({ region: env.awsRegion, endpoint: env.awsEndpoint });
    const put = await ecr.send(
      new PutImageCommand({
        registryId: ACCOUNT,
        repositoryName: repository,
        imageManifest: MANIFEST,
        imageTag: 'abc',
      }),
    );
    const found = await creating.exists('abc');
    expect(found.exists).toBe(true);
    expect(found.digest).toBe(put.image?.imageId?.imageDigest);
    expect(await creating.exists('abd')).toEqual({ exists: false });
  });

  it('gets push credentials for the destination host from GetAuthorizationToken', async () => {
    const destination = destinationFor(uniqueName('creds'));
    const credentials = await new EcrRegistry(destination).credentials();
    const auth = credentials.toDockerAuthConfig();
    expect(auth.username).toBe('AWS');
    expect(auth.password?.length).toBeGreaterThan(0);
    expect(auth.serveraddress).toBe(destination.host);
  });

  it('makes the engine reuse an image the registry already has, and fail before building when the repository is missing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ecr-ctx-'));
    try {
      writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
      const repository = uniqueName('engine');
      const destination = destinationFor(repository);
      let builds = 0;
      const counting: Builder = {
        name: 'counting',
        build: async () => {
          builds += 1;
          return { digest: 'sha256:x', buildMs: 0, pushMs: 0 };
        },
      };
      const missing = await buildImage({
        plan: { contextDir: root, cacheDir: false },
        destination,
        builder: () => counting,
      }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(RegistryError);
      expect(builds).toBe(0);

      const registry = new EcrRegistry(destination, { createRepository: true });
      const planned = await buildImage({
        plan: { contextDir: root, cacheDir: false },
        destination,
        registry,
        dryRun: true,
        builder: () => counting,
      });
      const ecr = new ECRClient({ region: env.awsRegion, endpoint: env.awsEndpoint });
      await registry.prepareForPush();
      await ecr.send(
        new PutImageCommand({
          registryId: ACCOUNT,
          repositoryName: repository,
          imageManifest: MANIFEST,
          imageTag: planned.tag,
        }),
      );
      const reused = await buildImage({
        plan: { contextDir: root, cacheDir: false },
        destination,
        registry,
        builder: () => counting,
      });
      expect(reused).toMatchObject({ status: 'reused', image: planned.image });
      expect(builds).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
