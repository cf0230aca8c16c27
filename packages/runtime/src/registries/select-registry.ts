import type { Destination } from '@launch-agent/config';
import type { AcrRegistryOptions } from './acr-registry.js';
import type { ArtifactRegistryOptions } from './artifact-registry.js';
import type { EcrRegistryOptions } from './ecr-registry.js';
import { OciRegistry, type OciRegistryOptions } from './oci-registry.js';
import type { Registry } from './registry.js';

/** Per-kind settings; each registry reads only its own. */
export interface RegistryOptions {
  ecr?: EcrRegistryOptions;
  artifactRegistry?: ArtifactRegistryOptions;
  acr?: AcrRegistryOptions;
  oci?: OciRegistryOptions;
}

/**
 * The one place that maps a parsed destination's kind to the registry API that serves it.
 * Everything after this talks to the `Registry` interface. A cloud registry's module (and its
 * SDK) is imported here, on first use, so an agent that pushes elsewhere never loads it.
 */
export async function createRegistry(
  destination: Destination,
  options: RegistryOptions = {},
): Promise<Registry> {
  switch (destination.kind) {
    case 'ecr': {
      const { EcrRegistry } = await import('./ecr-registry.js');
      return new EcrRegistry(destination, options.ecr);
    }
    case 'artifact-registry': {
      const { ArtifactRegistry } = await import('./artifact-registry.js');
      return new ArtifactRegistry(destination, options.artifactRegistry);
    }
    case 'acr': {
      const { AcrRegistry } = await import('./acr-registry.js');
      return new AcrRegistry(destination, options.acr);
    }
    case 'oci':
      return new OciRegistry(destination, options.oci);
  }
}
