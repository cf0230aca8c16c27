import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDestination } from '@launch-agent/config';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { createBuildPlan, type BuildPlan } from '../src/context/build-plan.js';
import {
  BuildFailedError,
  PushFailedError,
  type ProgressReporter,
} from '../src/builders/builder.js';
import { DockerBuilder, DockerEngineError } from '../src/builders/docker-builder.js';
import { cutMarker, MAX_LOG_LINE_CHARS, MAX_LOG_TAIL_CHARS } from '../src/builders/log-lines.js';
import {
  RegistryCredentials,
  type ImageLookup,
  type Registry,
} from '../src/registries/registry.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;
const SECRET = 'engine-test-secret';
const roots: string[] = [];
const servers: Server[] = [];
afterAll(() => {
  servers.forEach((s) => s.close());
  roots.forEach((r) => rmSync(r, { recursive: true, force: true }));
});

interface Seen {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  tarNames: string[];
}

/**
 * A stand-in Docker Engine on a unix socket: records each request (and the names in a build
 * context tar) and answers with the scripted JSON lines, always with HTTP 200 as Docker does.
 */
async function fakeEngine(script: {
  build: object[];
  push?: object[];
}): Promise<{ docker: Docker; seen: Seen[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'engine-'));
  roots.push(dir);
  const socketPath = join(dir, 'docker.sock');
  const seen: Seen[] = [];
  const reply = (res: ServerResponse, lines: object[]) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (const line of lines) res.write(`${JSON.stringify(line)}\r\n`);
    res.end();
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://engine');
    const record: Seen = { method: req.method!, url, headers: req.headers, tarNames: [] };
    seen.push(record);
    if (url.pathname.endsWith('/build')) {
      const extract = tar.extract();
      extract.on('entry', (header, body, next) => {
        record.tarNames.push(header.name);
        body.resume();
        body.on('end', next);
      });
      extract.on('finish', () => reply(res, script.build));
      req.pipe(extract as unknown as NodeJS.WritableStream);
    } else if (url.pathname.endsWith('/push')) {
      req.resume();
      reply(res, script.push ?? []);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  servers.push(server);
  return { docker: new Docker({ socketPath }), seen };
}

async function plan(): Promise<BuildPlan> {
  const root = mkdtempSync(join(tmpdir(), 'builder-ctx-'));
  roots.push(root);
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY app.txt /\n');
  writeFileSync(join(root, 'app.txt'), 'hello');
  return createBuildPlan({
    contextDir: root,
    cacheDir: false,
    buildArgs: { VERSION: '1.2' },
    platform: 'linux/amd64',
  });
}

function fakeRegistry(lookup: ImageLookup = { exists: false }): Registry & { checks: number } {
  const destination = parseDestination('127.0.0.1:5000/team/app').value!;
  return {
    destination,
    repositoryUri: destination.reference,
    checks: 0,
    imageReference: (tag) => `${destination.reference}:${tag}`,
    async exists() {
      this.checks += 1;
      return lookup;
    },
    credentials: async () => RegistryCredentials.password('127.0.0.1:5000', 'ann', SECRET),
    prepareForPush: async () => {},
  };
}

function recorder(): ProgressReporter & { phases: string[]; text: string } {
  return {
    phases: [],
    text: '',
    phase(name) {
      this.phases.push(name);
    },
    output(text) {
      this.text += text;
    },
    transfer() {},
  };
}

const okBuild = [
  { stream: 'Step 1/2 : FROM scratch\n' },
  { stream: 'Step 2/2 : COPY app.txt /\n' },
  { aux: { ID: 'sha256:1111' } },
  { stream: 'Successfully built 1111\n' },
];

