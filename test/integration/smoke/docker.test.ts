// Smoke test: the Docker Engine API (podman's service) through dockerode, and both OCI
// registries. Builds a FROM scratch image (nothing is pulled), pushes it to the open registry and
// to the htpasswd one (credentials in X-Registry-Auth), then asks each registry over its HTTP API
// whether the manifest exists.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import Docker from 'dockerode';

import { requireServices, uniqueName, type TestEnv } from '../testenv.js';

let env: TestEnv;
let docker: Docker;
let context: string;
const repo = 'smoke/scratch';
const tag = uniqueName('t');
const refs: string[] = [];

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface Progress {
  error?: string;
  errorDetail?: { message?: string };
  stream?: string;
  aux?: { ID?: string };
}

async function follow(stream: NodeJS.ReadableStream): Promise<Progress[]> {
  const out = await new Promise<Progress[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: Progress[]) =>
      err ? reject(err) : resolve(res),
    ),
  );
  const failed = out.find((p) => p.error || p.errorDetail);
  if (failed) throw new Error(failed.error ?? failed.errorDetail?.message);
  return out;
}

beforeAll(async () => {
  env = await requireServices('docker', 'registry', 'auth-registry');
  docker = new Docker({ socketPath: env.dockerSocket });
  context = mkdtempSync(path.join(tmpdir(), 'smoke-docker-'));
  writeFileSync(
    path.join(context, 'Dockerfile'),
    'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.example.smoke=1\n',
  );
  writeFileSync(path.join(context, 'hello.txt'), `hello from ${tag}\n`);
});

afterAll(async () => {
  rmSync(context, { recursive: true, force: true });
  for (const ref of refs)
    await docker
      ?.getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
});

test('the Engine API answers', async () => {
  const version = await docker.version();
  expect(version.ApiVersion).toBeTruthy();
  expect(String(await docker.ping())).toBe('OK');
});

test('builds FROM scratch and pushes to both registries', async () => {
  const openRef = `${env.registry}/${repo}:${tag}`;
  const authRef = `${env.authRegistry}/${repo}:${tag}`;
  refs.push(openRef, authRef);

  await follow(
    await docker.buildImage({ context, src: ['Dockerfile', 'hello.txt'] }, { t: openRef }),
  );
  const info = await docker.getImage(openRef).inspect();
  expect(info.Config.Labels?.['org.example.smoke']).toBe('1');

  // Open registry: no credentials.
  await follow(await docker.getImage(`${env.registry}/${repo}`).push({ tag }));

  // htpasswd registry: the credentials travel base64-encoded in X-Registry-Auth.
  await docker.getImage(openRef).tag({ repo: `${env.authRegistry}/${repo}`, tag });
  await follow(
    await docker.getImage(`${env.authRegistry}/${repo}`).push({
      tag,
      authconfig: {
        username: env.authRegistryUser,
        password: env.authRegistryPassword,
        serveraddress: env.authRegistry,
      },
    }),
  );

  const open = await fetch(`http://${env.registry}/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: MANIFEST_TYPES },
  });
  expect(open.status).toBe(200);
  expect(open.headers.get('docker-content-digest')).toMatch(/^sha256:[0-9a-f]{64}$/);
  const manifest = (await open.json()) as { layers?: unknown[] };
  expect(manifest.layers).toHaveLength(1);

  const anonymous = await fetch(`http://${env.authRegistry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_TYPES },
  });
  expect(anonymous.status).toBe(401);

  const basic = Buffer.from(`${env.authRegistryUser}:${env.authRegistryPassword}`).toString(
    'base64',
  );
  const authed = await fetch(`http://${env.authRegistry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_TYPES, Authorization: `Basic ${basic}` },
  });
  expect(authed.status).toBe(200);
  expect(authed.headers.get('docker-content-digest')).toBe(
    open.headers.get('docker-content-digest'),
  );

  // A tag that was never pushed is a 404: the "does the image exist" check the build engine makes.
  const missing = await fetch(`http://${env.registry}/v2/${repo}/manifests/never-pushed`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_TYPES },
  });
  expect(missing.status).toBe(404);
});

test('a push with wrong credentials fails', async () => {
  const ref = `${env.authRegistry}/${repo}:${tag}-denied`;
  refs.push(ref);
  await follow(await docker.buildImage({ context, src: ['Dockerfile', 'hello.txt'] }, { t: ref }));
  await expect(
    docker
      .getImage(`${env.authRegistry}/${repo}`)
      .push({
        tag: `${tag}-denied`,
        authconfig: {
          username: env.authRegistryUser,
          password: 'wrong',
          serveraddress: env.authRegistry,
        },
      })
      .then(follow),
  ).rejects.toThrow(/unauthorized|authentication required|401/i);
});
