// Smoke test: Azure Blob (Azurite) through @azure/storage-blob, with the well-known development
// account from AZURE_STORAGE_CONNECTION_STRING (scripts/testenv env).
import { BlobServiceClient } from '@azure/storage-blob';

import { requireServices, uniqueName } from '../testenv.js';

beforeAll(() => requireServices('azure'));

test('creates a container, uploads and downloads a blob', async () => {
  const service = BlobServiceClient.fromConnectionString(
    process.env.AZURE_STORAGE_CONNECTION_STRING!,
  );
  const container = service.getContainerClient(uniqueName('smoke-azure'));
  await container.create();

  const data = Buffer.from('hello azure blob');
  const blob = container.getBlockBlobClient('ctx/context.tar.gz');
  await blob.uploadData(data);
  expect(await blob.downloadToBuffer()).toEqual(data);

  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix: 'ctx/' })) names.push(b.name);
  expect(names).toEqual(['ctx/context.tar.gz']);
});
