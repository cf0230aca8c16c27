// Real builds: the docker builder streams contexts to podman's Docker Engine API (DOCKER_HOST
// from scripts/testenv) and pushes to the two distribution registries the test environment runs,
// the open one and the htpasswd one. Needs `scripts/testenv up`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDestination } from '@launch-agent/config';
import {
  BuildFailedError,
  buildImage,
  RegistryAuthError,
  SOURCE_HASH_LABEL,
  type BuildReport,
} from '@launch-agent/runtime';
import { DockerBuilder } from '../../packages/runtime/src/builders/docker-builder.js';
import { OciRegistry } from '../../packages/runtime/src/registries/oci-registry.js';
import Docker from 'dockerode';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

let env: TestEnv;
let docker: Docker;
const dirs: string[] = [];

beforeAll(async () => {
  env = await requireServices('docker', 'registry', 'auth-registry');
  docker = new Docker({ socketPath: env.dockerSocket });
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A context that builds FROM scratch, so nothing is pulled. */
function context(
  files: Record<string, string>,
  dockerfile = 'FROM scratch\nCOPY . /app/\n',
): string {
  const root = tempDir('build-ctx-');
  writeFileSync(join(root, 'Dockerfile'), dockerfile);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** GET on the registry API with optional basic auth; returns status and parsed JSON body. */
function registryGet(
  host: string,
  path: string,
  accept: string,
  auth?: string,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `http://${host}${path}`,
      { headers: { Accept: accept, ...(auth ? { Authorization: auth } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text ? (JSON.parse(text) as unknown) : undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The labels of a pushed image, read from its manifest's config blob. */
async function labelsOf(
  host: string,
  repository: string,
  tag: string,
  auth?: string,
): Promise<Record<string, string>> {
  const manifest = await registryGet(
    host,
    `/v2/${repository}/manifests/${tag}`,
    'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    auth,
  );
  expect(manifest.status).toBe(200);
  const digest = (manifest.body as { config: { digest: string } }).config.digest;
  const config = await registryGet(host, `/v2/${repository}/blobs/${digest}`, '*/*', auth);
  return (config.body as { config: { Labels: Record<string, string> } }).config.Labels;
}

function dockerConfig(host: string, user: string, password: string): string {
  const dir = tempDir('docker-config-');
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } },
    }),
    { mode: 0o600 },
  );
  return dir;
}

describe('docker builder against podman and real registries', () => {
  it('builds and pushes to the open registry (port, nested path), then skips the identical rebuild', async () => {
    const repository = `launch-test/${uniqueName('nested')}/app`;
    const destination = parseDestination(`${env.registry}/${repository}`).value!;
    const dir = context({ 'main.py': 'print("hello")\n', 'lib/util.py': 'X = 1\n' });
    const builder = new DockerBuilder({ docker });
    const first: BuildReport = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      builder: () => builder,
    });
    expect(first.status).toBe('built');
    expect(first.image).toBe(`${env.registry}/${repository}:${first.tag}`);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const registry = new OciRegistry(destination);
    expect(await registry.exists(first.tag)).toEqual({ exists: true, digest: first.digest });
    expect((await labelsOf(env.registry, repository, first.tag))[SOURCE_HASH_LABEL]).toBe(
      first.sourceHash,
    );

    let built = 0;
    const second = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      builder: () => {
        built += 1;
        return builder;
      },
    });
    expect(second).toMatchObject({
      status: 'reused',
      existed: true,
      image: first.image,
      digest: first.digest,
    });
    expect(built).toBe(0);
  });

  it('pushes to the htpasswd registry with credentials from DOCKER_CONFIG, and says to log in without them', async () => {
    const repository = `launch-test/${uniqueName('auth')}`;
    const destination = parseDestination(`${env.authRegistry}/${repository}`).value!;
    const dir = context({ 'app.txt': `auth ${repository}\n` });

    const anonymous = new OciRegistry(destination, {
      env: { DOCKER_CONFIG: tempDir('empty-config-') },
    });
    await expect(anonymous.exists('anything')).rejects.toBeInstanceOf(RegistryAuthError);

    const configDir = dockerConfig(
      env.authRegistry,
      env.authRegistryUser,
      env.authRegistryPassword,
    );
    const registry = new OciRegistry(destination, { env: { DOCKER_CONFIG: configDir } });
    const report = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => new DockerBuilder({ docker }),
    });
    expect(report.status).toBe('built');
    expect((await registry.exists(report.tag)).digest).toBe(report.digest);
    const basic = `Basic ${Buffer.from(`${env.authRegistryUser}:${env.authRegistryPassword}`).toString('base64')}`;
    expect(
      (await labelsOf(env.authRegistry, repository, report.tag, basic))[SOURCE_HASH_LABEL],
    ).toBe(report.sourceHash);
  });

  it('builds for the requested platform, and a different platform is a different tag', async () => {
    const repository = `launch-test/${uniqueName('arm')}`;
    const destination = parseDestination(`${env.registry}/${repository}`).value!;
    const dir = context({ 'model.txt': 'weights\n' });
    const builder = () => new DockerBuilder({ docker });
    const arm = await buildImage({
      plan: { contextDir: dir, cacheDir: false, platform: 'linux/arm64' },
      destination,
      builder,
    });
    const amd = await buildImage({
      plan: { contextDir: dir, cacheDir: false, platform: 'linux/amd64' },
      destination,
      builder,
    });
    expect(arm.tag).not.toBe(amd.tag);
    const architecture = async (tag: string) => {
      const manifest = await registryGet(
        env.registry,
        `/v2/${repository}/manifests/${tag}`,
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
      );
      const digest = (manifest.body as { config: { digest: string } }).config.digest;
      return (
        (await registryGet(env.registry, `/v2/${repository}/blobs/${digest}`, '*/*')).body as {
          architecture: string;
        }
      ).architecture;
    };
    expect(await architecture(arm.tag)).toBe('arm64');
    expect(await architecture(amd.tag)).toBe('amd64');
  });

  it('fails a broken Dockerfile with the failing step, and pushes nothing', async () => {
    const repository = `launch-test/${uniqueName('broken')}`;
    const destination = parseDestination(`${env.registry}/${repository}`).value!;
    const dir = context(
      { 'present.txt': 'x' },
      'FROM scratch\nCOPY present.txt /\nCOPY missing.txt /\n',
    );
    const error = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      builder: () => new DockerBuilder({ docker }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildFailedError);
    expect((error as BuildFailedError).step).toMatch(/COPY missing.txt/);
    expect((error as Error).message).toMatch(/missing.txt/);

    const tags = await registryGet(env.registry, `/v2/${repository}/tags/list`, 'application/json');
    expect(tags.status).toBe(404);
  });

  it('sends only what the ignore file lets through, with a Dockerfile (and its own .dockerignore) from outside the context', async () => {
    const repository = `launch-test/${uniqueName('ignore')}`;
    const destination = parseDestination(`${env.registry}/${repository}`).value!;
    const dir = context({ 'keep.txt': 'keep', 'secret.env': 'TOKEN=1' });
    rmSync(join(dir, 'Dockerfile'));
    // The ignore file sits beside the Dockerfile, outside the context: the engine never sees it, so
    // only our filtering can keep secret.env out, and a COPY of it must then fail as with docker build.
    const outside = tempDir('dockerfile-');
    writeFileSync(join(outside, 'Dockerfile.ci.dockerignore'), '*.env\n');
    writeFileSync(
      join(outside, 'Dockerfile.ci'),
      'FROM scratch\nCOPY keep.txt /\nCOPY secret.env /\n',
    );
    const plan = {
      contextDir: dir,
      dockerfile: join(outside, 'Dockerfile.ci'),
      cacheDir: false as const,
    };
    const error = await buildImage({
      plan,
      destination,
      builder: () => new DockerBuilder({ docker }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildFailedError);
    expect((error as Error).message).toMatch(/secret.env/);

    writeFileSync(join(outside, 'Dockerfile.ci'), 'FROM scratch\nCOPY keep.txt /\n');
    const report = await buildImage({
      plan,
      destination,
      builder: () => new DockerBuilder({ docker }),
    });
    expect(report.status).toBe('built');
  });
});
