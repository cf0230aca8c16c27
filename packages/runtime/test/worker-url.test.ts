import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { workerUrl } from '../src/context/worker-url.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A directory holding `files` (empty), and the URL of a module `from` inside it. */
function layout(files: string[], from: string): { root: string; from: URL } {
  const root = mkdtempSync(join(tmpdir(), 'worker-url-'));
  roots.push(root);
  for (const file of files) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), '');
  }
  return { root, from: pathToFileURL(join(root, from)) };
}

describe('workerUrl', () => {
  it('finds the compiled worker beside the module (packages/runtime/dist/context/)', () => {
    const { root, from } = layout(['context/hash-worker.js'], 'context/hash-pool.js');
    expect(workerUrl('hash-worker', from).href).toBe(
      pathToFileURL(join(root, 'context/hash-worker.js')).href,
    );
  });

  it('finds the TypeScript source beside the module when there is no .js', () => {
    const { root, from } = layout(['src/tar-worker.ts'], 'src/tar.ts');
    expect(workerUrl('tar-worker', from).href).toBe(
      pathToFileURL(join(root, 'src/tar-worker.ts')).href,
    );
  });

  it('finds the bundle worker beside bin.js from a chunk under dist/chunks/', () => {
    const { root, from } = layout(['dist/bin.js', 'dist/hash-worker.js'], 'dist/chunks/c-X.js');
    expect(workerUrl('hash-worker', from).href).toBe(
      pathToFileURL(join(root, 'dist/hash-worker.js')).href,
    );
  });

  it('names every place it looked when the worker is missing', () => {
    const { root, from } = layout([], 'dist/chunks/c-X.js');
    expect(() => workerUrl('hash-worker', from)).toThrow(
      `the hash-worker module is missing (looked for ${join(root, 'dist/chunks/hash-worker.js')}, ` +
        `${join(root, 'dist/chunks/hash-worker.ts')}, ${join(root, 'dist/hash-worker.js')})`,
    );
  });

  it('finds the real workers of these sources', () => {
    expect(workerUrl('hash-worker').pathname).toMatch(/\/src\/context\/hash-worker\.ts$/);
    expect(workerUrl('tar-worker').pathname).toMatch(/\/src\/context\/tar-worker\.ts$/);
  });
});
