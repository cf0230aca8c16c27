// Each build-context store, used many times over as one agent uses it, must not pile listeners
// onto anything that lives longer than one call: Node warns (MaxListenersExceededWarning) once an
// emitter holds more than 10 for one event, so 12 rounds on one store object would show a leak.
// Any such warning fails the test, with one exception said below.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { normalizeConfig, parseContextStore } from '../../packages/config/src/index.js';
import { type BuildContextStore } from '../../packages/runtime/src/storage/context-store.js';
import {
  GcsContextStore,
  gcsClient,
} from '../../packages/runtime/src/storage/gcs-context-store.js';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';
import { S3ContextStore } from '../../packages/runtime/src/storage/s3-context-store.js';
import { createContextStore } from '../../packages/runtime/src/storage/select-context-store.js';
import { requireServices, uniqueName } from './testenv.js';

const ROUNDS = 12;

/**
 * @google-cloud/storage 8 (with teeny-request 11) puts 11 error and 11 close listeners on the
 * response stream of every single download, so each `open` of a GCS object warns once for that
 * one short-lived stream. That count does not grow with use and the stream is gone after the
 * read; it is the only warning let through, recognised by its origin in the SDK's stream mode.
 */
function fromGcsDownloadStream(warning: Error): boolean {
  return /teeny-request[/\\]/.test(warning.stack ?? '');
}

async function collectWarnings<T>(
  run: () => Promise<T>,
): Promise<{ listenerWarnings: Error[]; processListeners: [number, number] }> {
  const listenerWarnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') listenerWarnings.push(warning);
  };
  const countProcessListeners = () =>
    process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0);
  const before = countProcessListeners();
  process.on('warning', onWarning);
  try {
    await run();
    // Warnings are emitted on a later tick than the listener that caused them.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return { listenerWarnings, processListeners: [before, countProcessListeners()] };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What the agent does with a store for each build: upload, check, download, delete. */
async function useRepeatedly(store: BuildContextStore): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const key = `${uniqueName(`round-${round}`)}.tgz`;
    const body = Buffer.alloc(64 * 1024 + round, round);
    await store.put(key, Readable.from([body.subarray(0, 1000), body.subarray(1000)]), {
      size: body.length,
    });
    await store.put(`${key}.small`, Buffer.from(`round ${round}`));
    expect(await store.exists(key)).toBe(true);
    expect((await readAll(await store.open(key))).equals(body)).toBe(true);
    await store.delete(key);
    await store.delete(`${key}.small`);
  }
}

describe(`a context store used ${ROUNDS} times leaks no listeners`, () => {
  test('S3 (moto)', async () => {
    await requireServices('aws');
    const bucket = uniqueName('listeners-s3');
    const s3 = new S3Client({ forcePathStyle: true });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const store = new S3ContextStore({ bucket, prefix: 'ctx' });
      const { listenerWarnings, processListeners } = await collectWarnings(() =>
        useRepeatedly(store),
      );
      expect(listenerWarnings.map((w) => w.message)).toEqual([]);
      expect(processListeners[1]).toBe(processListeners[0]);
    } finally {
      s3.destroy();
    }
  });

  test('Azure Blob (Azurite)', async () => {
    await requireServices('azure');
    const container = uniqueName('listeners-azure');
    await BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!)
      .getContainerClient(container)
      .create();
    const store = await createContextStore(
      parseContextStore(`https://mlcontexts.blob.core.windows.net/${container}/ctx`).value!,
      normalizeConfig({ builder: { type: 'kaniko' } } as never),
    );
    const { listenerWarnings, processListeners } = await collectWarnings(() =>
      useRepeatedly(store),
    );
    expect(listenerWarnings.map((w) => w.message)).toEqual([]);
    expect(processListeners[1]).toBe(processListeners[0]);
  });

  test('GCS (fake-gcs-server): none but the SDK’s own per-download stream', async () => {
    await requireServices('gcs');
    const bucket = uniqueName('listeners-gcs');
    await gcsClient('testenv').bucket(bucket).create();
    const store = new GcsContextStore({ bucket, prefix: 'ctx', project: 'testenv' });
    const { listenerWarnings, processListeners } = await collectWarnings(() =>
      useRepeatedly(store),
    );
    expect(listenerWarnings.filter((w) => !fromGcsDownloadStream(w)).map((w) => w.message)).toEqual(
      [],
    );
    expect(processListeners[1]).toBe(processListeners[0]);
  });

  test('PersistentVolumeClaim (a local directory)', async () => {
    const mountPath = mkdtempSync(join(tmpdir(), 'listeners-pvc-'));
    try {
      const store = new PvcContextStore({ claim: 'contexts', prefix: 'ctx', mountPath });
      const { listenerWarnings, processListeners } = await collectWarnings(() =>
        useRepeatedly(store),
      );
      expect(listenerWarnings.map((w) => w.message)).toEqual([]);
      expect(processListeners[1]).toBe(processListeners[0]);
    } finally {
      rmSync(mountPath, { recursive: true, force: true });
    }
  });
});
