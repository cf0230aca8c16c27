// `doctor` registry and Docker engine checks against the test environment: the open and the
// htpasswd registries (distribution), ECR on moto, podman's Docker API, and the API server.
import { CreateRepositoryCommand, ECRClient } from '@aws-sdk/client-ecr';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import {
  checkConfigText,
  normalizeConfig,
  type AgentSettings,
} from '../../packages/config/src/index.js';
import { type DoctorCheck } from '../../packages/runtime/src/doctor/doctor-check.js';
import { runDoctor } from '../../packages/runtime/src/doctor/run-doctor.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

let env: TestEnv;
beforeAll(async () => {
  env = await requireServices('registry', 'auth-registry', 'aws', 'docker', 'kubernetes');
});

function settings(yaml: string): AgentSettings {
  const checked = checkConfigText(yaml, 'doctor.yaml');
  if (!checked.config) throw new Error(JSON.stringify(checked.errors));
  return normalizeConfig(checked.config);
}

function dockerConfigWith(host: string, user: string, password: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-docker-config-'));
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return dir;
}

function byId(checks: DoctorCheck[]): Record<string, DoctorCheck> {
  return Object.fromEntries(checks.map((c) => [c.id, c]));
}

test('docker builder, open registry: engine, registry and Kubernetes checks pass', async () => {
  const checks = await runDoctor(
    settings(`builder: {type: docker, destination: ${env.registry}/doctor/${uniqueName('open')}}`),
  );
  const got = byId(checks);
  expect(got['docker.engine']).toMatchObject({
    ok: true,
    summary: expect.stringContaining('answers at'),
  });
  expect(got['registry.reachable']).toMatchObject({ ok: true });
  expect(got['registry.push']).toMatchObject({
    ok: true,
    summary: expect.stringContaining('accepted a blob upload'),
  });
  // The test environment's KUBECONFIG is an administrator's.
  expect(got['kubernetes.access']).toMatchObject({
    ok: true,
    summary: expect.stringContaining('may refuse LaunchJobs created in its own namespace default'),
  });
  expect(checks.every((c) => c.ok)).toBe(true);
});

test('htpasswd registry: the right login may push, a wrong one is refused with the fix', async () => {
  const config = settings(
    `builder: {type: docker, destination: ${env.authRegistry}/doctor/${uniqueName('auth')}}`,
  );
  const good = dockerConfigWith(env.authRegistry, env.authRegistryUser, env.authRegistryPassword);
  const ok = byId(
    await runDoctor(config, {
      registry: { oci: { env: { ...process.env, DOCKER_CONFIG: good } } },
    }),
  );
  expect(ok['registry.reachable']?.ok).toBe(true);
  expect(ok['registry.push']?.ok).toBe(true);

  const bad = dockerConfigWith(env.authRegistry, env.authRegistryUser, 'not-the-password');
  const refused = byId(
    await runDoctor(config, { registry: { oci: { env: { ...process.env, DOCKER_CONFIG: bad } } } }),
  );
  expect(refused['registry.reachable']).toMatchObject({
    ok: false,
    fix: expect.stringContaining('docker login'),
  });
  // The password itself never appears in what doctor reports.
  expect(JSON.stringify(refused)).not.toContain('not-the-password');
});

test('htpasswd registry without any login: reachable fails and says how to log in', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'doctor-docker-config-'));
  const config = settings(`builder: {type: docker, destination: ${env.authRegistry}/doctor/none}`);
  const got = byId(
    await runDoctor(config, {
      registry: { oci: { env: { ...process.env, DOCKER_CONFIG: empty } } },
    }),
  );
  expect(got['registry.reachable']).toMatchObject({
    ok: false,
    fix: expect.stringMatching(/docker login/),
  });
  expect(got['registry.push']).toBeUndefined();
});

test('ECR on moto: an existing repository passes lookup and push; a missing one fails push with the fix', async () => {
  const repository = uniqueName('doctor/ecr');
  const ecr = new ECRClient({});
  await ecr.send(new CreateRepositoryCommand({ repositoryName: repository }));
  ecr.destroy();
  const host = `123456789012.dkr.ecr.${env.awsRegion}.amazonaws.com`;
  const ok = byId(
    await runDoctor(settings(`builder: {type: docker, destination: ${host}/${repository}}`)),
  );
  expect(ok['registry.reachable']?.ok).toBe(true);
  expect(ok['registry.push']).toMatchObject({
    ok: true,
    summary: expect.stringContaining('InitiateLayerUpload'),
  });

  const missing = byId(
    await runDoctor(
      settings(`builder: {type: docker, destination: ${host}/${uniqueName('absent')}}`),
    ),
  );
  expect(missing['registry.push']).toMatchObject({
    ok: false,
    summary: expect.stringContaining('does not exist'),
    fix: expect.stringContaining('aws ecr create-repository'),
  });
});

test('an unreachable registry and no Docker engine fail with their fixes', async () => {
  const checks = byId(
    await runDoctor(settings('builder: {type: docker, destination: 127.0.0.1:9/doctor/nothing}'), {
      docker: new Docker({ socketPath: join(tmpdir(), 'no-such-docker.sock') }),
    }),
  );
  expect(checks['docker.engine']).toMatchObject({
    ok: false,
    fix: expect.stringContaining('DOCKER_HOST'),
  });
  expect(checks['registry.reachable']).toMatchObject({
    ok: false,
    summary: expect.stringContaining('not reachable'),
  });
});
