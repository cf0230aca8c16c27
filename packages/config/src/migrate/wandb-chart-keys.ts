// The values of W&B's launch-agent chart (wandb/helm-charts, charts/launch-agent, 0.13.x), as
// `launch-agent migrate-values` reads them: every key, the shape it must have, and whether its
// value is a secret (never printed, never written where a ConfigMap could carry it).

/** The shape a W&B chart value must have. `any` is accepted as it is. */
export type WandbValueShape = 'string' | 'boolean' | 'integer' | 'mapping' | 'list' | 'any';

export interface WandbKey {
  shape: WandbValueShape;
  /** The value is a credential: it never appears in a message, the report or the output. */
  secret?: boolean;
  /** Read by shape only; its entries are checked by the converter. */
  children?: Record<string, WandbKey>;
}

const STRING_MAP: WandbKey = { shape: 'mapping' };

/** Every key of the W&B chart's values.yaml, with the historic `volcano` switch. */
export const WANDB_CHART_KEYS: Record<string, WandbKey> = {
  agent: {
    shape: 'mapping',
    children: {
      labels: STRING_MAP,
      podAnnotations: STRING_MAP,
      apiKey: { shape: 'string', secret: true },
      useExternalWandbSecret: { shape: 'boolean' },
      image: { shape: 'string' },
      imagePullPolicy: { shape: 'string' },
      resources: { shape: 'mapping' },
      nodeSelector: STRING_MAP,
      startTimeout: { shape: 'integer' },
      minAvailable: { shape: 'any' },
      tolerations: { shape: 'list' },
      affinity: { shape: 'mapping' },
    },
  },
  namespace: { shape: 'string' },
  baseUrl: { shape: 'string' },
  additionalTargetNamespaces: { shape: 'list' },
  launchConfig: { shape: 'string' },
  // The chart's default is `{}` although the templates read a list of {name, value}.
  additionalEnvVars: { shape: 'any' },
  additionalSecretEnvVars: { shape: 'any', secret: true },
  gitCreds: { shape: 'string', secret: true },
  sshAuthSecrets: { shape: 'list' },
  serviceAccount: { shape: 'mapping', children: { annotations: STRING_MAP } },
  azureStorageAccessKey: { shape: 'string', secret: true },
  customCABundle: {
    shape: 'mapping',
    children: {
      configMap: {
        shape: 'mapping',
        children: { name: { shape: 'string' }, key: { shape: 'string' } },
      },
    },
  },
  kanikoPvcName: { shape: 'string' },
  kanikoDockerConfigSecret: { shape: 'string' },
  volcano: { shape: 'any' },
};

/**
 * Top-level keys that exist only in W&B's chart. Our chart refuses values carrying any of them
 * and names `launch-agent migrate-values` (`serviceAccount` and `additionalTargetNamespaces`
 * exist in both charts with the same meaning, so they are not on this list).
 */
export const WANDB_ONLY_TOP_LEVEL_KEYS = Object.keys(WANDB_CHART_KEYS).filter(
  (key) => key !== 'serviceAccount' && key !== 'additionalTargetNamespaces',
);

/** The message our chart (and `launch-agent render`) fails with for a W&B values file. */
export function wandbValuesRefusal(keys: string[]): string {
  return (
    `these values are written for W&B's launch-agent chart (${keys.join(', ')}); this chart does not read them. ` +
    'Convert the file first: launch-agent migrate-values FILE > values.yaml (see docs/migrate-from-wandb.md)'
  );
}

/** The W&B chart's release-independent object names its templates create. */
export const WANDB_SECRET_ENV_SECRET = 'launch-agent-secret-env-vars';
export const WANDB_GIT_CREDS_SECRET = 'git-creds';
export const WANDB_AZURE_STORAGE_SECRET = 'azure-storage-access-key';
