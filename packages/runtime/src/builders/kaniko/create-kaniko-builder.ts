import type * as k8s from '@kubernetes/client-node';
import type { AgentSettings, BuilderSettings } from '@launch-agent/config';
import { agentNamespace, loadKubeConfig } from '../../kubernetes/kube-client.js';
import type { BuildContextStore } from '../../storage/context-store.js';
import { createContextStore } from '../../storage/select-context-store.js';
import { BuilderUnavailableError } from '../builder.js';
import { validateKanikoConfig } from './kaniko-config-overlay.js';
import { KanikoBuilder } from './kaniko-builder.js';

export interface CreateKanikoBuilderInput {
  settings: BuilderSettings;
  env?: NodeJS.ProcessEnv;
  /** The rest of the agent's settings: namespace, build ServiceAccount, region. */
  agent?: Pick<AgentSettings, 'environment' | 'kubernetes'>;
  /** Default: KUBECONFIG, else the in-cluster ServiceAccount. */
  kubeConfig?: k8s.KubeConfig;
  /** Overrides builder.context-pvc-mount-path (running outside the cluster). */
  pvcMountPath?: string;
  /** The store for builder.build-context-store, when the caller has made it already. */
  store?: BuildContextStore;
}

/** The kaniko builder for a config; fails early on what the build would fail on later. */
export async function createKanikoBuilder(input: CreateKanikoBuilderInput): Promise<KanikoBuilder> {
  const env = input.env ?? process.env;
  const { settings, agent } = input;
  const storeConfig = settings.buildContextStore;
  if (!storeConfig) {
    throw new BuilderUnavailableError(
      'kaniko',
      'builder.type is kaniko but builder.build-context-store is not set: kaniko reads the build context from ' +
        's3://bucket[/path], gs://bucket[/path], https://<account>.blob.core.windows.net/<container>[/path] or pvc://<claim>[/path]',
    );
  }
  if (settings.kanikoConfig !== undefined) validateKanikoConfig(settings.kanikoConfig);
  const kubeConfig = input.kubeConfig ?? loadKubeConfig(env);
  const region =
    agent?.environment.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  const environment = agent?.environment ?? {
    type: 'local' as const,
    ...(region ? { region } : {}),
  };
  const store =
    input.store ??
    (await createContextStore(
      storeConfig,
      { environment, builder: settings },
      { env, ...(input.pvcMountPath ? { pvcMountPath: input.pvcMountPath } : {}) },
    ));
  const serviceAccountName =
    agent?.kubernetes.buildServiceAccount ?? agent?.kubernetes.serviceAccount;
  return new KanikoBuilder({
    kubeConfig,
    namespace: agentNamespace(kubeConfig, agent?.kubernetes.namespace),
    settings,
    storeConfig,
    store,
    ...(serviceAccountName ? { serviceAccountName } : {}),
    ...(region ? { region } : {}),
  });
}
