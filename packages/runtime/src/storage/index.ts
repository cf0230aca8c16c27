export {
  ContextNotFoundError,
  ContextStoreError,
  checkKey,
  joinKey,
  type BuildContextStore,
  type PutOptions,
} from './context-store.js';
export { S3ContextStore, type S3ContextStoreOptions } from './s3-context-store.js';
export { GcsContextStore, gcsClient, type GcsContextStoreOptions } from './gcs-context-store.js';
export {
  AzureBlobContextStore,
  azureBlobServiceClient,
  type AzureBlobContextStoreOptions,
} from './azure-blob-context-store.js';
export {
  PvcContextStore,
  KANIKO_PVC_MOUNT_PATH,
  type PvcContextStoreOptions,
} from './pvc-context-store.js';
export {
  createContextStore,
  selectContextStore,
  type SelectContextStoreOptions,
} from './select-context-store.js';
