/**
 * The runtime (Kubernetes client, builders, the agent), loaded by the commands that use it, so
 * `validate`, `render`, `schema` and `permissions` start without parsing or running any of it.
 * It loads through runtime-exports.ts, which names what the CLI uses: importing the runtime's
 * whole index would also load every registry and context store it exports, with their SDKs.
 */
export type Runtime = typeof import('./runtime-exports.js');

export function loadRuntime(): Promise<Runtime> {
  return import('./runtime-exports.js');
}
