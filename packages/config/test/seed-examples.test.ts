// Every example config of the W&B launch agent guide (examples/launch-config/, placeholders filled in)
// is valid and means what the document says.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfigText } from '../src/load/load-config.js';
import { normalizeConfig } from '../src/normalize.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'examples', 'launch-config');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

function settingsOf(file: string) {
  const result = checkConfigText(readFileSync(join(dir, file), 'utf8'), file);
  expect(result.errors).toEqual([]);
  return normalizeConfig(result.config!);
}

test('the examples directory holds every cloud and builder of the W&B launch agent guide', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      'aws-kaniko.yaml',
      'aws-docker.yaml',
      'gcp-kaniko.yaml',
      'gcp-docker.yaml',
      'azure-kaniko.yaml',
      'azure-docker.yaml',
      'kaniko-config.yaml',
    ]),
  );
});

test.each(files)('%s is valid', (file) => {
  settingsOf(file);
});

test('AWS: ECR destination and S3 context store', () => {
  const s = settingsOf('aws-kaniko.yaml');
  expect(s.environment).toEqual({ type: 'aws', region: 'us-east-1' });
  expect(s.builder.type).toBe('kaniko');
  expect(s.builder.destination).toMatchObject({
    kind: 'ecr',
    ecr: { account: '123456789012', region: 'us-east-1' },
    repository: 'launch-images',
  });
  expect(s.builder.buildContextStore).toMatchObject({
    kind: 's3',
    bucket: 'my-launch-bucket',
    prefix: 'contexts',
  });
});

test('GCP: the uri key becomes the destination', () => {
  const s = settingsOf('gcp-kaniko.yaml');
  expect(s.environment).toEqual({ type: 'gcp', region: 'us-central1', project: 'my-ml-project' });
  expect(s.builder.destination).toMatchObject({
    kind: 'artifact-registry',
    artifactRegistry: {
      location: 'us-central1',
      project: 'my-ml-project',
      repository: 'launch',
      image: 'images',
    },
  });
  expect(s.builder.buildContextStore).toMatchObject({ kind: 'gcs', bucket: 'my-launch-bucket' });
});

test('Azure: https:// is stripped and the blob container is parsed', () => {
  const s = settingsOf('azure-kaniko.yaml');
  expect(s.environment).toEqual({ type: 'azure' });
  expect(s.builder.destination).toMatchObject({
    kind: 'acr',
    reference: 'myregistry.azurecr.io/launch-images',
  });
  expect(s.builder.buildContextStore).toMatchObject({
    kind: 'azure-blob',
    account: 'mystorageacct',
    container: 'contexts',
  });
});

test('kaniko-config and build-job-name are carried through', () => {
  const s = settingsOf('kaniko-config.yaml');
  expect(s.builder.buildJobName).toBe('wandb-image-build');
  expect(s.builder.kanikoConfig).toEqual({
    spec: {
      template: {
        spec: {
          containers: [
            { args: ['--cache=false'], env: [{ name: 'MY_ENV_VAR', value: 'my-env-var-value' }] },
          ],
        },
      },
    },
  });
});
