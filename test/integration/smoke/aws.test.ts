// Smoke test: S3 and ECR (moto server) through the AWS SDK v3 clients the runtime uses. The
// clients get no endpoint or credentials here: AWS_ENDPOINT_URL, AWS_REGION and the dummy keys
// come from the environment (scripts/testenv env), as they would from a real one.
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
} from '@aws-sdk/client-ecr';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { requireServices, uniqueName } from '../testenv.js';

beforeAll(() => requireServices('aws'));

test('S3: creates a bucket, puts and gets an object', async () => {
  const s3 = new S3Client({ forcePathStyle: true });
  const bucket = uniqueName('smoke-s3');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const body = Buffer.from(`context for ${bucket}`);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ctx/context.tar.gz', Body: body }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ctx/context.tar.gz' }));
  expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
  s3.destroy();
});

test('ECR: creates a repository and describes its images', async () => {
  const ecr = new ECRClient({});
  const name = uniqueName('smoke/ecr');
  const created = await ecr.send(new CreateRepositoryCommand({ repositoryName: name }));
  expect(created.repository?.repositoryUri).toMatch(/\.dkr\.ecr\.us-east-1\.amazonaws\.com\//);

  const repos = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }));
  expect(repos.repositories?.[0]?.repositoryName).toBe(name);

  const images = await ecr.send(new DescribeImagesCommand({ repositoryName: name }));
  expect(images.imageDetails).toEqual([]);

  // The existence check for a tag that is not there.
  await expect(
    ecr.send(
      new DescribeImagesCommand({ repositoryName: name, imageIds: [{ imageTag: 'absent' }] }),
    ),
  ).rejects.toMatchObject({ name: 'ImageNotFoundException' });

  const auth = await ecr.send(new GetAuthorizationTokenCommand({}));
  expect(auth.authorizationData?.[0]?.authorizationToken).toBeTruthy();
  ecr.destroy();
});
