// Everything the runtime exports: its core (core.ts) and the registries, context stores and
// builder that load a cloud SDK or dockerode as soon as they are imported.
export * from './core.js';
export { EcrRegistry, ecrEndpoint, type EcrRegistryOptions } from './registries/ecr-registry.js';
export { ArtifactRegistry, type ArtifactRegistryOptions } from './registries/artifact-registry.js';
export {
  AcrRegistry,
  ACR_TOKEN_USERNAME,
  type AcrRegistryOptions,
} from './registries/acr-registry.js';
export {
  DockerBuilder,
  DockerEngineError,
  type DockerBuilderOptions,
} from './builders/docker-builder.js';
export * from './storage/index.js';
