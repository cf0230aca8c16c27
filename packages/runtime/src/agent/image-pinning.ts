// Which manifest a LaunchJob runs. A built image runs by the digest its push reported, a reused
// one by the digest the registry answered for the tag when the agent looked; a job whose digest
// is unknown fails instead of running whatever the tag points at later. A prebuilt image by tag
// is resolved when its registry answers the agent, and otherwise runs by tag, as status says.
import { parseDestination } from '@launch-agent/config';
import type { BuildReport } from '../build-engine.js';
import { isImageDigest, parseImageReference } from '../registries/image-reference.js';
import { createRegistry, type RegistryOptions } from '../registries/select-registry.js';
import { JobRejectedError } from './job-errors.js';

/** The digest a prebuilt image runs by, or why it runs by tag. */
export type PrebuiltPin = { digest: string } | { pinNote: string };

/** How long resolving a prebuilt tag may take before the job runs by tag instead. */
const PREBUILT_RESOLVE_MS = 15_000;
/** A registry that could not be reached is not asked again for this long (a burst of jobs of
 * one unreachable registry would otherwise each wait PREBUILT_RESOLVE_MS). */
const UNREACHABLE_FOR_MS = 60_000;
const unreachable = new Map<string, { until: number; why: string }>();
/** Lookups in flight, by image: jobs of the same image share one answer. */
const resolving = new Map<string, Promise<PrebuiltPin>>();

/** The registry host of an image name as Docker reads it (no host: Docker Hub). */
function registryHost(name: string): string {
  const first = name.split('/')[0]!;
  return name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io';
}

/** Throws `ImageDigestUnknown` unless the report carries a manifest digest to run by. */
export function requirePinnedDigest(
  report: Pick<BuildReport, 'image' | 'digest' | 'status'>,
): void {
  if (isImageDigest(report.digest)) return;
  throw new JobRejectedError(
    'ImageDigestUnknown',
    `the registry gave no manifest digest for ${report.image} (${report.status === 'built' ? 'after its push' : 'when it was found'}${report.digest ? `; it answered "${report.digest}"` : ''}); the agent runs images by digest only, never by a tag that can be moved`,
  );
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The digest of a prebuilt image: the one it carries (`name@sha256:...`, used as is), else the
 * one its registry answers for the tag (`latest` when none is given) with the agent's own
 * registry credentials. Anything else (an unparsable name, a registry that cannot be reached,
 * refuses the agent or has no such tag) gives a note instead: the job runs by tag.
 */
export function resolvePrebuiltImage(
  image: string,
  registryOptions: RegistryOptions = {},
): Promise<PrebuiltPin> {
  const inFlight = resolving.get(image);
  if (inFlight) return inFlight;
  const lookup = resolveOnce(image, registryOptions).finally(() => resolving.delete(image));
  resolving.set(image, lookup);
  return lookup;
}

async function resolveOnce(image: string, registryOptions: RegistryOptions): Promise<PrebuiltPin> {
  let parts;
  try {
    parts = parseImageReference(image);
  } catch (error) {
    return { pinNote: (error as Error).message };
  }
  if (parts.digest) return { digest: parts.digest };
  const parsed = parseDestination(parts.name, 'spec.source.image');
  if (!parsed.value) {
    return {
      pinNote: `runs by tag: ${parts.name} is not a repository the agent can look up (${parsed.errors.map((e) => e.message).join('; ')})`,
    };
  }
  const tag = parts.tag ?? 'latest';
  const host = registryHost(parts.name);
  const down = unreachable.get(host);
  if (down && down.until > Date.now()) {
    return {
      pinNote: `runs by tag: the agent could not resolve ${image} to a digest (${host} did not answer a moment ago: ${down.why})`,
    };
  }
  try {
    // A registry that says "not now" is not waited for long: the job runs by tag instead.
    const registry = await createRegistry(parsed.value, {
      ...registryOptions,
      oci: { ...registryOptions.oci, retryForMs: 5_000 },
    });
    const found = await withTimeout(registry.exists(tag), PREBUILT_RESOLVE_MS, image);
    if (found.exists && isImageDigest(found.digest)) return { digest: found.digest };
    return {
      pinNote: found.exists
        ? `runs by tag: the registry gave no digest for ${image}`
        : `runs by tag: the registry answered that ${image} does not exist (as the agent's credentials see it)`,
    };
  } catch (error) {
    const why = (error as Error).message;
    // Only a registry that did not answer is skipped for a while; one that refused answers fast.
    if (
      /no answer within|unreachable|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH/i.test(
        why,
      )
    ) {
      unreachable.set(host, { until: Date.now() + UNREACHABLE_FOR_MS, why });
    }
    return { pinNote: `runs by tag: the agent could not resolve ${image} to a digest (${why})` };
  }
}
