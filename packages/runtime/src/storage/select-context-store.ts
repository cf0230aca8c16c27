import type { AgentSettings, ContextStore } from '@launch-agent/config';
import type { BuildContextStore } from './context-store.js';
import { PvcContextStore } from './pvc-context-store.js';

export interface SelectContextStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides builder.context-pvc-mount-path (tests, running outside the cluster). */
  pvcMountPath?: string;
}

/**
 * The store for a parsed `build-context-store` URI. A cloud store's module (and its SDK) is
 * imported here, on first use, so an agent configured without one never loads it.
 */
export async function createContextStore(
  store: ContextStore,
  settings: Pick<AgentSettings, 'environment' | 'builder'>,
  options: SelectContextStoreOptions = {},
): Promise<BuildContextStore> {
  const env = options.env ?? process.env;
  switch (store.kind) {
    case 's3': {
      const { S3ContextStore } = await import('./s3-context-store.js');
      return new S3ContextStore({
        bucket: store.bucket,
        prefix: store.prefix,
        ...(settings.environment.region ? { region: settings.environment.region } : {}),
        ...(settings.builder.s3?.endpoint ? { endpoint: settings.builder.s3.endpoint } : {}),
        ...(settings.builder.s3?.addressingStyle
          ? { addressingStyle: settings.builder.s3.addressingStyle }
          : {}),
        env,
      });
    }
    case 'gcs': {
      const { GcsContextStore } = await import('./gcs-context-store.js');
      return new GcsContextStore({
        bucket: store.bucket,
        prefix: store.prefix,
        ...(settings.environment.project ? { project: settings.environment.project } : {}),
      });
    }
    case 'azure-blob': {
      const { AzureBlobContextStore } = await import('./azure-blob-context-store.js');
      return new AzureBlobContextStore({
        account: store.account,
        container: store.container,
        prefix: store.prefix,
        endpoint: store.endpoint,
        env,
      });
    }
    case 'pvc':
      return new PvcContextStore({
        claim: store.claim,
        prefix: store.prefix,
        mountPath: options.pvcMountPath ?? settings.builder.contextPvcMountPath,
      });
  }
}

/** The configured store, or undefined when the config has none. */
export async function selectContextStore(
  settings: Pick<AgentSettings, 'environment' | 'builder'>,
  options: SelectContextStoreOptions = {},
): Promise<BuildContextStore | undefined> {
  const store = settings.builder.buildContextStore;
  return store ? await createContextStore(store, settings, options) : undefined;
}
