// Rules that draft-07 cannot state cleanly. Shared by the CLI's `validate` and the runtime's loader.
// They also run on a config the schema refused, so one run reports every problem; a rule then
// skips itself when a key it reads failed the schema, instead of reasoning from a bad value.
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import type { Problem } from '../problems.js';
import { parseContextStore } from '../uri/context-store.js';
import { parseDestination, type RegistryKind } from '../uri/destination.js';
import { checkGitSourceKeys } from './git-source-rules.js';
import { checkQueuePolicies } from './queue-policy-rules.js';
import { checkRunTemplates } from './run-template-rules.js';

/** Defaults of the launchjobs block, shared with normalization. */
export const DEFAULT_HEARTBEAT_SECONDS = 10;
export const DEFAULT_STALE_AFTER_SECONDS = 45;
/** launchjobs.max-source-bytes: 1 GiB. */
export const DEFAULT_MAX_SOURCE_BYTES = 1 << 30;
/** launchjobs.source-budget-bytes when unset: this many sources at their cap. */
export const DEFAULT_SOURCE_BUDGET_SOURCES = 3;

export interface SemanticResult {
  errors: Problem[];
  warnings: Problem[];
}

const REGISTRY_TYPE_KIND: Record<string, RegistryKind> = {
  ecr: 'ecr',
  gcr: 'artifact-registry',
  acr: 'acr',
};
const CLOUD_OF_KIND: Partial<Record<RegistryKind, string>> = {
  ecr: 'aws',
  'artifact-registry': 'gcp',
  acr: 'azure',
};
const CLOUD_OF_STORE: Record<string, string> = { s3: 'aws', gcs: 'gcp', 'azure-blob': 'azure' };

/** The destination key actually in effect, after the `uri` alias and the deprecated registry block. */
export function effectiveDestination(
  config: LaunchAgentConfig,
): { value: string; path: string } | undefined {
  const builder = config.builder;
  if (builder?.destination) return { value: builder.destination, path: 'builder.destination' };
  if (builder?.uri) return { value: builder.uri, path: 'builder.uri' };
  if (config.registry?.uri) return { value: config.registry.uri, path: 'registry.uri' };
  return undefined;
}

/**
 * Whether `path` is `failed`, lies inside it, or holds it: `builder` failing covers
 * `builder.destination`, and `builder.destination[0]` failing makes `builder.destination` unusable.
 */
function overlaps(path: string, failed: string): boolean {
  if (failed === '(root)') return true;
  const inside = (a: string, b: string) =>
    a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
  return inside(path, failed) || inside(failed, path);
}

/**
 * Keys that failed the schema, to be skipped by the rules that read them. Takes the key paths of
 * the schema's problems.
 */
export function schemaFailures(paths: readonly string[]): (...keys: string[]) => boolean {
  return (...keys) => keys.some((key) => paths.some((failed) => overlaps(key, failed)));
}

/**
 * Checks what the schema cannot. `failed` says which keys the schema refused; every rule that
 * reads one of them is skipped (by default none failed: the config passed the schema).
 */
