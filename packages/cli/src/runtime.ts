/**
 * The runtime (Kubernetes client, builders, the agent), loaded by the commands that use it, so
 * `validate`, `render`, `schema` and `permissions` start without parsing or running any of it.
 * Its public API loads no cloud SDK by itself: those wait until a config selects them.
 */
export type Runtime = typeof import('@launch-agent/runtime');

export function loadRuntime(): Promise<Runtime> {
  return import('@launch-agent/runtime');
}
