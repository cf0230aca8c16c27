// Every build-context store writes an object once and deletes only the version it is given,
// against the test environment's emulators: moto (S3), fake-gcs-server (GCS), Azurite (Azure
// Blob), and a directory for the PVC store. A second upload to a taken key (a small one in one
// request, and a stream large enough for the multipart, resumable or block upload) is refused
// with ContextExistsError and leaves the first object, its bytes and metadata, as they were.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AzureBlobContextStore } from '../../packages/runtime/src/storage/azure-blob-context-store.js';
import type { BuildContextStore } from '../../packages/runtime/src/storage/context-store.js';
import {
  GcsContextStore,
  gcsClient,
} from '../../packages/runtime/src/storage/gcs-context-store.js';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import { S3ContextStore } from '../../packages/runtime/src/storage/s3-context-store.js';
import { removeTempDirs, tempDir } from './agent-harness.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

const s3Bucket = uniqueName('once-s3');
const gcsBucket = uniqueName('once-gcs');
const azureContainer = uniqueName('once-az');
let env: TestEnv;
let s3: S3Client;

beforeAll(async () => {
  env = await requireServices('aws', 'gcs', 'azure');
  s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: s3Bucket }));
  await gcsClient('testenv').bucket(gcsBucket).create();
  await BlobServiceClient.fromConnectionString(env.azureConnectionString)
    .getContainerClient(azureContainer)
    .create();
});
afterAll(() => {
  s3?.destroy();
  removeTempDirs();
});

/** `size` bytes of `fill`, in chunks: a stream, so the store takes its streaming upload path. */
function streamOf(size: number, fill: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(256 * 1024, left);
      left -= n;
      this.push(Buffer.alloc(n, fill));
    },
  });
}

const stores: Record<string, () => BuildContextStore> = {
  s3: () => new S3ContextStore({ bucket: s3Bucket, prefix: 'launch' }),
  gcs: () => new GcsContextStore({ bucket: gcsBucket, prefix: 'launch' }),
  azure: () =>
    new AzureBlobContextStore({
      account: 'devstoreaccount1',
      container: azureContainer,
      prefix: 'launch',
      endpoint: env.azureBlobEndpoint,
    }),
  pvc: () =>
    new PvcContextStore({ claim: 'contexts', prefix: 'launch', mountPath: tempDir('once-pvc-') }),
};

describe.each(Object.keys(stores))('%s store', (name) => {
  it('never overwrites a stored context, in one request or streamed', async () => {
    const store = stores[name]!();
    const key = `contexts/${uniqueName('once')}.tar.gz`;
    await store.put(key, Buffer.from('the first upload'), { metadata: { owner: 'first' } });
    const first = await store.stat(key);
    expect(first).toEqual({ metadata: { owner: 'first' }, version: expect.any(String) });

    await expect(
      store.put(key, Buffer.from('a second upload'), { metadata: { owner: 'second' } }),
    ).rejects.toMatchObject({ name: 'ContextExistsError' });
    const size = 10 * 1024 * 1024 + 7; // past every store's single-request limit
    await expect(
      store.put(key, streamOf(size, 9), { size, metadata: { owner: 'second' } }),
    ).rejects.toMatchObject({ name: 'ContextExistsError' });

    expect((await buffer(await store.open(key))).toString()).toBe('the first upload');
    expect(await store.stat(key)).toEqual(first);
  }, 60_000);

  it('deletes only the version it was given', async () => {
    const store = stores[name]!();
    const key = `contexts/${uniqueName('version')}.tar.gz`;
    await store.put(key, Buffer.from('v1'));
    const v1 = (await store.stat(key))!;
    await store.delete(key);
    // The same name written again is another object: a delete for the first leaves it.
    await store.put(key, Buffer.from('v2'));
    expect(await store.delete(key, { ifVersion: v1.version })).toBe(false);
    expect((await buffer(await store.open(key))).toString()).toBe('v2');
    const v2 = (await store.stat(key))!;
    expect(await store.delete(key, { ifVersion: v2.version })).toBe(true);
    expect(await store.stat(key)).toBeUndefined();
  }, 60_000);
});
