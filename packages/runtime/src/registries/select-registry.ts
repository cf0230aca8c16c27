import { ACR_REGISTRY_NAME_RULE, azureRegistryName, type Destination } from '@launch-agent/config';
import type { AcrRegistryOptions } from './acr-registry.js';
import type { ArtifactRegistryOptions } from './artifact-registry.js';
import type { EcrRegistryOptions } from './ecr-registry.js';
import { OciRegistry, type OciRegistryOptions } from './oci-registry.js';
import { RegistryError, type Registry } from './registry.js';

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
  // parseDestination refuses these; a Destination built by other code must not slip through
  // as a plain OCI registry (it would push with docker credentials to a host that cannot exist).
  const acr = azureRegistryName(destination.host);
  if (acr && !acr.valid) {
    throw new RegistryError(
      `destination ${destination.reference}: "${acr.name}" is not a valid Azure Container Registry name`,
      destination.host,
      `Set builder.destination to <name>.azurecr.io/<repository>; ${ACR_REGISTRY_NAME_RULE}`,
    );
  }
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
