// The agent runs images by digest: a built image by its push's digest, a reused one by the digest
// the registry answers for its tag at that moment (an OCI registry, and ECR's DescribeImages on
// moto), a prebuilt one by its own digest or the one its registry answers (else by tag, as status
// says). Against the test environment: the docker builder (podman) pushing to the open registry,
// the htpasswd registry for credentials, moto for ECR and the submitted contexts. Someone with
// push rights moving a tag is played by a push through the registry API (registry-images.ts) or
// moto's PutImage.
//
// The test environment has no controller-manager or kubelet: run Jobs are only read here.
import { CreateRepositoryCommand, ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import { RegistryCredentials, type LaunchJob } from '@launch-agent/runtime';
import { createHash } from 'node:crypto';
import { configFile, sourceDir } from './agent-harness.js';
import {
  adminJobs,
  batch,
  env,
  kubernetesConfig,
  namespace,
  phaseIs,
  startAgent,
  storeUri,
  submit,
  useStoresTestbed,
} from './agent-stores-testbed.js';
import { pushTestImage, tagDigest } from './registry-images.js';
import { uniqueName } from './testenv.js';

useStoresTestbed();

async function runImage(job: LaunchJob): Promise<string> {
  const runJob = await batch.readNamespacedJob({
    name: job.status!.runJobName!,
    namespace: job.status!.runJobNamespace!,
  });
  return runJob.spec!.template.spec!.containers[0]!.image!;
}

/** A Docker manifest for moto's PutImage; `marker` makes each one another digest. */
const ecrManifest = (marker: string) =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: marker.length,
      digest: `sha256:${createHash('sha256').update(marker).digest('hex')}`,
    },
    // moto derives the digest from the layers' digests.
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: marker.length,
        digest: `sha256:${createHash('sha256').update(`layer ${marker}`).digest('hex')}`,
      },
    ],
  });

const builtCondition = (job: LaunchJob) =>
  job.status!.conditions!.find((condition) => condition.type === 'Built');

