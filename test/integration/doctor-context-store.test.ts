// `doctor` context-store checks for the kaniko builder: moto (S3), fake-gcs-server (GCS), Azurite
// (Azure Blob) and a temporary directory standing in for a mounted PVC.
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkConfigText,
  normalizeConfig,
  type AgentSettings,
} from '../../packages/config/src/index.js';
import { type DoctorCheck } from '../../packages/runtime/src/doctor/doctor-check.js';
import { PROBE_PREFIX, runDoctor } from '../../packages/runtime/src/doctor/run-doctor.js';
import { gcsClient } from '../../packages/runtime/src/storage/gcs-context-store.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

let env: TestEnv;
beforeAll(async () => {
  env = await requireServices('registry', 'aws', 'gcs', 'azure');
});

/** kaniko with its own build ServiceAccount: doctor checks lookup, store and (no) Kubernetes. */
function kaniko(store: string): AgentSettings {
  const checked = checkConfigText(
    `builder:
  type: kaniko
  destination: ${env.registry}/doctor/kaniko
  build-context-store: ${store}
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-build}
`,
    'doctor.yaml',
  );
  if (!checked.config) throw new Error(JSON.stringify(checked.errors));
  return normalizeConfig(checked.config);
}

async function storeCheck(settings: AgentSettings, pvcMountPath?: string): Promise<DoctorCheck> {
  const checks = await runDoctor(settings, {
    env: { ...process.env, KUBECONFIG: '' },
    ...(pvcMountPath ? { pvcMountPath } : {}),
  });
  expect(checks.find((c) => c.id === 'registry.push')).toMatchObject({ skipped: true });
  return checks.find((c) => c.id === 'context-store.write')!;
}

test('S3: writable bucket passes and leaves nothing behind; a missing bucket fails with the fix', async () => {
  const s3 = new S3Client({ forcePathStyle: true });
  const bucket = uniqueName('doctor-s3');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  expect(await storeCheck(kaniko(`s3://${bucket}/launch`))).toMatchObject({ ok: true });
  const left = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: `launch/${PROBE_PREFIX}` }),
  );
  expect(left.KeyCount ?? 0).toBe(0);
  s3.destroy();

  expect(await storeCheck(kaniko(`s3://${uniqueName('doctor-missing')}`))).toMatchObject({
    ok: false,
    summary: expect.stringContaining('does not exist'),
    fix: expect.stringContaining('Create it'),
  });
});

test('GCS: writable bucket passes; a missing bucket fails', async () => {
  const bucket = uniqueName('doctor-gcs');
  await gcsClient('testenv').bucket(bucket).create();
  expect(await storeCheck(kaniko(`gs://${bucket}/launch`))).toMatchObject({ ok: true });
  expect((await storeCheck(kaniko(`gs://${uniqueName('doctor-missing')}`))).ok).toBe(false);
});

test('Azure Blob: writable container passes; a missing container fails with the fix', async () => {
  const container = uniqueName('doctor-azure');
  await BlobServiceClient.fromConnectionString(env.azureConnectionString)
    .getContainerClient(container)
    .create();
  expect(
    await storeCheck(kaniko(`https://mlcontexts.blob.core.windows.net/${container}/launch`)),
  ).toMatchObject({ ok: true });
  expect(
    await storeCheck(kaniko(`https://mlcontexts.blob.core.windows.net/${uniqueName('missing')}`)),
  ).toMatchObject({ ok: false, fix: expect.stringContaining('Create it') });
});

test('PVC: a mounted directory passes and is left empty; a missing mount fails with the fix', async () => {
  const mount = mkdtempSync(join(tmpdir(), 'doctor-pvc-'));
  expect(await storeCheck(kaniko('pvc://launch-contexts/builds'), mount)).toMatchObject({
    ok: true,
  });
  expect(readdirSync(join(mount, 'builds', PROBE_PREFIX))).toEqual([]);
  expect(
    await storeCheck(kaniko('pvc://launch-contexts/builds'), '/nonexistent/contexts'),
  ).toMatchObject({
    ok: false,
    fix: expect.stringContaining('Mount the claim launch-contexts'),
  });
});