export function checkSemantics(
  config: LaunchAgentConfig,
  failed: (...keys: string[]) => boolean = () => false,
): SemanticResult {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const builder = config.builder;
  const environment = failed('environment') ? undefined : config.environment;

  if (builder?.destination && builder.uri && !failed('builder.destination', 'builder.uri')) {
    const same =
      builder.destination.replace(/^https:\/\//, '').replace(/\/+$/, '') ===
      builder.uri.replace(/^https:\/\//, '').replace(/\/+$/, '');
    if (!same) {
      errors.push({
        path: 'builder.uri',
        message: 'uri is an alias of destination and the two disagree; set only one',
        value: builder.uri,
        expected: `the same repository as builder.destination (${builder.destination})`,
      });
    }
  }

  if (config.registry && !failed('registry', 'builder.destination', 'builder.uri')) {
    warnings.push({
      path: 'registry',
      message:
        builder?.destination || builder?.uri
          ? 'the registry block is deprecated and ignored because builder.destination is set; remove it'
          : 'the registry block is deprecated; move registry.uri to builder.destination',
    });
  }

  const target = effectiveDestination(config);
  if (target && failed(target.path)) {
    // The schema has said what is wrong with it.
  } else if (target) {
    const parsed = parseDestination(target.value, target.path);
    errors.push(...parsed.errors);
    warnings.push(...parsed.warnings);
    const destination = parsed.value;
    if (destination) {
      const registryType = config.registry?.type;
      if (
        registryType &&
        !failed('registry.type') &&
        target.path === 'registry.uri' &&
        REGISTRY_TYPE_KIND[registryType] !== destination.kind
      ) {
        warnings.push({
          path: 'registry.type',
          message: `registry type "${registryType}" does not match the registry in registry.uri (${destination.host})`,
          value: registryType,
        });
      }
      const cloud = CLOUD_OF_KIND[destination.kind];
      if (cloud && environment && environment.type !== 'local' && environment.type !== cloud) {
        warnings.push({
          path: target.path,
          message: `this registry belongs to ${cloud} but environment.type is ${environment.type}; credentials may not be found`,
          value: target.value,
        });
      }
      if (
        destination.ecr &&
        environment?.type === 'aws' &&
        environment.region &&
        destination.ecr.region !== environment.region
      ) {
        warnings.push({
          path: target.path,
          message: `the ECR registry is in ${destination.ecr.region} but environment.region is ${environment.region}`,
          value: target.value,
        });
      }
      const ar = destination.artifactRegistry;
      if (
        ar &&
        environment?.type === 'gcp' &&
        environment.project &&
        ar.project !== environment.project
      ) {
        warnings.push({
          path: target.path,
          message: `the Artifact Registry project is ${ar.project} but environment.project is ${environment.project}`,
          value: target.value,
        });
      }
    }
  } else if (builder?.type === 'kaniko' && !failed('builder.type', 'builder.destination')) {
    errors.push({
      path: 'builder.destination',
      message: 'missing; the kaniko builder pushes every image it builds and needs a destination',
      expected: 'a repository without a tag, like host[:port]/path',
    });
  }

  const store = builder?.['build-context-store'];
  if (store && !failed('builder.build-context-store')) {
    const parsed = parseContextStore(store);
    errors.push(...parsed.errors);
    const cloud = parsed.value ? CLOUD_OF_STORE[parsed.value.kind] : undefined;
    if (cloud && environment && environment.type !== 'local' && environment.type !== cloud) {
      warnings.push({
        path: 'builder.build-context-store',
        message: `this store belongs to ${cloud} but environment.type is ${environment.type}; credentials may not be found`,
        value: store,
      });
    }
    if (builder.type !== 'kaniko' && !failed('builder.type')) {
      warnings.push({
        path: 'builder.build-context-store',
        message: `only the kaniko builder uses a build-context store; it is ignored by the ${builder.type} builder`,
        value: store,
      });
    }
    if (
      parsed.value?.kind !== 'azure-blob' &&
      builder['azure-storage-secret'] &&
      !failed('builder.azure-storage-secret')
    ) {
      warnings.push({
        path: 'builder.azure-storage-secret',
        message: 'only an Azure Blob build-context store uses a storage key; it is ignored',
      });
    }
  }

  if (builder && builder.type !== 'kaniko' && !failed('builder.type')) {
    for (const key of [
      'kaniko-config',
      'kaniko-image',
      'kaniko-push-image',
      'kaniko-cache',
      'pull-docker-config-secret',
      'build-job-name',
    ] as const) {
      if (builder[key] !== undefined && !failed(`builder.${key}`)) {
        warnings.push({
          path: `builder.${key}`,
          message: `only the kaniko builder uses ${key}; it is ignored by the ${builder.type} builder`,
        });
      }
    }
  }

  const containers = failed('builder.kaniko-config')
    ? undefined
    : builder?.['kaniko-config']?.spec?.template?.spec?.containers;
  const args = containers?.[0]?.args;
  if (Array.isArray(args)) {
    const seen = new Map<string, number>();
    args.forEach((arg, index) => {
      const flag = String(arg).split('=')[0]!;
      if (seen.has(flag)) {
        warnings.push({
          path: `builder.kaniko-config.spec.template.spec.containers[0].args[${index}]`,
          message: `${flag} is given twice; the last one wins`,
          value: arg,
        });
      }
      seen.set(flag, index);
    });
  }

  const launchjobs = failed('launchjobs') ? undefined : config.launchjobs;
  if (launchjobs) {
    const heartbeat = launchjobs['heartbeat-seconds'] ?? DEFAULT_HEARTBEAT_SECONDS;
    const stale = launchjobs['stale-after-seconds'] ?? DEFAULT_STALE_AFTER_SECONDS;
    if (stale < 3 * heartbeat) {
      const path =
        launchjobs['stale-after-seconds'] !== undefined
          ? 'launchjobs.stale-after-seconds'
          : 'launchjobs.heartbeat-seconds';
      errors.push({
        path,
        message: `an agent's jobs would be taken over after its Lease missed fewer than three renewals (stale after ${stale} s, renewed every ${heartbeat} s)`,
        value: path.endsWith('heartbeat-seconds') ? heartbeat : stale,
        expected: `stale-after-seconds >= 3 x heartbeat-seconds (${3 * heartbeat} or more)`,
      });
    }
    if (!failed('launchjobs.max-source-bytes')) {
      const cap = launchjobs['max-source-bytes'] ?? DEFAULT_MAX_SOURCE_BYTES;
      errors.push(...checkGitSourceKeys(launchjobs, cap, failed));
    }
  }

  if (!failed('queue', 'queues') && config.queue && config.queues?.includes(config.queue)) {
    warnings.push({
      path: 'queue',
      message: `"${config.queue}" is already listed in queues`,
      value: config.queue,
    });
  }
  if (!failed('run-templates', 'queue', 'queues')) errors.push(...checkRunTemplates(config));
  if (!failed('queue-policies', 'queue', 'queues', 'kubernetes')) {
    const policies = checkQueuePolicies(config);
    errors.push(...policies.errors);
    warnings.push(...policies.warnings);
  }
  return { errors, warnings };
}
