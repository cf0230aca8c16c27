import type { AgentSettings, BuilderType } from '../normalize.js';
import { awsPermissions } from './aws-permissions.js';
import { azurePermissions } from './azure-permissions.js';
import type { DerivationInput, Needs } from './derivation-input.js';
import { gcpPermissions } from './gcp-permissions.js';
import type {
  KubernetesIdentity,
  PermissionsOptions,
  PermissionsReport,
  Placeholder,
} from './permissions-report.js';

function effectiveBuilder(type: AgentSettings['builder']['type']): BuilderType {
  return type === 'auto' ? 'docker' : type;
}

/**
 * Derives the least-privilege cloud grants a config needs, scoped to its own repository and
 * bucket, for each Kubernetes identity that needs them. Pure: reads no environment and no cloud.
 */
export function derivePermissions(
  settings: AgentSettings,
  options: PermissionsOptions = {},
): PermissionsReport {
  const builder = effectiveBuilder(settings.builder.type);
  const destination = settings.builder.destination;
  const store = settings.builder.buildContextStore;
  const placeholders = new Map<string, Placeholder>();
  const placeholder = (name: string, description: string, flag?: string): string => {
    if (!placeholders.has(name))
      placeholders.set(name, { name, description, ...(flag ? { flag } : {}) });
    return `<${name}>`;
  };
  const notes: string[] = [];

  const namespace =
    options.namespace ??
    settings.kubernetes.namespace ??
    placeholder(
      'NAMESPACE',
      "the agent's namespace (kubernetes.namespace in the config)",
      '--namespace',
    );
  const agentSa =
    options.serviceAccount ??
    settings.kubernetes.serviceAccount ??
    placeholder(
      'SERVICE_ACCOUNT',
      "the agent's ServiceAccount (kubernetes.service-account in the config)",
      '--service-account',
    );
  const buildSa = options.buildServiceAccount ?? settings.kubernetes.buildServiceAccount;

  const needs: Needs = {
    builder,
    registry: {},
    storage: {},
    createRepository: settings.builder.createRepository,
  };
  const identities: KubernetesIdentity[] = [];
  if (builder === 'docker') {
    needs.registry.agent = 'push';
    identities.push({
      roles: ['agent'],
      namespace,
      serviceAccount: agentSa,
      purpose: 'checks whether the image exists and pushes it from the Docker engine',
    });
    if (store) {
      notes.push(
        `The docker builder does not use builder.build-context-store (${store.uri}); no storage grant is needed.`,
      );
    }
  } else if (builder === 'kaniko') {
    // The agent mints each build's push token with its own identity, so the token carries the
    // agent's registry rights; build pods push nothing themselves, except kaniko's layer cache
    // (kaniko-cache), which is pushed and read from inside the build container.
    needs.registry = settings.builder.kanikoCache
      ? { agent: 'push', build: 'push' }
      : { agent: 'push' };
    if (store && store.kind !== 'pvc') needs.storage = { agent: 'write', build: 'read' };
    if (buildSa && buildSa !== agentSa) {
      identities.push({
        roles: ['agent'],
        namespace,
        serviceAccount: agentSa,
        purpose:
          'checks whether the image exists; uploads and deletes build contexts; mints the push token each build pushes with',
      });
      identities.push({
        roles: ['build'],
        namespace,
        serviceAccount: buildSa,
        purpose: settings.builder.kanikoCache
          ? 'kaniko build pods: download the build context, read and push the layer cache'
          : 'kaniko build pods: download the build context (they push with the token the agent mints)',
      });
    } else {
      identities.push({
        roles: ['agent', 'build'],
        namespace,
        serviceAccount: agentSa,
        purpose:
          'checks whether the image exists, uploads build contexts, mints the push token each build pushes with, and (as the kaniko build pods, which run under the same ServiceAccount) downloads the context',
      });
      notes.push(
        "Build pods run under the agent's ServiceAccount, so one identity holds both sets of grants. Set kubernetes.build-service-account to give kaniko pods their own, narrower identity.",
      );
    }
    if (store?.kind === 'pvc') {
      notes.push(
        `Build contexts go to the PersistentVolumeClaim ${store.claim}: no cloud storage grant is needed; the claim must be mounted read-write in the agent and readable by build pods.`,
      );
    }
    if (
      store?.kind === 'azure-blob' &&
      settings.builder.azureStorageSecret &&
      buildSa &&
      buildSa !== agentSa
    ) {
      notes.push(
        `Build pods read contexts with the storage account key in Secret ${settings.builder.azureStorageSecret.name}, so their identity needs no storage role.`,
      );
    }
    if (!store) {
      notes.push(
        'The kaniko builder needs builder.build-context-store; without it no build can run.',
      );
    }
  } else {
    notes.push(
      'The noop builder never builds or pushes: the agent needs no registry or storage grant.',
    );
  }

  if (builder !== 'noop' && !destination) {
    notes.push('No builder.destination is configured, so there is no registry to grant access to.');
  }

  const input: DerivationInput = {
    settings,
    options,
    needs,
    identities,
    ...(destination && builder !== 'noop' ? { destination } : {}),
    ...(store && Object.keys(needs.storage).length > 0 ? { store } : {}),
    placeholder,
    note: (text: string) => notes.push(text),
  };
  if (settings.builder.type === 'auto') {
    notes.unshift(
      'The config has no builder block, so the agent uses docker when an engine answers: the grants below are for the docker builder.',
    );
  }
  const aws = awsPermissions(input);
  const gcp = gcpPermissions(input);
  const azure = azurePermissions(input);
  // Built in one literal so the JSON reads top-down: what was asked, who, the grants, the notes.
  const report: PermissionsReport = {
    version: 1,
    builder: settings.builder.type,
    effectiveBuilder: builder,
    ...(destination
      ? { destination: { reference: destination.reference, kind: destination.kind } }
      : {}),
    ...(store
      ? { contextStore: { uri: store.uri, kind: store.kind, used: builder === 'kaniko' } }
      : {}),
    identities: builder === 'noop' ? [] : identities,
    ...(aws ? { aws } : {}),
    ...(gcp ? { gcp } : {}),
    ...(azure ? { azure } : {}),
    notes,
    placeholders: [],
  };
  if (input.destination?.kind === 'oci') {
    notes.push(
      `${input.destination.host} is not a cloud registry with its own IAM: give the pushing identity push rights on ${input.destination.repository} there, through builder.docker-config-secret for kaniko or the engine's docker credentials.`,
    );
  }
  // Only the placeholders that made it into a grant: a noop config needs no namespace.
  const used = JSON.stringify([report.identities, report.aws, report.gcp, report.azure]);
  report.placeholders = [...placeholders.values()].filter((p) => used.includes(`<${p.name}>`));
  return report;
}
