// The chart's launch-config.yaml, computed from the chart's values the way
// charts/launch-agent/templates/_helpers.tpl ("launch-agent.launchConfig" and
// "launch-agent.validate") does:
//
//   agentConfig
//   + kubernetes: namespace, service-account, build-service-account, target-namespaces
//     (keys the user set under agentConfig.kubernetes win)
//   + the kaniko.* values reflected into agentConfig.builder (keys the user set there win):
//       kaniko.contextPvc          -> build-context-store: pvc://<claim>[/path]
//       a pvc:// store             -> context-pvc-mount-path: /var/run/launch-agent/contexts
//       kaniko.dockerConfigSecret  -> docker-config-secret: <secret>
//       kaniko.azureStorageSecret  -> azure-storage-secret: {name, key}

import {
  buildServiceAccountName,
  contextPvcStore,
  dockerConfigSecretName,
  isEmpty,
  releaseNamespace,
  serviceAccountName,
  type Release,
} from './chart-names.js';
import { WANDB_ONLY_TOP_LEVEL_KEYS, wandbValuesRefusal } from '../migrate/wandb-chart-keys.js';
import { isTable, type Values } from './values.js';

/** Where the chart mounts a pvc:// context store's claim when agentConfig does not say. */
export const CHART_CONTEXT_PVC_MOUNT_PATH = '/var/run/launch-agent/contexts';

/** A combination of values the chart refuses (its templates call `fail` with the same text). */
export class ChartValuesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChartValuesError';
  }
}

function table(values: Values, key: string): Values {
  const value = values[key];
  return isTable(value) ? value : {};
}

/** Go's %q for the strings these messages show. */
function quote(value: unknown): string {
  return JSON.stringify(value === undefined || value === null ? '' : String(value));
}

/** "launch-agent.validate": checks the chart makes with `fail`. */
export function checkChartValues(values: Values, chart: string, release: Release): void {
  const wandbKeys = WANDB_ONLY_TOP_LEVEL_KEYS.filter((key) => key in values);
  if (wandbKeys.length > 0) throw new ChartValuesError(wandbValuesRefusal(wandbKeys));
  const namespace = releaseNamespace(values, release);
  const additional = values.additionalTargetNamespaces;
  if (Array.isArray(additional) && additional.includes(namespace)) {
    throw new ChartValuesError(
      `additionalTargetNamespaces lists ${quote(namespace)}, the release namespace: it holds the agent's credentials and never runs LaunchJobs. List only tenant namespaces.`,
    );
  }
  const serviceAccount = table(values, 'serviceAccount');
  if (isEmpty(serviceAccount.create) && isEmpty(serviceAccount.name)) {
    throw new ChartValuesError(
      'serviceAccount.create is false and serviceAccount.name is empty: the agent\'s Roles would be bound to the namespace\'s "default" ServiceAccount, which every pod without one runs as. Name the ServiceAccount the agent runs as.',
    );
  }
  const kaniko = table(values, 'kaniko');
  const contextPvc = table(kaniko, 'contextPvc');
  const dockerConfig = table(kaniko, 'dockerConfigSecret');
  const azureStorage = table(kaniko, 'azureStorageSecret');
  const credentials = table(values, 'credentials');
  const agentConfig = table(values, 'agentConfig');
  const builder = agentConfig.builder;
  const type = isTable(builder) && !isEmpty(builder.type) ? builder.type : '';

  const kanikoValues: string[] = [];
  if (!isEmpty(contextPvc.enabled)) kanikoValues.push('kaniko.contextPvc.enabled');
  if (!isEmpty(dockerConfig.existingSecret))
    kanikoValues.push('kaniko.dockerConfigSecret.existingSecret');
  if (!isEmpty(dockerConfig.dockerConfigJson))
    kanikoValues.push('kaniko.dockerConfigSecret.dockerConfigJson');
  if (!isEmpty(azureStorage.name)) kanikoValues.push('kaniko.azureStorageSecret.name');
  if (kanikoValues.length > 0 && type !== 'kaniko') {
    throw new ChartValuesError(
      `${kanikoValues[0]} is set, but agentConfig.builder.type is ${quote(type)}: the kaniko.* values only apply to the kaniko builder. Set agentConfig.builder.type: kaniko or unset them.`,
    );
  }
  if (!isEmpty(dockerConfig.existingSecret) && !isEmpty(dockerConfig.dockerConfigJson)) {
    throw new ChartValuesError(
      'kaniko.dockerConfigSecret: set existingSecret or dockerConfigJson, not both.',
    );
  }
  if (!isEmpty(credentials.existingSecret) && !isEmpty(credentials.env)) {
    throw new ChartValuesError('credentials: set existingSecret or env, not both.');
  }
  if (!isEmpty(contextPvc.enabled) && isTable(builder) && 'build-context-store' in builder) {
    const want = contextPvcStore(values, chart, release);
    if (builder['build-context-store'] !== want) {
      throw new ChartValuesError(
        `agentConfig.builder.build-context-store is ${quote(builder['build-context-store'])} but kaniko.contextPvc.enabled asks for ${quote(want)}: set one of the two.`,
      );
    }
  }
  const pdb = table(values, 'podDisruptionBudget');
  const setOrEmpty = (value: unknown) => (isEmpty(value) ? '' : String(value));
  if (
    !isEmpty(pdb.enabled) &&
    setOrEmpty(pdb.minAvailable) !== '' &&
    setOrEmpty(pdb.maxUnavailable) !== ''
  ) {
    throw new ChartValuesError(
      'podDisruptionBudget: set minAvailable or maxUnavailable, not both (set minAvailable to "" to use maxUnavailable).',
    );
  }
}

