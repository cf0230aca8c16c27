#!/usr/bin/env node
// Bundles the CLI and the agent into packages/cli/dist/bin.js: one ESM entry, tree-shaken, with
// a source map. The cloud SDKs and dockerode stay outside the bundle (packages/cli's
// dependencies) and are imported only where the config or command selects them; the code that
// imports them is split into chunks under dist/chunks/ that load on first use. The build fails
// when the entry's static imports reach one of them, so a new static import cannot undo that.
// The runtime's worker threads are entries of their own, dist/<name>.js beside bin.js, where
// `workerUrl` (packages/runtime/src/context/worker-url.ts) looks for them.
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'packages/cli/dist');

/** Worker modules started with `new Worker(url)`: emitted as dist/<name>.js. */
export const WORKERS = {
  'hash-worker': 'packages/runtime/src/context/hash-worker.ts',
  'tar-worker': 'packages/runtime/src/context/tar-worker.ts',
};

/** Loaded on demand from node_modules; never part of the bundle's start-up. */
export const LAZY_PACKAGES = [
  '@aws-sdk/*',
  '@google-cloud/*',
  '@azure/*',
  'google-auth-library',
  'dockerode',
];

// Modules whose unused exports may be dropped whole. @kubernetes/client-node does not say so in
// its package.json, so esbuild would keep every generated API and model it re-exports; the
// workspace packages are bundled from their sources through an alias, where esbuild does not read
// their package.json. All of them are plain declarations.
const SIDE_EFFECT_FREE =
  /[\\/](?:@kubernetes[\\/]client-node[\\/]dist|packages[\\/](?:config|runtime)[\\/]src)[\\/]/;

export const sideEffectFree = {
  name: 'side-effect-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.sideEffectFree) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { sideEffectFree: true },
      });
      // Anything else, unresolvable ones included (optional requires in try blocks), as esbuild would.
      if (resolved.errors.length > 0 || resolved.external) return undefined;
      return SIDE_EFFECT_FREE.test(resolved.path) ? { ...resolved, sideEffects: false } : resolved;
    });
  },
};

// Node 24's `node:http` has lazy getters (WebSocket, CloseEvent, MessageEvent) that load the
// undici it carries. An ESM import of a built-in reads every export to fill the module namespace,
// so `import http from 'node:http'` (ours, @kubernetes/client-node's) loads undici, about 14 MB of
// RSS, though nothing uses it; a require() leaves the getters alone. The bundle requires it.
export const httpByRequire = {
  name: 'http-by-require',
  setup(build) {
    build.onResolve({ filter: /^(?:node:)?http$/ }, (args) =>
      args.kind === 'import-statement'
        ? { path: 'node:http', namespace: 'http-by-require' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'http-by-require' }, () => ({
      contents: "module.exports = require('node:http');",
      loader: 'js',
    }));
  },
};

function isLazy(path) {
  return LAZY_PACKAGES.some((pattern) =>
    pattern.endsWith('/*')
      ? path.startsWith(pattern.slice(0, -1))
      : path === pattern || path.startsWith(`${pattern}/`),
  );
}

/** Output files the entry loads before any code runs: itself and its static imports. */
function staticClosure(outputs, entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of outputs[file]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(entry);
  return [...seen];
}

export async function bundle({ metafilePath } = {}) {
  await rm(join(outdir, 'chunks'), { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { bin: 'packages/cli/src/bin.ts', ...WORKERS },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    chunkNames: 'chunks/[name]-[hash]',
    // Whitespace and syntax only: names stay as written, so stack traces read without the map.
    // Less source text to hold is less memory: about 8 MB less RSS for the agent.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    // The workspace packages are bundled from their sources, so the map points at .ts files.
    alias: {
      '@launch-agent/config': './packages/config/src/index.ts',
      '@launch-agent/runtime': './packages/runtime/src/index.ts',
      // node-fetch 2 prefers Node's URL; its whatwg-url fallback would only cost memory.
      'whatwg-url': './scripts/bundle-shims/whatwg-url.mjs',
    },
    external: LAZY_PACKAGES,
    // Bundled CommonJS dependencies call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __launchAgentRequire } from 'node:module'; const require = __launchAgentRequire(import.meta.url);",
    },
    plugins: [httpByRequire, sideEffectFree],
  });
  const outputs = result.metafile.outputs;
  const entry = relative(root, join(outdir, 'bin.js'));
  const eager = staticClosure(outputs, entry);
  const missing = Object.keys(WORKERS).filter(
    (name) => !outputs[relative(root, join(outdir, `${name}.js`))],
  );
  if (missing.length > 0) throw new Error(`bundle: no dist/${missing.join('.js, dist/')}.js`);
  // A worker starts with the modules it imports statically: none of them may be an SDK either.
  const workerClosure = Object.keys(WORKERS).flatMap((name) =>
    staticClosure(outputs, relative(root, join(outdir, `${name}.js`))),
  );
  // The runtime's chunk (its entry, packages/runtime/src/index.ts) is what `start` and the build
  // commands load whatever the config says: it must not load an SDK either.
  const runtimeChunk = Object.keys(outputs).find(
    (file) => outputs[file].entryPoint === 'packages/runtime/src/index.ts',
  );
  if (!runtimeChunk) throw new Error('bundle: no chunk for packages/runtime/src/index.ts');
  const checked = [
    ...new Set([...eager, ...workerClosure, ...staticClosure(outputs, runtimeChunk)]),
  ];
  const leaks = checked.flatMap((file) =>
    (outputs[file]?.imports ?? [])
      .filter((i) => i.external && i.kind === 'import-statement' && isLazy(i.path))
      .map((i) => `${file} imports ${i.path}`),
  );
  if (leaks.length > 0) {
    throw new Error(
      `bundle: the start-up code imports a package that must load on demand:\n  ${leaks.join('\n  ')}\n` +
        'Import it with `await import()` where the config selects it (see scripts/bundle.mjs).',
    );
  }
  // The permission templates are read at run time, next to the bundle.
  await mkdir(join(outdir, 'templates'), { recursive: true });
  await cp(join(root, 'packages/config/templates'), join(outdir, 'templates'), { recursive: true });
  if (metafilePath) await writeFile(metafilePath, JSON.stringify(result.metafile));
  return { metafile: result.metafile, eager };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const metaIndex = process.argv.indexOf('--metafile');
  const metafilePath = metaIndex > 0 ? process.argv[metaIndex + 1] : undefined;
  const { metafile, eager } = await bundle({ metafilePath });
  const size = (files) => files.reduce((sum, f) => sum + (metafile.outputs[f]?.bytes ?? 0), 0);
  const js = Object.keys(metafile.outputs).filter((f) => f.endsWith('.js'));
  console.error(
    `bundle: ${relative(root, outdir)}/bin.js, ${(size(eager) / 1e6).toFixed(2)} MB loaded at start, ` +
      `${(size(js) / 1e6).toFixed(2)} MB in ${js.length} files`,
  );
}
