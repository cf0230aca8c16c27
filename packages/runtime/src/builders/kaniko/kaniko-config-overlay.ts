import type * as k8s from '@kubernetes/client-node';

/** `builder.kaniko-config` cannot be laid over the build Job; the message names the key path. */
export class KanikoConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`builder.kaniko-config${path ? `.${path}` : ''}: ${message}`);
    this.name = 'KanikoConfigError';
  }
}

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
export function mergeArgs(base: string[], overlay: string[], path: string): string[] {
  const result = [...base];
  for (const [i, arg] of overlay.entries()) {
    if (typeof arg !== 'string' || !arg.startsWith('--')) {
      throw new KanikoConfigError(
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
function deepMerge(base: unknown, overlay: unknown, path: string): unknown {
  if (overlay === undefined) return base;
  if (Array.isArray(overlay)) {
    if (base === undefined) return [...(overlay as unknown[])];
    if (!Array.isArray(base)) {
      throw new KanikoConfigError(path, `expected a ${typeof base}, got a list`);
    }
    return [...base, ...overlay];
  }
  if (isObject(overlay)) {
    if (base === undefined) return structuredClone(overlay);
    if (!isObject(base)) {
      throw new KanikoConfigError(
        path,
        `expected ${Array.isArray(base) ? 'a list' : `a ${typeof base}`}, got a mapping`,
      );
    }
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(overlay)) {
      out[key] = deepMerge(base[key], value, path ? `${path}.${key}` : key);
    }
    return out;
  }
  if (base !== undefined && (Array.isArray(base) || isObject(base))) {
    throw new KanikoConfigError(
      path,
      `expected ${Array.isArray(base) ? 'a list' : 'a mapping'}, got ${JSON.stringify(overlay)}`,
    );
  }
  return overlay;
}

/** Checks the overlay's shape: a mapping, at most one container, args as --flag strings. */
export function validateKanikoConfig(overlay: unknown): Json {
  if (!isObject(overlay))
    throw new KanikoConfigError('', 'expected a partial batch/v1 Job mapping');
  const spec = overlay.spec;
  if (spec === undefined) return overlay;
  if (!isObject(spec)) throw new KanikoConfigError('spec', 'expected a Job spec mapping');
  const template = spec.template;
  if (template === undefined) return overlay;
  if (!isObject(template)) throw new KanikoConfigError('spec.template', 'expected a mapping');
  const podSpec = template.spec;
  if (podSpec === undefined) return overlay;
  if (!isObject(podSpec)) throw new KanikoConfigError('spec.template.spec', 'expected a mapping');
  const containers = podSpec.containers;
  if (containers === undefined) return overlay;
  if (!Array.isArray(containers) || containers.length !== 1) {
    throw new KanikoConfigError(
      'spec.template.spec.containers',
      'expected a list with exactly one container (the kaniko executor); add sidecars with initContainers',
    );
  }
  const container = containers[0] as unknown;
  if (!isObject(container)) {
    throw new KanikoConfigError('spec.template.spec.containers[0]', 'expected a container mapping');
  }
  if (container.args !== undefined && !Array.isArray(container.args)) {
    throw new KanikoConfigError(
      'spec.template.spec.containers[0].args',
      'expected a list of --key=value strings',
    );
  }
  if (container.name !== undefined && typeof container.name !== 'string') {
    throw new KanikoConfigError('spec.template.spec.containers[0].name', 'expected a string');
  }
  return overlay;
}

/**
 * Lays `builder.kaniko-config` over the Job the builder made, compatible with the reference:
 * lists (env, volumes, volumeMounts, ...) are appended, scalars the user set win, and the one
 * container's args are merged by flag name. The container keeps its name so the builder can
 * still find it. Returns a new Job; the inputs are not changed.
 */
export function applyKanikoConfig(job: k8s.V1Job, overlay: unknown): k8s.V1Job {
  if (overlay === undefined) return job;
  const checked = validateKanikoConfig(overlay);
  const overlayContainer = (
    ((checked.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined
  )?.containers as Json[] | undefined;
  const withoutContainers = structuredClone(checked);
  const podSpecOverlay = (
    (withoutContainers.spec as Json | undefined)?.template as Json | undefined
  )?.spec as Json | undefined;
  if (podSpecOverlay) delete podSpecOverlay.containers;

  const merged = deepMerge(structuredClone(job), withoutContainers, '') as k8s.V1Job;
  if (overlayContainer?.[0]) {
    const ours = merged.spec!.template.spec!.containers[0]!;
    const { args, name: _name, ...rest } = overlayContainer[0];
    const container = deepMerge(ours, rest, 'spec.template.spec.containers[0]') as k8s.V1Container;
    container.name = ours.name;
    if (args !== undefined) {
      container.args = mergeArgs(
        ours.args ?? [],
        args as string[],
        'spec.template.spec.containers[0].args',
      );
    }
    merged.spec!.template.spec!.containers = [container];
  }
  // What the builder finds and cleans up by stays the builder's: name, namespace, its labels.
  merged.metadata = {
    ...merged.metadata,
    name: job.metadata?.name,
    namespace: job.metadata?.namespace,
    labels: { ...merged.metadata?.labels, ...job.metadata?.labels },
  };
  const template = merged.spec!.template;
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, ...job.spec?.template.metadata?.labels },
  };
  return merged;
}
