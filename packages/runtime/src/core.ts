// The runtime without the modules that import a cloud SDK or dockerode when they load: what the
// CLI and the agent import at start. Those modules are reached through createRegistry,
// createContextStore and selectBuilder, which import them when the config selects them; the
// package's index (index.ts) also exports their classes.
export {
  createBuildPlan,
  BuildPlanError,
  UnsafeContextFileError,
  SOURCE_HASH_LABEL,
  SOURCE_HASH_VERSION_LABEL,
  type BuildPlan,
  type BuildPlanOptions,
} from './context/build-plan.js';
export { walkContext, ContextReadError, type ContextEntry } from './context/walk.js';
export {
  DockerIgnore,
  DockerIgnoreError,
  DOCKERIGNORE_MAX_PATTERNS,
  DOCKERIGNORE_MAX_PATTERN_LENGTH,
} from './context/dockerignore.js';
export {
  CONTEXT_TEXT_FILE_MAX_BYTES,
  ContextFileError,
  readContextFile,
} from './context/contained-file.js';
export {
  createContextTar,
  ContextChangedError,
  CONTEXT_MTIME,
  type ContextTar,
} from './context/tar.js';
export {
  hashFiles,
  hashFile,
  FileHashError,
  type FileDigest,
  type HashJob,
} from './context/hash-pool.js';
export {
  computeSourceHash,
  digestSourceManifest,
  SOURCE_HASH_VERSION,
  TAG_HEX_LENGTH,
  type SourceHash,
  type SourceHashInputs,
} from './context/source-hash.js';
export { StatCache, defaultCacheDir, RACY_WINDOW_MS, type StatKey } from './context/stat-cache.js';

export {
  RegistryCredentials,
  RegistryError,
  RegistryAuthError,
  BaseRegistry,
  type Registry,
  type ImageLookup,
} from './registries/registry.js';
export { createRegistry, type RegistryOptions } from './registries/select-registry.js';
export {
  OciRegistry,
  MANIFEST_ACCEPT,
  type OciRegistryOptions,
} from './registries/oci-registry.js';
export {
  dockerCredentialsFor,
  dockerConfigPath,
  type CredentialHelperRunner,
} from './registries/docker-credentials.js';

export {
  BuildFailedError,
  PushFailedError,
  BuilderUnavailableError,
  silentProgress,
  type Builder,
  type BuildRequest,
  type BuildResult,
  type ProgressReporter,
} from './builders/builder.js';
export { dockerEndpoint } from './builders/docker-endpoint.js';
export { NoopBuilder } from './builders/noop-builder.js';
export {
  readDockerStream,
  JsonStreamSplitter,
  DockerStreamError,
  type DockerStreamMessage,
} from './builders/docker-stream.js';
export {
  selectBuilder,
  defaultBuilderFactories,
  type BuilderFactory,
  type BuilderContext,
  type SelectedBuilder,
} from './builders/select-builder.js';

export { buildImage, type BuildImageRequest, type BuildReport } from './build-engine.js';
export {
  ContextNotFoundError,
  ContextStoreError,
  checkKey,
  joinKey,
  type BuildContextStore,
  type PutOptions,
} from './storage/context-store.js';
export {
  PvcContextStore,
  KANIKO_PVC_MOUNT_PATH,
  type PvcContextStoreOptions,
} from './storage/pvc-context-store.js';
export {
  createContextStore,
  selectContextStore,
  type SelectContextStoreOptions,
} from './storage/select-context-store.js';
export * from './doctor/index.js';
export * from './builders/kaniko/index.js';
export * from './kubernetes/index.js';
export * from './agent/index.js';
