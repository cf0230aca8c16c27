// Paths the README and docs/ name in backticks exist, so a map of the tree cannot drift from it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const TOP = /^(packages|charts|schemas|scripts|test|docs|examples|images)\//;

/** `a/b.ts` and, after it in the same table cell or sentence, `c.ts` relative to a/. */
function namedPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    let base: string | undefined;
    for (const match of line.matchAll(/`([\w@./-]+)`/g)) {
      const name = match[1]!;
      if (TOP.test(name)) {
        paths.push(name);
        const src = name.indexOf('/src/');
        base = src === -1 ? undefined : name.slice(0, src + 5);
      } else if (base && /^[\w-]+\/[\w./-]*\.ts$/.test(name)) {
        paths.push(base + name); // `agent/lease.ts` after `packages/runtime/src/...`
      } else if (base && /^[\w-]+\.ts$/.test(name)) {
        // `kaniko-builder.ts` beside the file before it, or inside the folder before it.
        const last = paths[paths.length - 1]!;
        paths.push(join(last.endsWith('/') ? last : dirname(last), name));
      }
    }
  }
  return paths.map((path) => path.replace(/[.,]$/, ''));
}

const documents = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe.each(documents)('%s', (document) => {
  it('names only paths that exist', () => {
    const missing = namedPaths(readFileSync(join(root, document), 'utf8')).filter(
      (path) => !path.includes('*') && !existsSync(join(root, path)),
    );
    expect(missing).toEqual([]);
  });
});

it('reads the README map of where things are', () => {
  const paths = namedPaths(readFileSync(join(root, 'README.md'), 'utf8'));
  expect(paths).toEqual(
    expect.arrayContaining([
      'packages/runtime/src/agent/reconcile.ts',
      'packages/runtime/src/agent/launch-agent.ts',
      'packages/runtime/src/context/source-hash.ts',
      'packages/runtime/src/builders/kaniko/kaniko-builder.ts',
    ]),
  );
});
