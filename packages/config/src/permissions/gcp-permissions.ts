import type { DerivationInput } from './derivation-input.js';
import type {
  GcpCustomRole,
  GcpIdentity,
  GcpPermissions,
  IdentityRole,
} from './permissions-report.js';
import { renderCommands, renderYaml } from './templates.js';

/** The Artifact Registry permissions the W&B launch agent guide lists. */
export const SOURCE_DOCUMENT_AR_PERMISSIONS = [
  'artifactregistry.dockerimages.list',
  'artifactregistry.repositories.downloadArtifacts',
  'artifactregistry.repositories.list',
  'artifactregistry.repositories.uploadArtifacts',
] as const;

/** The Cloud Storage permissions the W&B launch agent guide lists for kaniko contexts. */
export const SOURCE_DOCUMENT_GCS_PERMISSIONS = [
  'storage.buckets.get',
  'storage.objects.create',
  'storage.objects.delete',
  'storage.objects.get',
] as const;

/** The existence check lists the repository's images. */
const AR_READ = ['artifactregistry.dockerimages.list', 'artifactregistry.repositories.list'];
/** A push; downloadArtifacts also serves kaniko's layer cache and docker's layer checks. */
const AR_PUSH = [
  'artifactregistry.repositories.downloadArtifacts',
  'artifactregistry.repositories.uploadArtifacts',
];
const GCS_WRITE = [...SOURCE_DOCUMENT_GCS_PERMISSIONS];
const GCS_READ = ['storage.objects.get'];

function sortedUnion(...lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

export function gcpPermissions(input: DerivationInput): GcpPermissions | undefined {
  const { destination, store, needs, identities, options, settings } = input;
  const ar = destination?.kind === 'artifact-registry' ? destination.artifactRegistry : undefined;
  const gcs = store?.kind === 'gcs' ? store : undefined;
  if (!ar && !gcs) return undefined;

  const project =
    ar?.project ??
    settings.environment.project ??
    input.placeholder('PROJECT_ID', 'the Google Cloud project of the agent (environment.project)');

  const result: GcpIdentity[] = [];
  for (const identity of identities) {
    const isAgent = identity.roles.includes('agent');
    const suffix = isAgent ? '' : 'Build';
    const email = isAgent
      ? (options.gcpServiceAccount ?? `launch-agent@${project}.iam.gserviceaccount.com`)
      : (options.gcpBuildServiceAccount ?? `launch-agent-build@${project}.iam.gserviceaccount.com`);
    const registry = sortedUnion(
      ...identity.roles.map((role: IdentityRole) => {
        const access = needs.registry[role];
        if (!ar || !access) return [];
        if (role === 'build') return AR_PUSH;
        return access === 'push' ? [...AR_READ, ...AR_PUSH] : AR_READ;
      }),
    );
    const storage = sortedUnion(
      ...identity.roles.map((role: IdentityRole) => {
        const access = needs.storage[role];
        if (!gcs || !access) return [];
        return access === 'write' ? GCS_WRITE : GCS_READ;
      }),
    );
    const roles: GcpCustomRole[] = [];
    if (ar && registry.length > 0) {
      roles.push({
        roleId: `launchAgent${suffix}Registry`,
        definition: renderYaml('gcp-custom-role.yaml', {
          title: `Launch agent${isAgent ? '' : ' build'}: Artifact Registry`,
          description: `${isAgent ? 'Launch agent' : 'Kaniko build pods'} on ${ar.location}-docker.pkg.dev/${ar.project}/${ar.repository}`,
          permissions: registry,
        }),
        boundOn: `projects/${ar.project}/locations/${ar.location}/repositories/${ar.repository}`,
      });
    }
    if (gcs && storage.length > 0) {
      roles.push({
        roleId: `launchAgent${suffix}ContextStore`,
        definition: renderYaml('gcp-custom-role.yaml', {
          title: `Launch agent${isAgent ? '' : ' build'}: build contexts`,
          description: `${isAgent ? 'Launch agent' : 'Kaniko build pods'} on gs://${gcs.bucket}`,
          permissions: storage,
        }),
        boundOn: `gs://${gcs.bucket}`,
      });
    }
    if (roles.length > 0) result.push({ identity, googleServiceAccount: email, roles });
  }
  if (result.length === 0) return undefined;
  if (gcs?.prefix) {
    input.note(
      `Cloud Storage roles are bound on the whole bucket gs://${gcs.bucket}; the prefix ${gcs.prefix}/ cannot narrow a bucket-level binding without IAM Conditions.`,
    );
  }
  const commands = renderCommands('gcp-commands.sh', {
    project,
    repository: ar ?? null,
    bucket: gcs?.bucket ?? null,
    identities: result.map((entry) => ({
      email: entry.googleServiceAccount,
      accountId: entry.googleServiceAccount.split('@')[0],
      namespace: entry.identity.namespace,
      serviceAccount: entry.identity.serviceAccount,
      roles: entry.roles.map((role) => ({
        roleId: role.roleId,
        registry: role.boundOn.startsWith('projects/'),
      })),
    })),
  });
  return { project, identities: result, commands };
}
