// `launch-agent migrate-values`: reads a values file written for W&B's launch-agent chart and
// returns values for this chart with the same meaning, plus a report of what happened to every
// key. Secrets are never copied: they become references to Secrets the user creates.
import { distance, closest } from 'fastest-levenshtein';
import { isMap, isScalar, LineCounter, parseDocument, stringify, type Node } from 'yaml';
import type { Problem } from '../problems.js';
import {
  migrateAgentBlock,
  migrateCustomCa,
  migrateEnv,
  migrateGitAndSsh,
  migrateServiceAccount,
} from './agent-pod-rules.js';
import { parseLaunchConfigString, stringOrigin } from './launch-config-string.js';
import {
  isMapping,
  isUnset,
  MigrateValuesError,
  Migration,
  type MigrationNote,
  type Values,
} from './migration.js';
import { WANDB_AZURE_STORAGE_SECRET, WANDB_CHART_KEYS, type WandbKey } from './wandb-chart-keys.js';

/** Reading stops here: a values file is small, and the input is untrusted. */
export const MAX_VALUES_BYTES = 1024 * 1024;

/**
 * The W&B chart's defaults that change what gets deployed when a file leaves them out (helm
 * lays the file over them): the namespace, the extra target namespaces (a list, so replaced
 * whole), the agent's limits and its PodDisruptionBudget.
 */
const WANDB_DEFAULTS: Values = {
  namespace: 'wandb',
  additionalTargetNamespaces: ['default', 'wandb'],
  agent: { resources: { limits: { cpu: '1000m', memory: '1Gi' } }, minAvailable: 1 },
};

/** Our chart's keys: a file with them is already converted, or mixes the two charts. */
const OUR_TOP_LEVEL_KEYS = new Set([
  'agentConfig',
  'namespaceOverride',
  'image',
  'workloadIdentity',
  'buildServiceAccount',
  'kaniko',
  'credentials',
  'resources',
  'nodeSelector',
  'tolerations',
  'affinity',
  'podLabels',
  'podAnnotations',
  'extraEnv',
]);

export interface MigrationResult {
  values: Values;
  notes: MigrationNote[];
}

/** helm's coalesce: maps merge key by key, anything else in the file wins, null removes. */
function coalesce(defaults: Values, file: Values): Values {
  const out: Values = structuredClone(defaults);
  for (const [key, value] of Object.entries(file)) {
    if (value === null) delete out[key];
    else if (isMapping(value) && isMapping(out[key]))
      out[key] = coalesce(out[key] as Values, value);
    else out[key] = value;
  }
  return out;
}

function shapeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (isMapping(value)) return 'mapping';
  return Number.isInteger(value) ? 'integer' : typeof value;
}

function checkKeys(
  m: Migration,
  values: Values,
  catalog: Record<string, WandbKey>,
  path: string[],
): void {
  for (const [key, value] of Object.entries(values)) {
    const segments = [...path, key];
    const dotted = segments.join('.');
    const known = catalog[key];
    if (!known) {
      const names = Object.keys(catalog);
      const near = closest(key, names);
      const hint =
        distance(key, near) <= Math.max(2, Math.floor(key.length / 3))
          ? `; did you mean "${near}"?`
          : '';
      const ours =
        path.length === 0 && OUR_TOP_LEVEL_KEYS.has(key)
          ? '; it is a key of this chart: the file is already converted, or mixes both charts'
          : '';
      m.errors.push({
        path: dotted,
        message: `not a key of W&B's launch-agent chart${ours || hint}`,
        expected: `one of ${names.join(', ')}`,
        location: m.where(segments, true),
      });
      continue;
    }
    if (value === null || value === undefined || known.shape === 'any') continue;
    const shape = shapeOf(value);
    const ok =
      shape === known.shape ||
      // `gitCreds: |` with nothing after it, `additionalEnvVars: {}` and the like.
      (known.shape === 'list' && shape === 'mapping' && isUnset(value)) ||
      (known.shape === 'string' && (shape === 'number' || shape === 'integer'));
    if (!ok) {
      m.errors.push({
        path: dotted,
        message: `wrong type (${shape})`,
        ...(known.secret ? {} : { value }),
        expected: `a ${known.shape}`,
        location: m.where(segments),
      });
      continue;
    }
    if (known.children && isMapping(value)) checkKeys(m, value, known.children, segments);
  }
}

function presentKeys(node: Node | null | undefined, prefix: string, out: Set<string>): void {
  if (!isMap(node)) return;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const dotted = prefix ? `${prefix}.${key}` : key;
    out.add(dotted);
    presentKeys(pair.value as Node | null, dotted, out);
  }
}

