// What the agent trusts of a stored build context, against the test environment (the API server,
// moto S3, the docker builder on podman, the open registry): a context whose bytes changed after
// submit, or that does not unpack to the source its key names, is refused with
// BuildContextMismatch; a context planted under a key before its owner submits is neither
// overwritten by the owner's submit nor built for it; and a LaunchJob that names another job's
// context removes nothing of it when it is deleted.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  createBuildPlan,
  createContextTar,
  parallelGzip,
  type LaunchJob,
} from '@launch-agent/runtime';
import { configFile, sourceDir, sleep } from './agent-harness.js';
import {
  adminJobs,
  batch,
  bucket,
  env,
  isGone,
  kubernetesConfig,
  namespace,
  phaseIs,
  s3,
  startAgent,
  storeUri,
  stores,
  submit,
  target,
  useStoresTestbed,
} from './agent-stores-testbed.js';
import { uniqueName } from './testenv.js';

useStoresTestbed();

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function settingsFor(queue: string) {
  return configFile([
    `queues: [${queue}]`,
    'max_jobs: -1',
    'builder:',
    '  type: docker',
    `  destination: ${env.registry}/agent-trust/${queue}`,
    `  build-context-store: ${storeUri('s3')}`,
    kubernetesConfig(),
  ]);
}

/** The archive submit would upload for `dir`, its bytes and the key it would use. */
async function packed(dir: string): Promise<{ key: string; bytes: Buffer }> {
  const plan = await createBuildPlan({ contextDir: dir, cacheDir: false });
  const bytes = await buffer(parallelGzip(createContextTar(plan).stream));
  return { key: `contexts/${plan.tag}.tar.gz`, bytes };
}

/** Writes straight to the bucket, as anyone with write access to the store can. */
async function writeObject(key: string, bytes: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `launch/${key}`, Body: bytes }));
}

const failure = (job: LaunchJob) =>
  job.status!.conditions!.find((condition) => condition.type === 'Failed');

describe('stored contexts are verified', () => {
  it('refuses a context whose bytes changed after submit (the digest check)', async () => {
    const queue = 'trust-tampered';
    const { path, settings } = settingsFor(queue);
    const source = sourceDir(uniqueName(queue));
    const submitted = await submit(path, source, queue);
    const { key, digest } = submitted.spec.source.context!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Replaced after submit (written once: only a delete lets anyone put other bytes there).
    const other = sourceDir(uniqueName('other'));
    writeFileSync(join(other, 'src', 'main.txt'), 'tampered\n');
    const tampered = await packed(other);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `launch/${key}` }));
    await writeObject(key, tampered.bytes);

    await startAgent(settings);
    const failed = await phaseIs(submitted.metadata.name!, 'Failed', 60_000);
    expect(failure(failed)).toMatchObject({
      reason: 'BuildContextMismatch',
      message: expect.stringContaining(
        `archive digest: the stored context s3://${bucket}/launch/${key} is ${sha256(tampered.bytes)}, but spec.source.context.digest is ${digest}`,
      ),
    });
    expect(failed.status!.runJobName).toBeUndefined();
  }, 120_000);

  it("a context planted under a source's key before its owner submits: submit keeps it, and the agent refuses it (the source-hash check)", async () => {
    const queue = 'trust-planted';
    const { path, settings } = settingsFor(queue);
    const source = sourceDir(uniqueName(queue));
    const owners = await packed(source);
    const evil = sourceDir(uniqueName('evil'));
    writeFileSync(join(evil, 'src', 'main.txt'), 'planted\n');
    const planted = await packed(evil);
    await writeObject(owners.key, planted.bytes);

    const submitted = await submit(path, source, queue);
    // Not overwritten, not trusted by name: the job names the stored bytes, without an upload token.
    expect(submitted.spec.source.context).toEqual({
      key: owners.key,
      digest: sha256(planted.bytes),
    });
    await startAgent(settings);
    const failed = await phaseIs(submitted.metadata.name!, 'Failed', 60_000);
    expect(failure(failed)).toMatchObject({
      reason: 'BuildContextMismatch',
      message: expect.stringMatching(
        /^source hash: the build context contexts\/[0-9a-f]{32}\.tar\.gz unpacks to source [0-9a-f]{32} /,
      ),
    });
    // The owner's submit did not overwrite it: the planted bytes are still there.
    const got = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `launch/${owners.key}` }),
    );
    const stored = Buffer.from(await got.Body!.transformToByteArray());
    expect(sha256(stored)).toBe(sha256(planted.bytes));
  }, 120_000);

  it('refuses a hand-written job whose context can be checked against nothing', async () => {
    const queue = 'trust-unverified';
    const { settings } = settingsFor(queue);
    const { bytes } = await packed(sourceDir(uniqueName(queue)));
    const key = `uploads/${uniqueName('model')}.tar.gz`;
    await writeObject(key, bytes);
    await startAgent(settings);
    const job = await adminJobs.create(
      namespace,
      { name: uniqueName('lj') },
      { queue, source: { context: { key } } },
    );
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failure(failed)).toMatchObject({ reason: 'BuildContextUnverified' });
    // With the digest of its bytes, the same object is built.
    const pinned = await adminJobs.create(
      namespace,
      { name: uniqueName('lj') },
      { queue, source: { context: { key, digest: sha256(bytes) } } },
    );
    await phaseIs(pinned.metadata.name!, 'Running', 120_000);
  }, 180_000);
});

describe('contexts are deleted by ownership', () => {
  it("a LaunchJob that names another job's context, then is deleted, removes nothing of it", async () => {
    const queue = 'trust-foreign';
    const { path, settings } = settingsFor(queue);
    // The owner submits to a queue no agent serves here, then its job is deleted unseen.
    const owner = await submit(path, sourceDir(uniqueName(queue)), 'elsewhere');
    const { key, digest, uploadToken } = owner.spec.source.context!;
    expect(uploadToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await adminJobs.deleteIfUnchanged(owner);

    await startAgent(settings);
    // Another job names that context: once with no token, once with a made-up one.
    const foreign = [undefined, 'x'.repeat(43)].map((token) =>
      adminJobs.create(
        namespace,
        { name: uniqueName('lj') },
        {
          queue,
          source: { context: { key, digest: digest!, ...(token ? { uploadToken: token } : {}) } },
        },
      ),
    );
    for (const created of await Promise.all(foreign)) {
      const running = await phaseIs(created.metadata.name!, 'Running', 120_000);
      await adminJobs.deleteIfUnchanged(running);
      // The agent has handled the deletion once the run Job in the job's namespace is gone.
      await isGone('its run Job', () =>
        batch.readNamespacedJob({ name: running.status!.runJobName!, namespace }),
      );
    }
    await sleep(1000);
    expect(await stores.s3.exists(key)).toBe(true);
  }, 240_000);

  it("the uploader's job removes the context it uploaded when it is deleted", async () => {
    const queue = 'trust-owner';
    const { path, settings } = settingsFor(queue);
    // Submitted to the second tenant namespace, which the agent serves too.
    const owner = await submit(path, sourceDir(uniqueName(queue)), queue, [], target);
    const { key } = owner.spec.source.context!;
    await startAgent(settings);
    const running = await phaseIs(owner.metadata.name!, 'Running', 120_000, target);
    await adminJobs.deleteIfUnchanged(running);
    await isGone('the context', async () => {
      if (!(await stores.s3.exists(key))) throw Object.assign(new Error('gone'), { code: 404 });
    });
  }, 180_000);
});
