import type * as k8s from '@kubernetes/client-node';
import type { BuilderSettings, ContextStore, Destination } from '@launch-agent/config';
import { KANIKO_PVC_MOUNT_PATH } from '../../storage/pvc-context-store.js';
import { s3Addressing } from '../../storage/s3-addressing.js';

/** Where kaniko reads its Docker config (DOCKER_CONFIG in the executor image). */
export const KANIKO_DOCKER_CONFIG_DIR = '/kaniko/.docker';
/** Where `secret-name` is mounted; GOOGLE_APPLICATION_CREDENTIALS or AWS_SHARED_CREDENTIALS_FILE point into it. */
export const KANIKO_SECRET_DIR = '/kaniko/secrets';
export const AZURE_WORKLOAD_IDENTITY_LABEL = 'azure.workload.identity/use';

/** The pod additions that give kaniko access to the registry and the context store. */
export interface KanikoCredentials {
  env: k8s.V1EnvVar[];
  volumes: k8s.V1Volume[];
  volumeMounts: k8s.V1VolumeMount[];
  podLabels: Record<string, string>;
  /** A Docker config.json for a ConfigMap mounted at /kaniko/.docker (no secrets in it: helpers only). */
  dockerConfig?: { credHelpers: Record<string, string> };
}

export interface KanikoCredentialsInput {
  destination: Destination;
  store: ContextStore;
  settings: Pick<
    BuilderSettings,
    'credentialsSecret' | 'dockerConfigSecret' | 'azureStorageSecret' | 's3'
  >;
  /** The agent's environment, for an S3 endpoint set there (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  env?: NodeJS.ProcessEnv;
  /** environment.region, for AWS_REGION when the destination does not name one. */
  region?: string;
  /** The ConfigMap that will hold `dockerConfig`, for the volume. */
  dockerConfigMapName: string;
}

/** The credential helper in the kaniko image that pushes to this registry, if any. */
function credentialHelper(destination: Destination): string | undefined {
  switch (destination.kind) {
    case 'ecr':
      return 'ecr-login';
    case 'artifact-registry':
      return 'gcr';
    case 'acr':
      return 'acr-env';
    case 'oci':
      return undefined;
  }
}

/**
 * Per cloud, what the build pod needs; identities come from the build ServiceAccount (IRSA,
 * GKE/Azure Workload Identity) unless a key Secret is configured. No Secret is ever read by the
 * agent: pods reference them and the kubelet mounts them.
 */
export function kanikoCredentials(input: KanikoCredentialsInput): KanikoCredentials {
  const { destination, store, settings } = input;
  const out: KanikoCredentials = { env: [], volumes: [], volumeMounts: [], podLabels: {} };
  const usesAws = destination.kind === 'ecr' || store.kind === 's3';
  const usesGcp = destination.kind === 'artifact-registry' || store.kind === 'gcs';
  const usesAzure = destination.kind === 'acr' || store.kind === 'azure-blob';

  if (settings.dockerConfigSecret) {
    // A dockerconfigjson Secret (CoreWeave, any registry): it is the whole Docker config.
    out.volumes.push({
      name: 'docker-config',
      secret: {
        secretName: settings.dockerConfigSecret,
        items: [{ key: '.dockerconfigjson', path: 'config.json' }],
      },
    });
    out.volumeMounts.push({
      name: 'docker-config',
      mountPath: KANIKO_DOCKER_CONFIG_DIR,
      readOnly: true,
    });
  } else {
    const helper = credentialHelper(destination);
    if (helper) {
      out.dockerConfig = { credHelpers: { [destination.host]: helper } };
      out.volumes.push({ name: 'docker-config', configMap: { name: input.dockerConfigMapName } });
      out.volumeMounts.push({
        name: 'docker-config',
        mountPath: KANIKO_DOCKER_CONFIG_DIR,
        readOnly: true,
      });
    }
  }

  if (usesAws) {
    const region = destination.ecr?.region ?? input.region;
    if (region) out.env.push({ name: 'AWS_REGION', value: region });
  }

  if (store.kind === 's3') {
    // Kaniko reads an s3:// context with its own client: same endpoint, same addressing style.
    const { endpoint, pathStyle } = s3Addressing(
      {
        ...(settings.s3?.endpoint ? { endpoint: settings.s3.endpoint } : {}),
        ...(settings.s3?.addressingStyle ? { addressingStyle: settings.s3.addressingStyle } : {}),
      },
      input.env ?? process.env,
    );
    if (endpoint) {
      out.env.push({ name: 'S3_ENDPOINT', value: endpoint });
      out.env.push({ name: 'S3_FORCE_PATH_STYLE', value: String(pathStyle) });
    }
  }

  if (settings.credentialsSecret) {
    const { name, key } = settings.credentialsSecret;
    out.volumes.push({ name: 'cloud-credentials', secret: { secretName: name } });
    out.volumeMounts.push({
      name: 'cloud-credentials',
      mountPath: KANIKO_SECRET_DIR,
      readOnly: true,
    });
    const file = `${KANIKO_SECRET_DIR}/${key}`;
    if (usesGcp) out.env.push({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: file });
    if (usesAws) out.env.push({ name: 'AWS_SHARED_CREDENTIALS_FILE', value: file });
  }

  if (store.kind === 'azure-blob' && settings.azureStorageSecret) {
    out.env.push({
      name: 'AZURE_STORAGE_ACCESS_KEY',
      valueFrom: {
        secretKeyRef: {
          name: settings.azureStorageSecret.name,
          key: settings.azureStorageSecret.key,
        },
      },
    });
  }
  // ACR's acr-env helper and a keyless Blob context both authenticate with Workload Identity.
  if (destination.kind === 'acr' || (usesAzure && !settings.azureStorageSecret)) {
    out.podLabels[AZURE_WORKLOAD_IDENTITY_LABEL] = 'true';
  }

  if (store.kind === 'pvc') {
    out.volumes.push({
      name: 'build-context',
      persistentVolumeClaim: { claimName: store.claim, readOnly: true },
    });
    out.volumeMounts.push({
      name: 'build-context',
      mountPath: KANIKO_PVC_MOUNT_PATH,
      readOnly: true,
    });
  }
  return out;
}
