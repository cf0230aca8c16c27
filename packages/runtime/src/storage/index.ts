export {
  ContextNotFoundError,
  ContextStoreError,
  checkKey,
  joinKey,
  type BuildContextStore,
  type PutOptions,
} from './context-store.js';
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
