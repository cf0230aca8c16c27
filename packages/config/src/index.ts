export type { LaunchAgentConfig } from './generated/agent-config.js';
export { agentConfigSchema } from './generated/agent-config-schema.js';
export { formatProblem, joinPath, redactProblem, showValue, type Problem } from './problems.js';
export {
  ACR_REGISTRY_NAME_RULE,
  azureRegistryName,
  parseDestination,
  type Destination,
  type RegistryKind,
  type ParseResult,
} from './uri/destination.js';
export { parseContextStore, type ContextStore } from './uri/context-store.js';
export { validateAgainstSchema } from './validate/schema-validator.js';
export { checkSemantics, effectiveDestination } from './validate/semantic-rules.js';
export {
  MACRO_PATTERN,
  RUN_TEMPLATE_MACROS,
  type RunTemplateMacro,
} from './validate/run-template-rules.js';
export {
  normalizeConfig,
  DEFAULT_BUILD_JOB_NAME,
  DEFAULT_BUILD_TIMEOUT_SECONDS,
  DEFAULT_CONTEXT_PVC_MOUNT_PATH,
  DEFAULT_MAX_SOURCE_BYTES,
  DEFAULT_MAX_SOURCE_ENTRIES,
  DEFAULT_QUEUE,
  type AgentSettings,
  type AllowedToleration,
  type BuilderSettings,
  type NamespaceSelector,
  type QueuePolicy,
  type BuilderType,
  type EnvironmentType,
  type GitSourceSettings,
} from './normalize.js';
export {
  CREDENTIAL_SCHEMES,
  DEFAULT_GIT_SCHEMES,
  hostMatches,
  hostPatternProblem,
  normalizeHost,
  type GitScheme,
} from './uri/git-hosts.js';
export {
  checkConfigText,
  loadConfig,
  readConfigSource,
  defaultConfigPath,
  ConfigFileError,
  ConfigInvalidError,
  CONFIG_ENVIRONMENT,
  DEFAULT_CONFIG_RELATIVE_PATH,
  type CheckResult,
  type ConfigOverrides,
  type LoadOptions,
  type LoadedConfig,
} from './load/load-config.js';
export * from './permissions/index.js';
export * from './render/index.js';
export { isSecretKey, redactText, redactValue, REDACTED } from './redact/redact-secrets.js';
export {
  CONFIG_FILE_MAX_BYTES,
  invalidUtf8Offset,
  readTextFile,
  TextFileError,
} from './load/read-text-file.js';
export * from './migrate/index.js';
