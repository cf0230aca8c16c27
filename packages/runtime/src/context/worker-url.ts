import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The worker modules of the build context code, each a file of its own. */
export type WorkerName = 'hash-worker' | 'tar-worker';

/**
 * Where the worker module `name` is, relative to the module that holds this code (`from`):
 *
 * - `./<name>.js`: the compiled runtime (packages/runtime/dist/context/), and the CLI bundle when
 *   this code is in packages/cli/dist/bin.js itself;
 * - `./<name>.ts`: the TypeScript sources (a test runner), which Node runs with its types
 *   stripped (see `sourceHooks`);
 * - `../<name>.js`: the CLI bundle when this code is in a chunk under dist/chunks/;
 *   scripts/bundle.mjs emits every worker beside bin.js under its own name.
 */
export function workerUrl(name: WorkerName, from: string | URL = import.meta.url): URL {
  const candidates = [`./${name}.js`, `./${name}.ts`, `../${name}.js`].map(
    (relative) => new URL(relative, from),
  );
  const found = candidates.find((url) => existsSync(fileURLToPath(url)));
  if (found === undefined) {
    const looked = candidates.map((url) => fileURLToPath(url)).join(', ');
    throw new Error(`the ${name} module is missing (looked for ${looked}); reinstall launch-agent`);
  }
  return found;
}

/** The resolve hook a worker started from TypeScript sources needs (source-worker-hooks.ts). */
const sourceHooks = new URL('./source-worker-hooks.ts', import.meta.url);

/** Starts the worker module `name` on a new thread. */
export function startWorker(name: WorkerName, options: WorkerOptions = {}): Worker {
  const url = workerUrl(name);
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  // From sources, the worker's `./x.js` imports name files that exist only as `./x.ts`.
  const execArgv = [...(options.execArgv ?? process.execArgv), '--import', sourceHooks.href];
  return new Worker(url, { ...options, execArgv });
}
