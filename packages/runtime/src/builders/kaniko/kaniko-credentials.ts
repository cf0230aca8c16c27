import type * as k8s from '@kubernetes/client-node';
import type { BuilderSettings, ContextStore, Destination } from '@launch-agent/config';
import type { RegistryCredentials } from '../../registries/registry.js';
import { KANIKO_PVC_MOUNT_PATH } from '../../storage/pvc-context-store.js';
import { s3Addressing } from '../../storage/s3-addressing.js';

/** Where kaniko reads its Docker config (DOCKER_CONFIG in the executor image). */
export const KANIKO_DOCKER_CONFIG_DIR = '/kaniko/.docker';
/** Where `secret-name` is mounted; GOOGLE_APPLICATION_CREDENTIALS or AWS_SHARED_CREDENTIALS_FILE point into it. */
export const KANIKO_SECRET_DIR = '/kaniko/secrets';
/** The push container's Docker config directory (DOCKER_CONFIG): the build container has no such mount. */
export const PUSH_DOCKER_CONFIG_DIR = '/push/.docker';
export const AZURE_WORKLOAD_IDENTITY_LABEL = 'azure.workload.identity/use';
/** The username ACR expects next to a refresh token (docker's `identitytoken`). */
export const ACR_TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

/** The pod additions of one container: env, volumes (pod-level) and mounts (this container's). */
export interface ContainerCredentials {
  env: k8s.V1EnvVar[];
  volumes: k8s.V1Volume[];
  volumeMounts: k8s.V1VolumeMount[];
}

/** What the build container needs: the context store and, optionally, pull-only credentials. */
export interface KanikoCredentials extends ContainerCredentials {
  podLabels: Record<string, string>;
}

export interface KanikoCredentialsInput {
  destination: Destination;
  store: ContextStore;
  settings: Pick<
    BuilderSettings,
    'credentialsSecret' | 'azureStorageSecret' | 's3' | 'pullDockerConfigSecret'
  >;
  /** The agent's environment, for an S3 endpoint set there (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  env?: NodeJS.ProcessEnv;
  /** environment.region, for AWS_REGION. */
  region?: string;
  /**
   * The Secret with the push credentials, mounted into the build container too: only when
   * kaniko's registry cache is on (`kaniko-cache`), because the build container pushes the cache.
   */
  cachePushSecret?: string;
}

/**
 * What the kaniko build container gets: read access to the build-context store (key Secrets or
 * the build ServiceAccount's identity) and base-image pull credentials (`pull-docker-config-secret`,
 * never the push ones). No push credentials, except with the registry cache on. No Secret is
 * ever read by the agent: pods reference them and the kubelet mounts them.
 */
export function kanikoCredentials(input: KanikoCredentialsInput): KanikoCredentials {
  const { store, settings } = input;
  const out: KanikoCredentials = { env: [], volumes: [], volumeMounts: [], podLabels: {} };

  // Only the cache makes kaniko itself talk to the destination with write access.
  const dockerConfigSecret = input.cachePushSecret ?? settings.pullDockerConfigSecret;
  if (dockerConfigSecret) {
    out.volumes.push({
      name: 'build-docker-config',
      secret: {
        secretName: dockerConfigSecret,
        items: [{ key: '.dockerconfigjson', path: 'config.json' }],
      },
    });
    out.volumeMounts.push({
      name: 'build-docker-config',
      mountPath: KANIKO_DOCKER_CONFIG_DIR,
      readOnly: true,
    });
  }

  if (store.kind === 's3') {
    const region = input.destination.ecr?.region ?? input.region;
    if (region) out.env.push({ name: 'AWS_REGION', value: region });
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

  // The key Secret reads the context only: pushing goes through the push container.
  if (settings.credentialsSecret && (store.kind === 's3' || store.kind === 'gcs')) {
    const { name, key } = settings.credentialsSecret;
    out.volumes.push({ name: 'cloud-credentials', secret: { secretName: name } });
    out.volumeMounts.push({
      name: 'cloud-credentials',
      mountPath: KANIKO_SECRET_DIR,
      readOnly: true,
    });
    const file = `${KANIKO_SECRET_DIR}/${key}`;
    if (store.kind === 'gcs') out.env.push({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: file });
    else out.env.push({ name: 'AWS_SHARED_CREDENTIALS_FILE', value: file });
  }

  if (store.kind === 'azure-blob') {
    if (settings.azureStorageSecret) {
      out.env.push({
        name: 'AZURE_STORAGE_ACCESS_KEY',
        valueFrom: {
          secretKeyRef: {
            name: settings.azureStorageSecret.name,
            key: settings.azureStorageSecret.key,
          },
        },
      });
    } else {
      // A keyless Blob context authenticates with Workload Identity.
      out.podLabels[AZURE_WORKLOAD_IDENTITY_LABEL] = 'true';
    }
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

/**
 * The push container's Docker config: the user's `docker-config-secret`, else the per-build
 * Secret the agent fills with credentials it minted (`pushSecretName`), else none (an open
 * registry). Mounted in the push container only.
 */
export function pushCredentials(secretName: string | undefined): ContainerCredentials {
  if (!secretName) return { env: [], volumes: [], volumeMounts: [] };
  return {
    env: [{ name: 'DOCKER_CONFIG', value: PUSH_DOCKER_CONFIG_DIR }],
    volumes: [
      {
        name: 'push-docker-config',
        secret: { secretName, items: [{ key: '.dockerconfigjson', path: 'config.json' }] },
      },
    ],
    volumeMounts: [
      { name: 'push-docker-config', mountPath: PUSH_DOCKER_CONFIG_DIR, readOnly: true },
    ],
  };
}

/**
 * The `.dockerconfigjson` of a per-build push Secret: `auth` for a username and password or
 * token (ECR, Artifact Registry, a Docker config login), `identitytoken` for an ACR refresh token.
 */
export function pushDockerConfigJson(credentials: RegistryCredentials): string {
  const config = credentials.toDockerAuthConfig();
  const entry =
    credentials.kind === 'identity-token'
      ? { username: ACR_TOKEN_USERNAME, identitytoken: config.identitytoken }
      : {
          auth: Buffer.from(`${config.username ?? ''}:${config.password ?? ''}`).toString('base64'),
        };
  return JSON.stringify({ auths: { [credentials.serverAddress]: entry } });
}
