import type * as k8s from '@kubernetes/client-node';

/**
 * A partial batch/v1 Job cannot be laid over the Job the agent made; the message names the
 * config key (`builder.kaniko-config`, `run-templates.<queue>`) and the path inside it.
 */
export class JobOverlayError extends Error {
  constructor(
    readonly root: string,
    readonly path: string,
    message: string,
  ) {
    super(`${root}${path ? `.${path}` : ''}: ${message}`);
    this.name = 'JobOverlayError';
  }
}

/** `builder.kaniko-config` cannot be laid over the build Job. */
export class KanikoConfigError extends JobOverlayError {
  constructor(path: string, message: string) {
    super('builder.kaniko-config', path, message);
    this.name = 'KanikoConfigError';
  }
}

type Fail = (path: string, message: string) => Error;
const kanikoFail: Fail = (path, message) => new KanikoConfigError(path, message);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `--cache=false` → `--cache`; `--no-push` → `--no-push`. */
export function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return eq === -1 ? arg : arg.slice(0, eq);
}

/**
 * Flags kaniko accepts more than once: a user value is added next to ours rather than replacing
 * it (`--build-arg`, `--label`, `--destination`, ...).
 */
const REPEATABLE_FLAGS = new Set([
  '--build-arg',
  '--label',
  '--destination',
  '--registry-mirror',
  '--registry-map',
  '--insecure-registry',
  '--skip-tls-verify-registry',
  '--registry-certificate',
  '--registry-client-cert',
  '--ignore-path',
  '--annotation',
]);

/**
 * Container args merged by flag name, as the reference does: a user `--cache=false` replaces
 * the default `--cache=true` in place; new flags are appended in the user's order. Repeatable
 * flags are appended, except an exact duplicate.
 */
export function mergeArgs(
  base: string[],
  overlay: string[],
  path: string,
  fail: Fail = kanikoFail,
): string[] {
  const result = [...base];
  for (const [i, arg] of overlay.entries()) {
    if (typeof arg !== 'string' || !arg.startsWith('--')) {
      throw fail(
        `${path}[${i}]`,
        `${JSON.stringify(arg)} is not a kaniko flag; expected --key=value`,
      );
    }
    const name = flagName(arg);
    if (REPEATABLE_FLAGS.has(name)) {
      if (!result.includes(arg)) result.push(arg);
      continue;
    }
    const at = result.findIndex((existing) => flagName(existing) === name);
    if (at === -1) result.push(arg);
    else result[at] = arg;
  }
  return result;
}

/** Lists are appended; objects merged key by key; any other value the user set wins. */
function deepMerge(base: unknown, overlay: unknown, path: string, fail: Fail): unknown {
  if (overlay === undefined) return base;
  if (Array.isArray(overlay)) {
    if (base === undefined) return [...(overlay as unknown[])];
    if (!Array.isArray(base)) {
      throw fail(path, `expected a ${typeof base}, got a list`);
    }
    return [...base, ...overlay];
  }
  if (isObject(overlay)) {
    if (base === undefined) return structuredClone(overlay);
    if (!isObject(base)) {
      throw fail(
        path,
        `expected ${Array.isArray(base) ? 'a list' : `a ${typeof base}`}, got a mapping`,
      );
    }
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(overlay)) {
      out[key] = deepMerge(base[key], value, path ? `${path}.${key}` : key, fail);
    }
    return out;
  }
  if (base !== undefined && (Array.isArray(base) || isObject(base))) {
    throw fail(
      path,
      `expected ${Array.isArray(base) ? 'a list' : 'a mapping'}, got ${JSON.stringify(overlay)}`,
    );
  }
  return overlay;
}

/**
 * Checks a Job overlay's shape: a mapping, at most one container, args (when the rules allow
 * them) as a list. `fail` names the config key in the message.
 */
