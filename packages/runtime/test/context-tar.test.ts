import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { createBuildPlan } from '../src/build/build-plan.js';
import { ContextChangedError, createContextTar } from '../src/build/context-tar.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tar-'));
  roots.push(d);
  return d;
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  mtime: number;
  uid: number;
  linkname?: string | null;
  body: string;
}

async function readTar(stream: NodeJS.ReadableStream): Promise<Entry[]> {
  const extract = tar.extract();
  const entries: Entry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      let text = '';
      body.on('data', (c: Buffer) => (text += c.toString()));
      body.on('end', () => {
        entries.push({
          name: header.name,
          type: header.type ?? 'file',
          mode: header.mode ?? 0,
          mtime: header.mtime?.getTime() ?? -1,
          uid: header.uid ?? -1,
          linkname: header.linkname,
          body: text,
        });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    (stream as NodeJS.ReadableStream & { on(e: 'error', l: (e: Error) => void): void }).on(
      'error',
      reject,
    );
  });
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return entries;
}

describe('context tar', () => {
  it('sends exactly the planned entries, with normalized modes, owner and mtime', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(join(root, '.dockerignore'), 'secret.txt\n');
    writeFileSync(join(root, 'secret.txt'), 'do not send');
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin/run'), '#!/bin/sh\n');
    chmodSync(join(root, 'bin/run'), 0o700);
    writeFileSync(join(root, 'private.txt'), 'p');
    chmodSync(join(root, 'private.txt'), 0o600);
    symlinkSync('bin/run', join(root, 'run'));
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    const tarred = createContextTar(plan);
    expect(tarred.dockerfileName).toBe('Dockerfile');
    const entries = await readTar(tarred.stream);
    const byName = Object.fromEntries(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
    expect(Object.keys(byName).sort()).toEqual([
      '.dockerignore',
      'Dockerfile',
      'bin',
      'bin/run',
      'private.txt',
      'run',
    ]);
    expect(byName['bin/run']).toMatchObject({ mode: 0o755, body: '#!/bin/sh\n', uid: 0, mtime: 0 });
    expect(byName['private.txt']).toMatchObject({ mode: 0o644 });
    expect(byName['bin']).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(byName['run']).toMatchObject({ type: 'symlink', linkname: 'bin/run' });
  });

  it('adds a Dockerfile from outside the context under a name of its own', async () => {
    const root = dir();
    const elsewhere = dir();
    writeFileSync(join(root, 'app.txt'), 'app');
    writeFileSync(join(elsewhere, 'Dockerfile.prod'), 'FROM scratch\nCOPY app.txt /\n');
    const plan = await createBuildPlan({
      contextDir: root,
      dockerfile: join(elsewhere, 'Dockerfile.prod'),
      cacheDir: false,
    });
    const tarred = createContextTar(plan);
    expect(tarred.dockerfileName).toMatch(/^\.launch-agent-dockerfile-[0-9a-f]{12}$/);
    const entries = await readTar(tarred.stream);
    expect(entries.find((e) => e.name === tarred.dockerfileName)?.body).toBe(
      'FROM scratch\nCOPY app.txt /\n',
    );
    expect(entries.map((e) => e.name)).toContain('app.txt');
  });

  it('fails rather than send a file whose bytes differ from what was hashed', async () => {
    const root = dir();
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(join(root, 'data.txt'), 'aaaa');
    const plan = await createBuildPlan({ contextDir: root, cacheDir: false });
    writeFileSync(join(root, 'data.txt'), 'bbbb');
    await expect(readTar(createContextTar(plan).stream)).rejects.toBeInstanceOf(
      ContextChangedError,
    );
  });
});
