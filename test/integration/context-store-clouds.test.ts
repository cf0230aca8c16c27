// Build-context stores against the test environment's emulators: moto (S3), fake-gcs-server
// (GCS) and Azurite (Azure Blob). Each store gets no endpoint or credentials from the test: the
// SDKs read AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST and AZURE_STORAGE_CONNECTION_STRING.
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import type { Storage } from '@google-cloud/storage';
import { Readable } from 'node:stream';
import { normalizeConfig, parseContextStore } from '../../packages/config/src/index.js';
import { AzureBlobContextStore } from '../../packages/runtime/src/storage/azure-blob-context-store.js';
import {
  ContextStoreError,
  type BuildContextStore,
} from '../../packages/runtime/src/storage/context-store.js';
import {
  GcsContextStore,
  gcsClient,
} from '../../packages/runtime/src/storage/gcs-context-store.js';
import { S3ContextStore } from '../../packages/runtime/src/storage/s3-context-store.js';
import { createContextStore } from '../../packages/runtime/src/storage/select-context-store.js';
import { requireServices, uniqueName } from './testenv.js';

/** A stream of `size` bytes in chunks, so uploads cannot take the single-buffer path. */
function streamOf(size: number, fill: number): Readable {
  const chunk = 256 * 1024;
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(chunk, left);
      left -= n;
      this.push(Buffer.alloc(n, fill));
    },
  });
}

async function roundTrip(store: BuildContextStore, read: (key: string) => Promise<Buffer>) {
  const key = `${uniqueName('ctx')}.tgz`;
  const size = 10 * 1024 * 1024 + 123; // above every store's single-request limit
  const progress: number[] = [];
  expect(await store.exists(key)).toBe(false);
  await store.put(key, streamOf(size, 7), { size, onProgress: (n) => progress.push(n) });
  expect(await store.exists(key)).toBe(true);
  const body = await read(key);
  expect(body.length).toBe(size);
  expect(body.every((b) => b === 7)).toBe(true);
  expect(progress.at(-1)).toBe(size);

  const small = `${uniqueName('small')}.tgz`;
  await store.put(small, Buffer.from('small context'));
  expect((await read(small)).toString()).toBe('small context');

  await store.delete(key);
  await store.delete(small);
  expect(await store.exists(key)).toBe(false);
  // Deleting again is not an error.
  await store.delete(key);
}

describe('S3 context store (moto)', () => {
  const bucket = uniqueName('ctx-s3');
  let s3: S3Client;
  beforeAll(async () => {
    await requireServices('aws');
    s3 = new S3Client({ forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(() => s3.destroy());

  test('puts a stream (multipart), checks, deletes', async () => {
    const store = new S3ContextStore({ bucket, prefix: 'launch/contexts' });
    expect(store.uri('run-1.tgz')).toBe(`s3://${bucket}/launch/contexts/run-1.tgz`);
    await roundTrip(store, async (key) => {
      const got = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: `launch/contexts/${key}` }),
      );
      return Buffer.from(await got.Body!.transformToByteArray());
    });
  });

  test('a missing bucket is a ContextStoreError that says what to do', async () => {
    const store = new S3ContextStore({ bucket: uniqueName('missing'), prefix: '' });
    const error = await store.put('x.tgz', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContextStoreError);
    expect((error as Error).message).toMatch(/does not exist.*Create it/);
  });
});

describe('GCS context store (fake-gcs-server)', () => {
  const bucketName = uniqueName('ctx-gcs');
  let storage: Storage;
  beforeAll(async () => {
    // Clients are made after requireServices has put STORAGE_EMULATOR_HOST in the environment.
    await requireServices('gcs');
    storage = gcsClient('testenv');
    await storage.bucket(bucketName).create();
  });

  test('puts a stream (resumable), checks, deletes', async () => {
    const store = new GcsContextStore({ bucket: bucketName, prefix: 'launch', project: 'testenv' });
    expect(store.uri('run-1.tgz')).toBe(`gs://${bucketName}/launch/run-1.tgz`);
    await roundTrip(
      store,
      async (key) => (await storage.bucket(bucketName).file(`launch/${key}`).download())[0],
    );
  });
});

describe('Azure Blob context store (Azurite)', () => {
  const container = uniqueName('ctx-azure');
  let service: BlobServiceClient;
  beforeAll(async () => {
    await requireServices('azure');
    service = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!);
    await service.getContainerClient(container).create();
  });

  test('selected from the config URI, signs in with the connection string, puts blocks, deletes', async () => {
    const parsed = parseContextStore(
      `https://mlcontexts.blob.core.windows.net/${container}/launch`,
    ).value!;
    const settings = normalizeConfig({ builder: { type: 'kaniko' } } as never);
    const store = await createContextStore(parsed, settings);
    expect(store).toBeInstanceOf(AzureBlobContextStore);
    expect(store.uri('run-1.tgz')).toBe(
      `https://mlcontexts.blob.core.windows.net/${container}/launch/run-1.tgz`,
    );
    await roundTrip(store, (key) =>
      service.getContainerClient(container).getBlockBlobClient(`launch/${key}`).downloadToBuffer(),
    );
  });

  test('a missing container is a ContextStoreError', async () => {
    const store = new AzureBlobContextStore({
      account: 'devstoreaccount1',
      container: uniqueName('missing'),
      prefix: '',
      endpoint: 'https://devstoreaccount1.blob.core.windows.net',
    });
    const error = await store.put('x.tgz', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContextStoreError);
    expect((error as Error).message).toMatch(/container .* does not exist/);
  });
});
