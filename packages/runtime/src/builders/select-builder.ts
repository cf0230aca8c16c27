import type * as k8s from '@kubernetes/client-node';
import type { AgentSettings, BuilderSettings, BuilderType } from '@launch-agent/config';
import type Docker from 'dockerode';
import type { BuildContextStore } from '../storage/context-store.js';
import { BuilderUnavailableError, type Builder } from './builder.js';
import { dockerEndpoint } from './docker-endpoint.js';
import { NoopBuilder } from './noop-builder.js';

export interface BuilderContext {
  settings: BuilderSettings;
  env: NodeJS.ProcessEnv;
  /** Why this builder was chosen, for messages (`builder.type is noop`, `no Docker engine answered ...`). */
  reason: string;
  /** The rest of the agent's settings, when the caller has them (kaniko: namespace, ServiceAccount, region). */
  agent?: Pick<AgentSettings, 'environment' | 'kubernetes'>;
  /** The caller's API server connection (the agent's), for builders that create Jobs. */
  kubeConfig?: k8s.KubeConfig;
  /** The caller's build-context store, so a builder uploads where the caller reads. */
  contextStore?: BuildContextStore;
}

export type BuilderFactory = (context: BuilderContext) => Builder | Promise<Builder>;

/**
 * The builders this runtime can make, by `builder.type`. Another builder (kaniko) registers a
 * factory here or passes one to `selectBuilder`. The docker and kaniko modules (dockerode, the
 * context stores' SDKs) are imported when that builder is chosen, not when the agent starts.
 */
export const defaultBuilderFactories: Partial<Record<BuilderType, BuilderFactory>> = {
  docker: async () => new (await import('./docker-builder.js')).DockerBuilder(),
  noop: (context) => new NoopBuilder(context.reason),
  kaniko: async (context) =>
    (await import('./kaniko/create-kaniko-builder.js')).createKanikoBuilder({
      settings: context.settings,
      env: context.env,
      ...(context.agent ? { agent: context.agent } : {}),
      ...(context.kubeConfig ? { kubeConfig: context.kubeConfig } : {}),
      ...(context.contextStore ? { store: context.contextStore } : {}),
    }),
};

export interface SelectBuilderOptions {
  factories?: Partial<Record<BuilderType, BuilderFactory>>;
  env?: NodeJS.ProcessEnv;
  /** Resolves when a Docker engine answers; default: `GET /_ping` on DOCKER_HOST within 3 s. */
  pingDocker?: () => Promise<void>;
  agent?: Pick<AgentSettings, 'environment' | 'kubernetes'>;
  kubeConfig?: k8s.KubeConfig;
  contextStore?: BuildContextStore;
}

const PING_TIMEOUT_MS = 3000;

async function pingDockerEngine(): Promise<void> {
  // A separate client: its timeout must not apply to long, silent build steps.
  const { default: DockerClient } = await import('dockerode');
  await new DockerClient({ timeout: PING_TIMEOUT_MS } as Docker.DockerOptions).ping();
}

export interface SelectedBuilder {
  builder: Builder;
  type: BuilderType;
  reason: string;
}

/**
 * Picks the builder, as the W&B launch agent guide says: the configured `builder.type`; with no
 * builder block (`auto`), docker when a Docker engine answers, else noop.
 */
export async function selectBuilder(
  settings: BuilderSettings,
  options: SelectBuilderOptions = {},
): Promise<SelectedBuilder> {
  const env = options.env ?? process.env;
  const factories = { ...defaultBuilderFactories, ...options.factories };
  let type: BuilderType;
  let reason: string;
  if (settings.type === 'auto') {
    try {
      await (options.pingDocker ?? pingDockerEngine)();
      type = 'docker';
      reason = `the config has no builder block and a Docker engine answered at ${dockerEndpoint(env)}`;
    } catch (error) {
      type = 'noop';
      reason = `the config has no builder block and no Docker engine answered at ${dockerEndpoint(env)} (${(error as Error).message})`;
    }
  } else {
    type = settings.type;
    reason = `builder.type is ${type}`;
  }
  const factory = factories[type];
  if (!factory) {
    throw new BuilderUnavailableError(
      type,
      `builder.type ${type} is not available in this build of the agent; use docker or noop`,
    );
  }
  const context: BuilderContext = {
    settings,
    env,
    reason,
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.kubeConfig ? { kubeConfig: options.kubeConfig } : {}),
    ...(options.contextStore ? { contextStore: options.contextStore } : {}),
  };
  return { builder: await factory(context), type, reason };
}