function migrateNamespaces(m: Migration, values: Values): string {
  const namespace = typeof values.namespace === 'string' ? values.namespace : '';
  if (namespace) {
    m.set('namespaceOverride', namespace);
    m.note(
      'namespace',
      'mapped',
      `every object goes to ${namespace} whatever the release namespace, as in the W&B chart; drop namespaceOverride and use helm install -n ${namespace} if you prefer`,
      ['namespaceOverride'],
    );
  } else m.note('namespace', 'unset', 'empty; this chart uses the release namespace');
  const targets = values.additionalTargetNamespaces;
  if (isUnset(targets)) {
    m.note('additionalTargetNamespaces', 'unset', 'empty; nothing to move');
  } else {
    // The agent's own namespace holds its credentials and is never a tenant here: the chart
    // refuses it in additionalTargetNamespaces, and the agent fails LaunchJobs created there.
    const list = [...new Set((targets as unknown[]).map(String))].filter(
      (target) => target !== namespace,
    );
    if (list.length > 0) m.set('additionalTargetNamespaces', list);
    const dropped = list.length < new Set((targets as unknown[]).map(String)).size;
    m.note(
      'additionalTargetNamespaces',
      dropped ? 'attention' : 'mapped',
      (dropped
        ? `${namespace}, the agent's own namespace, is left out: it holds the agent's credentials and runs no job here; create LaunchJobs in ${list.length > 0 ? list.join(', ') : 'a namespace you list here'}. `
        : '') +
        'The tenant namespaces the agent serves: LaunchJobs are created and run there; this chart makes a Role and RoleBinding in each',
      list.length > 0 ? ['additionalTargetNamespaces'] : [],
    );
  }
  if (isUnset(values.baseUrl)) m.note('baseUrl', 'unset', 'empty; nothing to move');
  else m.note('baseUrl', 'dropped', 'there is no W&B backend to talk to');
  if (isUnset(values.volcano) || values.volcano === false) {
    m.note('volcano', 'unset', 'empty; nothing to move');
  } else {
    m.note(
      'volcano',
      'dropped',
      'Volcano jobs are not supported: run Jobs are batch/v1 Jobs; for gang scheduling and quotas use Kueue through agentConfig.run-templates',
    );
  }
  return namespace || '<release namespace>';
}

function migrateLaunchConfig(
  m: Migration,
  values: Values,
  text: string,
  doc: unknown,
  lineCounter: LineCounter,
): void {
  const builderOf = () => m.get('agentConfig.builder') as Values | undefined;
  const pvc = isUnset(values.kanikoPvcName) ? undefined : String(values.kanikoPvcName);
  if (isUnset(values.launchConfig)) {
    m.note(
      'launchConfig',
      'attention',
      "empty: agentConfig keeps this chart's default (queue default, builder noop)",
    );
  } else {
    const node = (doc as { get(key: string, keep: true): Node }).get('launchConfig', true);
    const parsed = parseLaunchConfigString(
      String(values.launchConfig),
      stringOrigin(node, text, m.file, lineCounter),
      (config) => {
        // The chart writes the pvc:// store itself for kanikoPvcName, and W&B's agent used the
        // claim whatever build-context-store said; judge the config the agent will read.
        const builder = config.builder;
        if (pvc && isMapping(builder) && builder.type === 'kaniko') {
          builder['build-context-store'] = `pvc://${pvc}`;
        }
        return config;
      },
    );
    m.errors.push(...parsed.errors);
    if (!parsed.config) return;
    m.set('agentConfig', structuredClone(parsed.config));
    const placeholders = (parsed.config.queues ?? []).filter((q) => /^<.*>$/.test(q));
    const concerns = [
      ...parsed.warnings.map((w) => `${w.path}: ${w.message}`),
      ...placeholders.map((q) => `queue ${JSON.stringify(q)} is a placeholder; name your queue`),
    ];
    m.note(
      'launchConfig',
      concerns.length > 0 ? 'attention' : 'mapped',
      concerns.length > 0
        ? `parsed into agentConfig; ${concerns.join('; ')}`
        : 'parsed into agentConfig and checked against the agent schema',
      ['agentConfig'],
    );
  }
  const kaniko = builderOf()?.type === 'kaniko';
  const onlyKaniko = 'only kaniko builds use it, and agentConfig.builder.type is not kaniko';
  if (!pvc) m.note('kanikoPvcName', 'unset', 'empty; nothing to move');
  else if (!kaniko) m.note('kanikoPvcName', 'dropped', onlyKaniko);
  else {
    const builder = builderOf()!;
    const store = builder['build-context-store'];
    delete builder['build-context-store'];
    m.set('kaniko.contextPvc.enabled', true);
    m.set('kaniko.contextPvc.existingClaim', pvc);
    m.note(
      'kanikoPvcName',
      store ? 'attention' : 'mapped',
      store
        ? `the claim carries build contexts, as it did for W&B's agent; builder.build-context-store ${JSON.stringify(store)} is removed`
        : 'the claim carries build contexts; it must be ReadWriteMany (on CoreWeave, storage class shared-vast)',
      ['kaniko.contextPvc.enabled', 'kaniko.contextPvc.existingClaim'],
    );
  }
  const docker = isUnset(values.kanikoDockerConfigSecret)
    ? undefined
    : String(values.kanikoDockerConfigSecret);
  if (!docker) m.note('kanikoDockerConfigSecret', 'unset', 'empty; nothing to move');
  else if (!kaniko) m.note('kanikoDockerConfigSecret', 'dropped', onlyKaniko);
  else {
    m.set('kaniko.dockerConfigSecret.existingSecret', docker);
    m.note(
      'kanikoDockerConfigSecret',
      'mapped',
      'kaniko pods push with it, and the agent reads it (DOCKER_CONFIG) for its registry checks; a kubernetes.io/dockerconfigjson Secret with the key .dockerconfigjson, as before',
      ['kaniko.dockerConfigSecret.existingSecret'],
    );
  }
  if (isUnset(values.azureStorageAccessKey)) {
    m.note('azureStorageAccessKey', 'unset', 'empty; nothing to move');
  } else if (!kaniko) m.note('azureStorageAccessKey', 'dropped', onlyKaniko);
  else {
    m.set('kaniko.azureStorageSecret.name', WANDB_AZURE_STORAGE_SECRET);
    m.set('kaniko.azureStorageSecret.key', 'password');
    m.note(
      'azureStorageAccessKey',
      'attention',
      `the key is not copied: kaniko pods read Secret ${WANDB_AZURE_STORAGE_SECRET} (key password), which the W&B chart made in namespace wandb. Create it in the release namespace: kubectl create secret generic ${WANDB_AZURE_STORAGE_SECRET} --from-literal=password=...`,
      ['kaniko.azureStorageSecret.name', 'kaniko.azureStorageSecret.key'],
    );
  }
}

