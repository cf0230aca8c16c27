// Smoke test: GCS (fake-gcs-server) through @google-cloud/storage. The client finds the emulator
// through STORAGE_EMULATOR_HOST (scripts/testenv env) and then needs no credentials.
import { Storage } from '@google-cloud/storage';

import { requireServices, uniqueName } from '../testenv.js';

beforeAll(() => requireServices('gcs'));

test('creates a bucket, uploads and downloads (simple and resumable)', async () => {
  const storage = new Storage({ projectId: 'testenv' });
  const bucket = storage.bucket(uniqueName('smoke-gcs'));
  await bucket.create();

  const small = Buffer.from('hello gcs');
  await bucket.file('ctx/small.txt').save(small, { resumable: false });
  const [gotSmall] = await bucket.file('ctx/small.txt').download();
  expect(gotSmall).toEqual(small);

  // Resumable uploads go to the upload URL the server hands out (-external-url).
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  await bucket.file('ctx/context.tar.gz').save(big, { resumable: true });
  const [gotBig] = await bucket.file('ctx/context.tar.gz').download();
  expect(gotBig.equals(big)).toBe(true);

  const [files] = await bucket.getFiles({ prefix: 'ctx/' });
  expect(files.map((f) => f.name).sort()).toEqual(['ctx/context.tar.gz', 'ctx/small.txt']);
});
