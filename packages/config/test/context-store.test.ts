import { parseContextStore } from '../src/uri/context-store.js';

describe('parseContextStore', () => {
  test.each([
    ['s3://my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my.bucket/path/to/', { kind: 's3', bucket: 'my.bucket', prefix: 'path/to' }],
    ['gs://my_bucket/contexts', { kind: 'gcs', bucket: 'my_bucket', prefix: 'contexts' }],
    [
      'https://acct123.blob.core.windows.net/contexts/team',
      {
        kind: 'azure-blob',
        account: 'acct123',
        container: 'contexts',
        prefix: 'team',
        endpoint: 'https://acct123.blob.core.windows.net',
      },
    ],
    ['pvc://launch-contexts', { kind: 'pvc', claim: 'launch-contexts', prefix: '' }],
    [
      'pvc://launch-contexts/builds/x',
      { kind: 'pvc', claim: 'launch-contexts', prefix: 'builds/x' },
    ],
  ])('accepts %s', (input, expected) => {
    const result = parseContextStore(input);
    expect(result.errors).toEqual([]);
    expect(result.value).toMatchObject({ ...expected, uri: input });
  });

  test.each([
    ['s3://A_Bucket/x', /not a valid S3 bucket/],
    ['gs://x/y', /not a valid Cloud Storage bucket/],
    ['https://example.com/container', /not an Azure Blob Storage endpoint/],
    ['https://acct.blob.core.windows.net', /container is missing/],
    ['https://acct.blob.core.windows.net/Bad--Name', /not a valid Azure Blob container/],
    ['pvc://Not_A_Claim/x', /not a valid PersistentVolumeClaim/],
    ['ftp://host/path', /unsupported scheme/],
    ['my-bucket/path', /not a build-context store URI/],
    ['s3://bucket/../escape', /"\." or "\.\."/],
  ])('rejects %s', (input, message) => {
    const result = parseContextStore(input);
    expect(result.value).toBeUndefined();
    expect(result.errors[0]?.path).toBe('builder.build-context-store');
    expect(result.errors[0]?.message).toMatch(message);
  });
});
