import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDestination, type BuilderSettings } from '@launch-agent/config';
import { buildImage } from '../src/build-engine.js';
import {
  BuilderUnavailableError,
  type Builder,
  type BuildRequest,
} from '../src/builders/builder.js';
import { DockerBuilder } from '../src/builders/docker-builder.js';
import { NoopBuilder } from '../src/builders/noop-builder.js';
import { selectBuilder } from '../src/builders/select-builder.js';
import { RegistryError, type ImageLookup, type Registry } from '../src/registries/registry.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function contextDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'engine-ctx-'));
  roots.push(root);
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(join(root, 'main.py'), 'print(1)\n');
  return root;
}

const destination = parseDestination('localhost:5000/team/app').value!;

/** An in-memory registry: tags pushed by the fake builder become visible. */
function memoryRegistry(): Registry & { tags: Map<string, string>; prepared: number } {
  const tags = new Map<string, string>();
  return {
    destination,
    repositoryUri: destination.reference,
    tags,
    prepared: 0,
    imageReference: (tag) => `${destination.reference}:${tag}`,
    exists: async (tag): Promise<ImageLookup> =>
      tags.has(tag) ? { exists: true, digest: tags.get(tag)! } : { exists: false },
    credentials: async () => undefined,
    async prepareForPush() {
      this.prepared += 1;
    },
  };
}

function fakeBuilder(
  registry: ReturnType<typeof memoryRegistry>,
): Builder & { requests: BuildRequest[] } {
  return {
    name: 'fake',
    requests: [],
    async build(request) {
      this.requests.push(request);
      registry.tags.set(request.tag, 'sha256:built');
      return { digest: 'sha256:built', buildMs: 1, pushMs: 1 };
    },
  };
}

const settings = (type: BuilderSettings['type']): BuilderSettings => ({
  type,
  buildJobName: 'x',
  buildTimeoutSeconds: 1,
  createRepository: false,
  contextPvcMountPath: '/x',
});

describe('build engine', () => {
  it('builds a missing image, then skips the build for identical source and reports the same reference', async () => {
    const dir = contextDir();
    const registry = memoryRegistry();
    const builder = fakeBuilder(registry);
    const first = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => builder,
    });
    expect(first).toMatchObject({
      status: 'built',
      existed: false,
      digest: 'sha256:built',
      builder: 'fake',
    });
    expect(first.image).toBe(`localhost:5000/team/app:${first.tag}`);
    expect(registry.prepared).toBe(1);
    expect(builder.requests[0]!.imageReference).toBe(first.image);

    const second = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => builder,
    });
    expect(second).toMatchObject({
      status: 'reused',
      existed: true,
      image: first.image,
      digest: 'sha256:built',
    });
    expect(builder.requests).toHaveLength(1);
  });

  it('on a dry run only plans and checks', async () => {
    const registry = memoryRegistry();
    const builder = fakeBuilder(registry);
    let selected = false;
    const report = await buildImage({
      plan: { contextDir: contextDir(), cacheDir: false },
      destination,
      registry,
      dryRun: true,
      builder: () => {
        selected = true;
        return builder;
      },
    });
    expect(report).toMatchObject({ status: 'planned', existed: false });
    expect(selected).toBe(false);
    expect(registry.prepared).toBe(0);
  });

  it('lets a noop setup reuse an existing image, and refuses with what to configure when a build is needed', async () => {
    const dir = contextDir();
    const registry = memoryRegistry();
    const noop = new NoopBuilder();
    const error = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => noop,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(BuilderUnavailableError);
    expect(String(error.message)).toMatch(/builder.type: docker/);
    expect(String(error.message)).toMatch(/builder.type: kaniko/);
    await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => fakeBuilder(registry),
    });
    const reused = await buildImage({
      plan: { contextDir: dir, cacheDir: false },
      destination,
      registry,
      builder: () => noop,
    });
    expect(reused.status).toBe('reused');
  });

  it('does not build when the registry cannot be asked', async () => {
    const registry = memoryRegistry();
    registry.exists = async () => {
      throw new RegistryError('down', 'localhost:5000', 'start it');
    };
    const builder = fakeBuilder(registry);
    await expect(
      buildImage({
        plan: { contextDir: contextDir(), cacheDir: false },
        destination,
        registry,
        builder: () => builder,
      }),
    ).rejects.toBeInstanceOf(RegistryError);
    expect(builder.requests).toHaveLength(0);
  });
});

describe('builder selection', () => {
  it('uses docker when there is no builder block and an engine answers, else noop with the reason', async () => {
    const answered = await selectBuilder(settings('auto'), { pingDocker: async () => {} });
    expect(answered.builder).toBeInstanceOf(DockerBuilder);
    const silent = await selectBuilder(settings('auto'), {
      env: { DOCKER_HOST: 'unix:///nowhere.sock' },
      pingDocker: async () => {
        throw new Error('connect ENOENT /nowhere.sock');
      },
    });
    expect(silent.builder).toBeInstanceOf(NoopBuilder);
    expect(silent.reason).toMatch(/no Docker engine answered at unix:\/\/\/nowhere.sock/);
  });

  it('uses the configured type without probing', async () => {
    let probes = 0;
    const probe = async () => {
      probes += 1;
    };
    expect((await selectBuilder(settings('noop'), { pingDocker: probe })).builder).toBeInstanceOf(
      NoopBuilder,
    );
    expect((await selectBuilder(settings('docker'), { pingDocker: probe })).builder).toBeInstanceOf(
      DockerBuilder,
    );
    expect(probes).toBe(0);
  });

  it('takes additional builders as factories, and says when a type has none', async () => {
    await expect(selectBuilder(settings('kaniko'))).rejects.toBeInstanceOf(BuilderUnavailableError);
    const kaniko: Builder = {
      name: 'kaniko',
      build: async () => ({ digest: 'sha256:k', buildMs: 0, pushMs: 0 }),
    };
    expect(
      (await selectBuilder(settings('kaniko'), { factories: { kaniko: () => kaniko } })).builder,
    ).toBe(kaniko);
  });
});