export function validateJobOverlay(overlay: unknown, fail: Fail, containerRole: string): Json {
  if (!isObject(overlay)) throw fail('', 'expected a partial batch/v1 Job mapping');
  const spec = overlay.spec;
  if (spec === undefined) return overlay;
  if (!isObject(spec)) throw fail('spec', 'expected a Job spec mapping');
  const template = spec.template;
  if (template === undefined) return overlay;
  if (!isObject(template)) throw fail('spec.template', 'expected a mapping');
  const podSpec = template.spec;
  if (podSpec === undefined) return overlay;
  if (!isObject(podSpec)) throw fail('spec.template.spec', 'expected a mapping');
  const containers = podSpec.containers;
  if (containers === undefined) return overlay;
  if (!Array.isArray(containers) || containers.length !== 1) {
    throw fail(
      'spec.template.spec.containers',
      `expected a list with exactly one container (${containerRole}); add sidecars with initContainers`,
    );
  }
  const container = containers[0] as unknown;
  if (!isObject(container)) {
    throw fail('spec.template.spec.containers[0]', 'expected a container mapping');
  }
  if (container.args !== undefined && !Array.isArray(container.args)) {
    throw fail('spec.template.spec.containers[0].args', 'expected a list of --key=value strings');
  }
  if (container.name !== undefined && typeof container.name !== 'string') {
    throw fail('spec.template.spec.containers[0].name', 'expected a string');
  }
  return overlay;
}

/** Checks `builder.kaniko-config`: a mapping, at most one container, args as --flag strings. */
export function validateKanikoConfig(overlay: unknown): Json {
  return validateJobOverlay(overlay, kanikoFail, 'the kaniko executor');
}

/** How layJobOverlay treats what only its caller knows. */
export interface JobOverlayRules {
  /** Makes the error for a path inside the overlay (its message names the config key). */
  fail: Fail;
  /** The one container's args: merged by flag name (kaniko) or appended like any list. */
  mergeArgs?: (base: string[], overlay: string[], path: string) => string[];
}

/**
 * Lays a partial batch/v1 Job over a Job the agent made, the reference's way: lists (env,
 * volumes, volumeMounts, tolerations, ...) are appended, mappings are merged key by key,
 * scalars the overlay sets win, and its one container is merged into the Job's first one,
 * which keeps its name. What the agent finds and cleans up by stays its own: name, namespace
 * and the agent's labels (an overlay label with the same key loses). Returns a new Job.
 */
export function layJobOverlay(job: k8s.V1Job, overlay: Json, rules: JobOverlayRules): k8s.V1Job {
  const fail = rules.fail;
  const overlayContainer = (
    ((overlay.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined
  )?.containers as Json[] | undefined;
  const withoutContainers = structuredClone(overlay);
  const podSpecOverlay = (
    (withoutContainers.spec as Json | undefined)?.template as Json | undefined
  )?.spec as Json | undefined;
  if (podSpecOverlay) delete podSpecOverlay.containers;

  const merged = deepMerge(structuredClone(job), withoutContainers, '', fail) as k8s.V1Job;
  if (overlayContainer?.[0]) {
    const ours = merged.spec!.template.spec!.containers[0]!;
    const { args, name: _name, ...rest } = overlayContainer[0];
    const path = 'spec.template.spec.containers[0]';
    const container = deepMerge(ours, rest, path, fail) as k8s.V1Container;
    container.name = ours.name;
    if (args !== undefined) {
      container.args = rules.mergeArgs
        ? rules.mergeArgs(ours.args ?? [], args as string[], `${path}.args`)
        : [...(ours.args ?? []), ...(args as string[])];
    }
    merged.spec!.template.spec!.containers = [container];
  }
  merged.metadata = {
    ...merged.metadata,
    name: job.metadata!.name!,
    namespace: job.metadata!.namespace!,
    labels: { ...merged.metadata?.labels, ...job.metadata?.labels },
  };
  const template = merged.spec!.template;
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, ...job.spec?.template.metadata?.labels },
  };
  return merged;
}

/**
 * Lays `builder.kaniko-config` over the Job the builder made, compatible with the reference:
 * the rules of layJobOverlay, with the executor's args merged by flag name. The inputs are not
 * changed.
 */
export function applyKanikoConfig(job: k8s.V1Job, overlay: unknown): k8s.V1Job {
  if (overlay === undefined) return job;
  return layJobOverlay(job, validateKanikoConfig(overlay), {
    fail: kanikoFail,
    mergeArgs: (base, args, path) => mergeArgs(base, args, path, kanikoFail),
  });
}