describe('run Jobs pull images by digest', () => {
  it('a built image runs by its push digest; after the tag is moved, a reuse resolves and records the new digest', async () => {
    const queue = 'digest-built';
    const repositoryPath = `agent-digests/${uniqueName('built')}`;
    const { path, settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 4',
      'builder:',
      '  type: docker',
      `  destination: ${env.registry}/${repositoryPath}`,
      `  build-context-store: ${storeUri('s3')}`,
      kubernetesConfig(),
    ]);
    const source = sourceDir(uniqueName(queue));
    const first = await submit(path, source, queue);
    await startAgent(settings);
    const one = await phaseIs(first.metadata.name!, 'Running', 120_000);
    const tag = one.status!.image!.slice(one.status!.image!.lastIndexOf(':') + 1);
    const pushed = await tagDigest(env.registry, repositoryPath, tag);
    expect(one.status).toMatchObject({
      imageStatus: 'built',
      image: `${env.registry}/${repositoryPath}:${tag}`,
      digest: pushed,
    });
    expect(await runImage(one)).toBe(`${env.registry}/${repositoryPath}:${tag}@${pushed}`);

    // Someone with push rights puts another image under the job's source-hash tag.
    const moved = await pushTestImage(env.registry, repositoryPath, tag, { marker: 'moved' });
    expect(moved).not.toBe(pushed);
    // The built job keeps running what was built: its digest was recorded at build time.
    const still = await adminJobs.get(namespace, first.metadata.name!);
    expect(still.status!.digest).toBe(pushed);
    expect(await runImage(still)).toBe(`${env.registry}/${repositoryPath}:${tag}@${pushed}`);

    // A new job of the same source reuses the tag: by the digest the registry answers now.
    const second = await submit(path, source, queue);
    const two = await phaseIs(second.metadata.name!, 'Running', 120_000);
    expect(two.status).toMatchObject({ imageStatus: 'reused', digest: moved });
    expect(await runImage(two)).toBe(`${env.registry}/${repositoryPath}:${tag}@${moved}`);
    expect(builtCondition(two)).toMatchObject({
      reason: 'ImageExists',
      message: `${env.registry}/${repositoryPath}:${tag}@${moved}`,
    });
  }, 240_000);

  it('ECR (moto): a reuse runs by the digest DescribeImages answers for the tag at that moment', async () => {
    const queue = 'digest-ecr';
    const repository = uniqueName('digests/ecr');
    const host = `123456789012.dkr.ecr.${env.awsRegion}.amazonaws.com`;
    const ecr = new ECRClient({});
    await ecr.send(new CreateRepositoryCommand({ repositoryName: repository }));
    const { path, settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 2',
      'builder:',
      '  type: noop', // moto has no registry API: the image is put there with PutImage
      `  destination: ${host}/${repository}`,
      `  build-context-store: ${storeUri('s3')}`,
      kubernetesConfig(),
    ]);
    const source = sourceDir(uniqueName(queue));
    const first = await submit(path, source, queue);
    const tag = /([0-9a-f]{32})\.tar\.gz$/.exec(first.spec.source.context!.key)![1]!;
    const putImage = async (marker: string) =>
      (
        await ecr.send(
          new PutImageCommand({
            repositoryName: repository,
            imageTag: tag,
            imageManifest: ecrManifest(marker),
          }),
        )
      ).image!.imageId!.imageDigest!;
    const one = await putImage('one');
    await startAgent(settings);
    const reused = await phaseIs(first.metadata.name!, 'Running', 60_000);
    expect(reused.status).toMatchObject({ imageStatus: 'reused', digest: one });
    expect(await runImage(reused)).toBe(`${host}/${repository}:${tag}@${one}`);

    // The tag moved (the repository is MUTABLE, ECR's default): the next reuse records the new digest.
    const two = await putImage('two');
    expect(two).not.toBe(one);
    const second = await submit(path, source, queue);
    const again = await phaseIs(second.metadata.name!, 'Running', 60_000);
    expect(again.status!.digest).toBe(two);
    expect(await runImage(again)).toBe(`${host}/${repository}:${tag}@${two}`);
    expect((await adminJobs.get(namespace, first.metadata.name!)).status!.digest).toBe(one);
    ecr.destroy();
  }, 120_000);

  it('a prebuilt image runs by the digest it carries, or the one its registry answers for its tag', async () => {
    const queue = 'digest-prebuilt';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: -1',
      'builder: {type: noop}',
      kubernetesConfig(),
    ]);
    const repositoryPath = `agent-digests/${uniqueName('pre')}`;
    const image = `${env.registry}/${repositoryPath}`;
    const v1 = await pushTestImage(env.registry, repositoryPath, 'v1', { marker: 'v1' });
    await startAgent(settings);
    const create = (source: string) =>
      adminJobs.create(namespace, { name: uniqueName('lj') }, { queue, source: { image: source } });

    const byTag = await phaseIs((await create(`${image}:v1`)).metadata.name!, 'Running');
    expect(byTag.status).toMatchObject({
      imageStatus: 'prebuilt',
      image: `${image}:v1`,
      digest: v1,
    });
    expect(await runImage(byTag)).toBe(`${image}:v1@${v1}`);
    expect(builtCondition(byTag)).toMatchObject({ reason: 'Prebuilt' });

    const other = await pushTestImage(env.registry, repositoryPath, 'v2', { marker: 'v2' });
    const byDigest = await phaseIs((await create(`${image}@${other}`)).metadata.name!, 'Running');
    expect(byDigest.status).toMatchObject({ image: `${image}@${other}`, digest: other });
    expect(await runImage(byDigest)).toBe(`${image}@${other}`);

    // A registry the agent cannot reach: it runs by tag, and status says why.
    const unreachable = await phaseIs(
      (await create('127.0.0.1:9/nowhere/app:v1')).metadata.name!,
      'Running',
    );
    expect(unreachable.status!.digest).toBeUndefined();
    expect(await runImage(unreachable)).toBe('127.0.0.1:9/nowhere/app:v1');
    expect(builtCondition(unreachable)).toMatchObject({
      reason: 'PrebuiltByTag',
      message: expect.stringContaining('runs by tag: the agent could not resolve'),
    });
  }, 120_000);

  it("a prebuilt image in a registry with auth is resolved with the agent's credentials, and runs by tag without them", async () => {
    const login = { user: env.authRegistryUser, password: env.authRegistryPassword };
    const repositoryPath = `agent-digests/${uniqueName('auth')}`;
    const image = `${env.authRegistry}/${repositoryPath}:v1`;
    const digest = await pushTestImage(env.authRegistry, repositoryPath, 'v1', {
      marker: 'auth',
      login,
    });

    const anonymous = configFile([
      'queues: [auth-none]',
      'builder: {type: noop}',
      kubernetesConfig(),
    ]).settings;
    await startAgent(anonymous, {
      registryOptions: { oci: { credentials: async () => undefined } },
    });
    const job = await adminJobs.create(
      namespace,
      { name: uniqueName('lj') },
      { queue: 'auth-none', source: { image } },
    );
    const byTag = await phaseIs(job.metadata.name!, 'Running');
    expect(await runImage(byTag)).toBe(image);
    expect(builtCondition(byTag)).toMatchObject({
      reason: 'PrebuiltByTag',
      message: expect.stringContaining('requires credentials'),
    });

    const withLogin = configFile([
      'queues: [auth-login]',
      'builder: {type: noop}',
      kubernetesConfig(),
    ]).settings;
    await startAgent(withLogin, {
      registryOptions: {
        oci: {
          credentials: async () =>
            RegistryCredentials.password(env.authRegistry, login.user, login.password),
        },
      },
    });
    const resolved = await phaseIs(
      (
        await adminJobs.create(
          namespace,
          { name: uniqueName('lj') },
          { queue: 'auth-login', source: { image } },
        )
      ).metadata.name!,
      'Running',
    );
    expect(resolved.status!.digest).toBe(digest);
    expect(await runImage(resolved)).toBe(`${image}@${digest}`);
    expect(JSON.stringify(resolved.status)).not.toContain(login.password);
  }, 120_000);
});