/** "launch-agent.launchConfig": the object the chart's ConfigMap serialises as launch-config.yaml. */
export function chartLaunchConfig(values: Values, chart: string, release: Release): Values {
  const config: Values = isEmpty(values.agentConfig)
    ? {}
    : structuredClone(table(values, 'agentConfig'));

  const namespace = releaseNamespace(values, release);
  const targets: string[] = [];
  const additional = values.additionalTargetNamespaces;
  for (const entry of Array.isArray(additional) ? additional : []) {
    if (!targets.includes(entry as string)) targets.push(entry as string);
  }
  const kubernetes: Values = isTable(config.kubernetes) ? config.kubernetes : {};
  const computed: Values = {
    namespace,
    'service-account': serviceAccountName(values, chart, release),
    'build-service-account': buildServiceAccountName(values, chart, release),
    'target-namespaces': targets,
  };
  for (const [key, value] of Object.entries(computed)) {
    if (!(key in kubernetes)) kubernetes[key] = value;
  }
  config.kubernetes = kubernetes;

  const builder = config.builder;
  if (isTable(builder)) {
    const kaniko = table(values, 'kaniko');
    if (!isEmpty(table(kaniko, 'contextPvc').enabled) && !('build-context-store' in builder)) {
      builder['build-context-store'] = contextPvcStore(values, chart, release);
    }
    const store = builder['build-context-store'];
    if (
      typeof store === 'string' &&
      store.startsWith('pvc://') &&
      !('context-pvc-mount-path' in builder)
    ) {
      builder['context-pvc-mount-path'] = CHART_CONTEXT_PVC_MOUNT_PATH;
    }
    const dockerSecret = dockerConfigSecretName(values, chart, release);
    if (dockerSecret !== '' && !('docker-config-secret' in builder)) {
      builder['docker-config-secret'] = dockerSecret;
    }
    const azure = table(kaniko, 'azureStorageSecret');
    if (!isEmpty(azure.name) && !('azure-storage-secret' in builder)) {
      builder['azure-storage-secret'] = { name: azure.name, key: azure.key ?? null };
    }
  }
  return config;
}
