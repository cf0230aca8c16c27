export { LaunchAgent, type AgentWrites, type LaunchAgentOptions } from './controller.js';
export { agentLeaseName, LABEL_AGENT_LEASE } from './lease.js';
export { REPORTING_CONTROLLER } from './events.js';
export { AgentMetrics, BUILD_DURATION_BUCKETS } from './agent-metrics.js';
export {
  createLogger,
  logFormatFor,
  redact,
  redactText,
  silentLogger,
  REDACTED,
  type AgentLogger,
  type LogFields,
  type LogLevel,
  type LoggerOptions,
} from './agent-log.js';
export { startHealthServer, type HealthServer, type HealthSources } from './health-server.js';
export {
  BuildContextUnavailableError,
  DEFAULT_SOURCE_LIMITS,
  extractContextArchive,
  localBuildContext,
  type LocalBuildContext,
  type SourceLimits,
} from './build-context-source.js';
export {
  fillMacros,
  KUEUE_QUEUE_LABEL,
  LABEL_PROJECT,
  runJobName,
  runJobSpec,
  runJobWaiting,
  runTemplateForQueue,
  runTemplateMacros,
  RunTemplateError,
  secureModeViolations,
  type RunJobOptions,
  type RunJobTemplate,
  type RunJobWait,
  type SecureModeViolation,
} from './run-job-spec.js';
export { LaunchJobClient } from '../kubernetes/launchjob-client.js';
export * from '../kubernetes/launchjob-types.js';
// What `launch-agent start` needs to reach the API server, also exported by ../kubernetes/index.js.
export {
  agentNamespace,
  loadKubeConfig,
  KubernetesUnavailableError,
} from '../kubernetes/kube-client.js';
export { NoLogsYetError, runJobPod, writeRunJobLog } from './run-job-logs.js';
export { checkGitSource, fetchGitSource } from './git-source.js';