/** Converts W&B chart values. Throws MigrateValuesError naming every problem's key and line. */
export function migrateWandbValues(text: string, file: string): MigrationResult {
  const fail = (problem: Problem): never => {
    throw new MigrateValuesError([problem], file);
  };
  if (Buffer.byteLength(text) > MAX_VALUES_BYTES) {
    fail({
      path: '(root)',
      message: `the file is larger than ${MAX_VALUES_BYTES} bytes; a values file is not`,
    });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, version: '1.1', uniqueKeys: true });
  if (doc.errors.length > 0) {
    const pos = lineCounter.linePos(doc.errors[0]!.pos[0]);
    fail({
      path: '(root)',
      message: `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
      location: { file, line: pos.line, column: pos.col },
    });
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isMapping(raw)) {
    fail({
      path: '(root)',
      message: raw === null || raw === undefined ? 'the file is empty' : 'not a mapping of values',
      expected: "a values file for W&B's launch-agent chart",
      location: { file, line: 1, column: 1 },
    });
  }
  const present = new Set<string>();
  presentKeys(doc.contents as Node | null, '', present);
  const m = new Migration(file, doc, lineCounter, present);
  checkKeys(m, raw as Values, WANDB_CHART_KEYS, []);
  if (m.errors.length > 0) throw new MigrateValuesError(m.errors, file);

  const values = coalesce(WANDB_DEFAULTS, raw as Values);
  const namespace = migrateNamespaces(m, values);
  migrateLaunchConfig(m, values, text, doc, lineCounter);
  migrateServiceAccount(m, isMapping(values.serviceAccount) ? values.serviceAccount : {});
  migrateAgentBlock(m, isMapping(values.agent) ? values.agent : {});
  migrateEnv(m, values, namespace);
  migrateGitAndSsh(m, values, namespace);
  migrateCustomCa(m, values);
  if (m.errors.length > 0) throw new MigrateValuesError(m.errors, file);
  return { values: m.values, notes: m.notes };
}

/** The values file written to stdout. */
export function migratedValuesYaml(result: MigrationResult, source: string): string {
  const header =
    `# Values for the launch-agent chart, converted from W&B launch-agent chart values (${source})\n` +
    '# by `launch-agent migrate-values`. Read the report it printed: some keys need you to act.\n';
  return header + stringify(result.values, { lineWidth: 0 });
}

/** The report written to stderr: one line per W&B key. */
export function formatMigrationReport(result: MigrationResult, source: string): string {
  const count = (outcome: MigrationNote['outcome']) =>
    result.notes.filter((n) => n.outcome === outcome).length;
  const lines = [
    `${source}: ${count('mapped')} mapped, ${count('dropped')} dropped, ${count('attention')} need attention, ${count('unset')} unset`,
  ];
  const order: MigrationNote['outcome'][] = ['attention', 'mapped', 'dropped', 'unset'];
  for (const outcome of order) {
    for (const note of result.notes.filter((n) => n.outcome === outcome)) {
      const where = note.line
        ? `:${note.line}`
        : note.outcome === 'unset'
          ? ' (not in the file)'
          : ' (W&B chart default)';
      const to = note.to ? ` -> ${note.to.join(', ')}` : '';
      lines.push(`${outcome.padEnd(9)} ${note.key}${where}${to}: ${note.message}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
