/**
 * The runtime's public API, described in docs/api.md: what the `launch-agent` CLI uses and what
 * a program embedding the build engine or the agent needs. Everything else under src/ is
 * internal and may change in any release.
 *
 * Nothing exported here loads a cloud SDK or dockerode when it is imported: createRegistry,
 * createContextStore, selectContextStore and selectBuilder import them when a config selects
 * them, so a process pays only for the clouds it uses.
 */

// Turning a context directory into a pushed image.
export { buildImage, type BuildImageRequest, type BuildReport } from './build-engine.js';
export {
  createBuildPlan,
  BuildPlanError,
  UnsafeContextFileError,
  SOURCE_HASH_LABEL,
  SOURCE_HASH_VERSION_LABEL,
  type BuildPlan,
  type BuildPlanOptions,
} from './context/build-plan.js';
export { createContextTar, ContextChangedError, type ContextTar } from './context/tar.js';
export { parallelGzip } from './context/parallel-gzip.js';

// Where images go.
export { createRegistry, type RegistryOptions } from './registries/select-registry.js';
export {
  RegistryCredentials,
  RegistryError,
  RegistryAuthError,
  type Registry,
  type ImageLookup,
} from './registries/registry.js';

// What builds them.
export {
  selectBuilder,
  type SelectBuilderOptions,
  type SelectedBuilder,
} from './builders/select-builder.js';
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

// Where kaniko reads a context from.
export {
  createContextStore,
  selectContextStore,
  type SelectContextStoreOptions,
} from './storage/select-context-store.js';
export {
  ContextExistsError,
  ContextNotFoundError,
  ContextStoreError,
  type BuildContextStore,
  type DeleteOptions,
  type PutOptions,
  type StoredObject,
} from './storage/context-store.js';
export {
  contextUploadMetadata,
  newUploadToken,
  provesUpload,
} from './storage/context-ownership.js';

// The agent: a controller for LaunchJobs.
export { LaunchAgent, type AgentWrites, type LaunchAgentOptions } from './agent/launch-agent.js';
export { AgentMetrics } from './agent/agent-metrics.js';
export { startHealthServer, type HealthServer, type HealthSources } from './agent/health-server.js';
export {
  createLogger,
  logFormatFor,
  silentLogger,
  type AgentLogger,
  type LogFields,
  type LogLevel,
  type LoggerOptions,
} from './agent/agent-log.js';
export { checkGitSource } from './agent/git-source.js';
export { writeRunJobLog } from './agent/run-job-logs.js';
export { awaitsClaim, queuePositions } from './agent/queue-positions.js';
export { Informer } from './kubernetes/informer.js';

// LaunchJobs and the API server.
export { LaunchJobClient } from './kubernetes/launchjob-client.js';
export {
  LAUNCHJOB_GROUP,
  LAUNCHJOB_VERSION,
  LAUNCHJOB_PLURAL,
  LAUNCHJOB_KIND,
  LAUNCHJOB_API_VERSION,
  TERMINAL_PHASES,
  isTerminal,
  cancelRequest,
  type LaunchJob,
  type LaunchJobCancel,
  type LaunchJobList,
  type LaunchJobSpec,
  type LaunchJobSource,
  type LaunchJobRunSpec,
  type LaunchJobStatus,
  type LaunchJobCondition,
  type LaunchJobPhase,
} from './kubernetes/launchjob-types.js';
export { selfAccessAllowed, type AccessAttributes } from './kubernetes/access-review.js';
export {
  KubeRequestError,
  kubeJsonRequest,
  kubeTextStream,
  kubeWatch,
  withQuery,
} from './kubernetes/raw-request.js';
export {
  loadKubeConfig,
  agentNamespace,
  KubernetesUnavailableError,
} from './kubernetes/kube-client.js';

// Checking a setup before the first job.
export { runDoctor, type DoctorOptions } from './doctor/run-doctor.js';
export { type DoctorCheck } from './doctor/doctor-check.js';
