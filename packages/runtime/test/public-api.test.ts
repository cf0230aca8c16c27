// The runtime's entry point is its public API: each name it exports is documented in docs/api.md,
// each name docs/api.md lists is exported, and importing it loads no cloud SDK or Docker client.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = join(root, 'packages/runtime/src/index.ts');

/** Every name in the entry point's `export { ... }` lists, types included. */
function exportedNames(): string[] {
  const source = readFileSync(entry, 'utf8');
  const names: string[] = [];
  for (const list of source.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const item of list[1]!.split(',')) {
      const name = item
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop();
      if (name) names.push(name);
    }
  }
  return names;
}

/** Names in the first column of docs/api.md's tables: `name` or `name(args)`. */
function documentedNames(): string[] {
  const doc = readFileSync(join(root, 'docs/api.md'), 'utf8');
  const names: string[] = [];
  for (const line of doc.split('\n')) {
    const cell = /^\|\s*([^|]+?)\s*\|/.exec(line)?.[1];
    if (!cell || cell === 'Export' || /^-+$/.test(cell)) continue;
    for (const code of cell.matchAll(/`([A-Za-z_$][\w$]*)/g)) names.push(code[1]!);
  }
  return names;
}

describe('the runtime public API', () => {
  it('exports no name twice and has no wildcard re-export', () => {
    const source = readFileSync(entry, 'utf8');
    expect(source).not.toMatch(/export\s+\*/);
    const names = exportedNames();
    expect(names.length).toBeGreaterThan(40);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it('documents each export in docs/api.md, and lists only exports there', () => {
    const exported = new Set(exportedNames());
    const documented = new Set(documentedNames());
    expect([...exported].filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('exports at run time the values its list names', async () => {
    const runtime = (await import('@launch-agent/runtime')) as Record<string, unknown>;
    for (const name of ['buildImage', 'createBuildPlan', 'createRegistry', 'LaunchAgent']) {
      expect(typeof runtime[name]).toBe('function');
    }
    expect(runtime.StatCache).toBeUndefined(); // internal
  });

  it('loads no cloud SDK or Docker client when it is imported', async () => {
    const outdir = join(root, '.public-api-check');
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: { index: entry },
      outdir,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      alias: { '@launch-agent/config': './packages/config/src/index.ts' },
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    const outputs = result.metafile.outputs;
    const start = relative(root, join(outdir, 'index.js'));
    const seen = new Set<string>();
    const eager: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const imported of outputs[file]?.imports ?? []) {
        if (imported.kind !== 'import-statement') continue;
        if (imported.external) eager.push(imported.path);
        else visit(imported.path);
      }
    };
    visit(start);
    expect(outputs[start]).toBeDefined();
    expect(eager).toContain('@kubernetes/client-node'); // the walk sees external packages
    expect(
      eager.filter((path) =>
        /^(@aws-sdk\/|@google-cloud\/|@azure\/|google-auth-library|dockerode)/.test(path),
      ),
    ).toEqual([]);
    // Each cloud module is still reachable, on demand.
    const lazy = Object.values(outputs).flatMap((output) =>
      output.imports.filter((i) => i.external).map((i) => i.path),
    );
    expect(lazy).toEqual(expect.arrayContaining(['@aws-sdk/client-s3', 'dockerode']));
  });
});
