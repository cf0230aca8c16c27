import type { Destination } from '@launch-agent/config';
import { AcrRegistry, type AcrRegistryOptions } from './acr-registry.js';
import { ArtifactRegistry, type ArtifactRegistryOptions } from './artifact-registry.js';
import { EcrRegistry, type EcrRegistryOptions } from './ecr-registry.js';
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
 * Everything after this talks to the `Registry` interface.
 */
export function createRegistry(destination: Destination, options: RegistryOptions = {}): Registry {
  switch (destination.kind) {
    case 'ecr':
      return new EcrRegistry(destination, options.ecr);
    case 'artifact-registry':
      return new ArtifactRegistry(destination, options.artifactRegistry);
    case 'acr':
      return new AcrRegistry(destination, options.acr);
    case 'oci':
      return new OciRegistry(destination, options.oci);
  }
}