describe('docker builder', () => {
  it('streams the context to /build, pushes with X-Registry-Auth and reports the pushed digest', async () => {
    const { docker, seen } = await fakeEngine({
      build: okBuild,
      push: [
        { status: 'The push refers to repository [127.0.0.1:5000/team/app]' },
        { status: 'Pushing', id: 'layer1', progressDetail: { current: 5, total: 5 } },
        { status: `x: digest: ${DIGEST} size: 528` },
        { aux: { Tag: 'x', Digest: DIGEST, Size: 528 } },
      ],
    });
    const p = await plan();
    const registry = fakeRegistry();
    const progress = recorder();
    const result = await new DockerBuilder({ docker }).build({
      plan: p,
      destination: registry.destination,
      tag: p.tag,
      imageReference: registry.imageReference(p.tag),
      registry,
      progress,
    });
    expect(result.digest).toBe(DIGEST);
    expect(result.imageId).toBe('sha256:1111');
    expect(progress.phases).toEqual(['build', 'push']);
    expect(progress.text).toContain('Step 2/2');

    const build = seen.find((s) => s.url.pathname.endsWith('/build'))!;
    expect(build.url.searchParams.get('t')).toBe(`127.0.0.1:5000/team/app:${p.tag}`);
    expect(build.url.searchParams.get('dockerfile')).toBe('Dockerfile');
    expect(build.url.searchParams.get('platform')).toBe('linux/amd64');
    expect(JSON.parse(build.url.searchParams.get('buildargs')!)).toEqual({ VERSION: '1.2' });
    expect(JSON.parse(build.url.searchParams.get('labels')!)).toMatchObject({
      'dev.launch-agent.source-hash': p.sourceHash,
    });
    expect(build.tarNames.sort()).toEqual(['Dockerfile', 'app.txt']);
    expect(build.url.search).not.toContain(SECRET);

    const push = seen.find((s) => s.url.pathname.endsWith('/push'))!;
    expect(decodeURIComponent(push.url.pathname)).toBe('/images/127.0.0.1:5000/team/app/push');
    expect(push.url.searchParams.get('tag')).toBe(p.tag);
    const auth = JSON.parse(
      Buffer.from(String(push.headers['x-registry-auth']), 'base64url').toString('utf8'),
    );
    expect(auth).toEqual({ username: 'ann', password: SECRET, serveraddress: '127.0.0.1:5000' });
  });

  it('fails with the failing step and its output, and pushes nothing, when the build stream reports an error', async () => {
    const { docker, seen } = await fakeEngine({
      build: [
        { stream: 'Step 1/2 : FROM scratch\n' },
        { stream: 'Step 2/2 : RUN ./configure\n' },
        { stream: 'checking for gcc... no\n' },
        {
          errorDetail: {
            code: 1,
            message: "The command '/bin/sh -c ./configure' returned a non-zero code: 1",
          },
          error: 'returned a non-zero code: 1',
        },
      ],
    });
    const p = await plan();
    const registry = fakeRegistry();
    const error = await new DockerBuilder({ docker })
      .build({
        plan: p,
        destination: registry.destination,
        tag: p.tag,
        imageReference: 'x',
        registry,
        progress: recorder(),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildFailedError);
    expect((error as BuildFailedError).step).toBe('Step 2/2 : RUN ./configure');
    expect((error as BuildFailedError).output).toContain('checking for gcc... no');
    expect((error as Error).message).toContain('non-zero code');
    expect(seen.filter((s) => s.url.pathname.endsWith('/push'))).toHaveLength(0);
  });

  it('keeps a capped tail of a failed step that prints a huge line and many lines', async () => {
    const { docker } = await fakeEngine({
      build: [
        { stream: 'Step 1/1 : RUN ./flood\n' },
        // One 2 MiB line without a newline, sent as the engine sends output: in pieces.
        ...Array.from({ length: 64 }, () => ({ stream: 'x'.repeat(32 * 1024) })),
        { stream: '\n' },
        ...Array.from({ length: 500 }, (_, i) => ({ stream: `line ${i}\n` })),
        { errorDetail: { code: 1, message: 'returned a non-zero code: 1' }, error: 'x' },
      ],
    });
    const p = await plan();
    const registry = fakeRegistry();
    const progress = recorder();
    const error = (await new DockerBuilder({ docker })
      .build({
        plan: p,
        destination: registry.destination,
        tag: p.tag,
        imageReference: 'x',
        registry,
        progress,
      })
      .catch((e: unknown) => e)) as BuildFailedError;
    expect(error).toBeInstanceOf(BuildFailedError);
    expect(error.output.length).toBeLessThanOrEqual(MAX_LOG_TAIL_CHARS + 100);
    expect(error.output).toMatch(/^\[\.\.\. \d+ earlier lines not kept\]\nline 460\n/);
    expect(error.output).toContain('line 499');
    // What is forwarded to the agent's log is capped line by line too.
    expect(progress.text.length).toBeLessThan(64 * 1024);
    expect(progress.text).toContain(cutMarker(2 * 1024 * 1024 - MAX_LOG_LINE_CHARS));
  });

  it('fails when the build stream ends without an image', async () => {
    const { docker, seen } = await fakeEngine({ build: [{ stream: 'Step 1/2 : FROM scratch\n' }] });
    const p = await plan();
    const registry = fakeRegistry();
    await expect(
      new DockerBuilder({ docker }).build({
        plan: p,
        destination: registry.destination,
        tag: p.tag,
        imageReference: 'x',
        registry,
        progress: recorder(),
      }),
    ).rejects.toThrow(/without reporting an image/);
    expect(seen.filter((s) => s.url.pathname.endsWith('/push'))).toHaveLength(0);
  });

  it('fails the push on an error line in the push stream, without the secret in the message', async () => {
    const { docker } = await fakeEngine({
      build: okBuild,
      push: [
        { status: 'Preparing', id: 'l1' },
        {
          errorDetail: { message: 'unauthorized: authentication required' },
          error: 'unauthorized',
        },
      ],
    });
    const p = await plan();
    const registry = fakeRegistry();
    const error = await new DockerBuilder({ docker })
      .build({
        plan: p,
        destination: registry.destination,
        tag: p.tag,
        imageReference: 'x',
        registry,
        progress: recorder(),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushFailedError);
    expect((error as Error).message).toMatch(/authentication required/);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('asks the registry for the digest when the engine does not report one', async () => {
    const { docker } = await fakeEngine({ build: okBuild, push: [{ status: 'Pushed', id: 'l1' }] });
    const p = await plan();
    const registry = fakeRegistry({ exists: true, digest: DIGEST });
    const result = await new DockerBuilder({ docker }).build({
      plan: p,
      destination: registry.destination,
      tag: p.tag,
      imageReference: 'x',
      registry,
      progress: recorder(),
    });
    expect(result.digest).toBe(DIGEST);
    expect(registry.checks).toBe(1);
  });

  it('says where it looked when no engine answers', async () => {
    const p = await plan();
    const registry = fakeRegistry();
    const docker = new Docker({ socketPath: join(tmpdir(), 'no-such-engine.sock') });
    await expect(
      new DockerBuilder({ docker }).build({
        plan: p,
        destination: registry.destination,
        tag: p.tag,
        imageReference: 'x',
        registry,
        progress: recorder(),
      }),
    ).rejects.toBeInstanceOf(DockerEngineError);
  });
});
