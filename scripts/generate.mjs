#!/usr/bin/env node
// Regenerates every file derived from schemas/agent-config.schema.json (and the chart's values).
// Each module in scripts/generators/ exports `generate()` returning [{ path, content }].
// `--check` writes nothing and fails when a committed file differs from what would be generated.
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
if (process.argv.includes('--help')) {
  console.log(
    'Usage: node scripts/generate.mjs [--check]\n\nRegenerates files derived from the schema; --check only reports stale ones (exit 1).',
  );
  process.exit(0);
}

const generatorDir = join(root, 'scripts', 'generators');
const modules = (await readdir(generatorDir)).filter((f) => f.endsWith('.mjs')).sort();
const stale = [];
for (const file of modules) {
  const { generate } = await import(pathToFileURL(join(generatorDir, file)).href);
  for (const { path, content } of await generate(root)) {
    const target = join(root, path);
    const current = await readFile(target, 'utf8').catch(() => null);
    if (current === content) continue;
    if (check) {
      stale.push(relative(root, target));
    } else {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
      console.log(`generated ${relative(root, target)}`);
    }
  }
}
if (stale.length > 0) {
  console.error(
    `Stale generated files (run \`pnpm generate\` and commit):\n  ${stale.join('\n  ')}`,
  );
  process.exit(1);
}
