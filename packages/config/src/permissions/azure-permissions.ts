import type { DerivationInput } from './derivation-input.js';
import type {
  AzureIdentity,
  AzurePermissions,
  AzureRoleAssignment,
  IdentityRole,
} from './permissions-report.js';
import { renderCommands } from './templates.js';

/** Built-in roles, weakest first: the strongest one an identity needs is the one it gets. */
const REGISTRY_ROLES = { read: 'AcrPull', push: 'AcrPush' } as const;
const STORAGE_ROLES = {
  read: 'Storage Blob Data Reader',
  write: 'Storage Blob Data Contributor',
} as const;

export function azurePermissions(input: DerivationInput): AzurePermissions | undefined {
  const { destination, store, needs, identities, options, settings } = input;
  const acr = destination?.kind === 'acr' ? destination : undefined;
  const blob = store?.kind === 'azure-blob' ? store : undefined;
  if (!acr && !blob) return undefined;

  const resourceGroup =
    options.azureResourceGroup ??
    input.placeholder(
      'RESOURCE_GROUP',
      'the resource group of the managed identities',
      '--azure-resource-group',
    );
  const issuer =
    options.oidcIssuer ??
    input.placeholder(
      'OIDC_ISSUER',
      "the AKS cluster's OIDC issuer URL (az aks show --name <cluster> --resource-group <group> --query oidcIssuerProfile.issuerUrl)",
      '--oidc-issuer',
    );

  const result: AzureIdentity[] = [];
  for (const identity of identities) {
    const isAgent = identity.roles.includes('agent');
    const name = isAgent
      ? (options.azureIdentity ?? 'launch-agent')
      : (options.azureBuildIdentity ?? 'launch-agent-build');
    const strongest = <K extends string>(
      levels: K[],
      access: Array<K | undefined>,
    ): K | undefined => {
      let best: K | undefined;
      for (const level of access)
        if (level && (!best || levels.indexOf(level) > levels.indexOf(best))) best = level;
      return best;
    };
    const registryAccess = strongest(
      ['read', 'push'],
      identity.roles.map((role: IdentityRole) => needs.registry[role]),
    );
    // Build pods read the context with the account key when builder.azure-storage-secret is set.
    const storageAccess = strongest(
      ['read', 'write'],
      identity.roles
        .filter((role) => !(role === 'build' && !isAgent && settings.builder.azureStorageSecret))
        .map((role: IdentityRole) => needs.storage[role]),
    );
    const assignments: AzureRoleAssignment[] = [];
    if (acr && registryAccess) {
      assignments.push({
        role: REGISTRY_ROLES[registryAccess],
        scope: `$(az acr show --name ${acr.acr!.registryName} --query id --output tsv)`,
        resource: `container registry ${acr.acr!.registryName}`,
      });
    }
    if (blob && storageAccess) {
      assignments.push({
        role: STORAGE_ROLES[storageAccess],
        scope: `$(az storage account show --name ${blob.account} --query id --output tsv)/blobServices/default/containers/${blob.container}`,
        resource: `blob container ${blob.container} in storage account ${blob.account}`,
      });
    }
    if (assignments.length > 0) result.push({ identity, managedIdentity: name, assignments });
  }
  if (result.length === 0) return undefined;
  const commands = renderCommands('azure-commands.sh', {
    resourceGroup,
    issuer,
    identities: result.map((entry) => ({
      name: entry.managedIdentity,
      namespace: entry.identity.namespace,
      serviceAccount: entry.identity.serviceAccount,
      assignments: entry.assignments,
    })),
  });
  return { identities: result, commands };
}
