export { KanikoBuilder, KANIKO_LOG_PREFIX, type KanikoBuilderOptions } from './kaniko-builder.js';
export { createKanikoBuilder, type CreateKanikoBuilderInput } from './create-kaniko-builder.js';
export {
  buildKanikoJob,
  buildSuffix,
  cacheRepository,
  dockerConfigMapName,
  kanikoJobName,
  DEFAULT_KANIKO_IMAGE,
  KANIKO_CONTAINER_NAME,
  MANAGED_BY_LABEL,
  MANAGED_BY,
  COMPONENT_LABEL,
  KANIKO_COMPONENT,
  BUILD_ID_LABEL,
  BUILD_JOB_LABEL,
  SOURCE_HASH_ANNOTATION,
  CONTEXT_KEY_ANNOTATION,
  CONTEXT_URI_ANNOTATION,
  type KanikoJobInput,
  type KanikoJobSpec,
} from './kaniko-job-spec.js';
export {
  applyKanikoConfig,
  validateKanikoConfig,
  mergeArgs,
  KanikoConfigError,
} from './kaniko-config-overlay.js';
export {
  kanikoCredentials,
  KANIKO_DOCKER_CONFIG_DIR,
  KANIKO_SECRET_DIR,
  type KanikoCredentials,
} from './kaniko-credentials.js';
export { followBuildJob, kanikoContainerStatus, type JobOutcome } from './job-watch.js';
export {
  parallelGzip,
  type ParallelGzipOptions,
  type ParallelGzipStats,
} from '../../context/parallel-gzip.js';
export {
  cleanUpKanikoLeftovers,
  type KanikoLeftovers,
  type KanikoLeftoversOptions,
} from './leftovers.js';
