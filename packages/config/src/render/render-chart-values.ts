// `launch-agent render`: what the Helm chart would write into launch-config.yaml for given
// values, without Helm. Values are merged as `helm template -f ... --set ...` merges them,
// checked against the chart's values.schema.json and the chart's own `fail` rules, then turned
// into the launch config by the same steps as the chart's templates.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { parse, stringify } from 'yaml';
import { formatProblem, type Problem } from '../problems.js';
import { describeSchemaErrors } from '../validate/schema-validator.js';
import { checkChartValues, chartLaunchConfig } from './launch-config.js';
import { applySetLine } from './strvals.js';
import {
  coalesceWithDefaults,
  isTable,
  mergeMaps,
  parseValues,
  readValuesFile,
  ValuesFileError,
  type Values,
} from './values.js';

export interface RenderChartValuesOptions {
  /** `-f` files, in order: later files win. */
  valueFiles: string[];
  /** `--set` lines, in order, applied after the files. */
  sets: string[];
  /** `.Release.Name`; "release-name" like `helm template`. */
  releaseName?: string;
  /** `.Release.Namespace`; "default" like `helm template`. */
  namespace?: string;
  /** The chart directory; charts/launch-agent of this repository by default. */
  chartDir?: string;
}

export interface RenderedChartValues {
  /** `.Values` as the chart's templates see it (defaults coalesced). */
  values: Values;
  /** The launch-config.yaml object of the chart's ConfigMap. */
  launchConfig: Values;
  /** launchConfig as YAML, keys sorted like Helm's toYaml. */
  yaml: string;
}

/** Values that `helm template` would refuse: schema violations and the chart's `fail` checks. */
export class ChartRenderError extends Error {
  constructor(
    message: string,
    /** The file at fault, when one is. */
    readonly file?: string,
    /** Values that break the chart's schema, one per key path (`agentConfig.builder.type`). */
    readonly problems: Problem[] = [],
  ) {
    super(message);
    this.name = 'ChartRenderError';
  }
}

const CHART_SUBDIR = join('charts', 'launch-agent');

/** charts/launch-agent of the repository this module lives in (src/ or dist/), else of the cwd. */
export function defaultChartDir(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, CHART_SUBDIR);
      if (existsSync(join(candidate, 'Chart.yaml'))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new ChartRenderError(
    `cannot find ${CHART_SUBDIR}/Chart.yaml above ${starts.join(' or ')}; pass chartDir`,
  );
}

async function readChartFile(chartDir: string, name: string): Promise<string> {
  const file = join(chartDir, name);
  try {
    return await readFile(file, 'utf8');
  } catch {
    throw new ChartRenderError(`${file}: cannot read the chart's ${name}`, file);
  }
}

// Compiling the chart's schema takes a while; renders of the same schema text share it.
const compiled = new Map<string, ValidateFunction>();

async function validatorFor(schemaText: string, schemaFile: string): Promise<ValidateFunction> {
  let validate = compiled.get(schemaText);
  if (!validate) {
    const schema: unknown = JSON.parse(schemaText);
    if (!isTable(schema))
      throw new ChartRenderError(`${schemaFile}: not a JSON Schema`, schemaFile);
    // Ajv loads here, for `render` only: the agent's own config validator is precompiled.
    // A bundle's import() of this CommonJS package has only `default` (module.exports).
    const ajv = await import('ajv');
    const Ajv = ajv.Ajv ?? (ajv as unknown as { default: typeof ajv }).default.Ajv;
    validate = new Ajv({ allErrors: true, verbose: true, strict: false }).compile(schema);
    compiled.set(schemaText, validate);
  }
  return validate;
}

async function checkSchema(
  schemaFile: string,
  schemaText: string,
  values: Values,
  sources: string[],
): Promise<void> {
  const validate = await validatorFor(schemaText, schemaFile);
  if (validate(values)) return;
  const problems = describeSchemaErrors(validate.errors ?? []).map(
    ({ segments, atKey, ...problem }) => problem,
  );
  throw new ChartRenderError(
    `values from ${sources.join(', ')} don't meet ${schemaFile}:\n${problems.map((p) => `- ${formatProblem(p)}`).join('\n')}`,
    undefined,
    problems,
  );
}

export async function renderChartValues(
  options: RenderChartValuesOptions,
): Promise<RenderedChartValues> {
  const chartDir = resolve(options.chartDir ?? defaultChartDir());
  const release = {
    name: options.releaseName ?? 'release-name',
    namespace: options.namespace ?? 'default',
  };

  const chartYamlFile = join(chartDir, 'Chart.yaml');
  const chartYaml: unknown = parse(await readChartFile(chartDir, 'Chart.yaml'));
  if (!isTable(chartYaml) || typeof chartYaml.name !== 'string') {
    throw new ChartRenderError(`${chartYamlFile}: no chart name`, chartYamlFile);
  }
  const chart = chartYaml.name;

  const defaultsFile = join(chartDir, 'values.yaml');
  let defaults: Values;
  let user: Values = {};
  try {
    defaults = parseValues(await readChartFile(chartDir, 'values.yaml'), defaultsFile);
    for (const file of options.valueFiles) user = mergeMaps(user, await readValuesFile(file));
  } catch (error) {
    if (error instanceof ValuesFileError) throw new ChartRenderError(error.message, error.file);
    throw error;
  }
  for (const line of options.sets) {
    try {
      applySetLine(line, user);
    } catch (error) {
      throw new ChartRenderError((error as Error).message);
    }
  }
  const values = coalesceWithDefaults(defaults, user);

  const sources = [
    defaultsFile,
    ...options.valueFiles,
    ...options.sets.map((line) => `--set ${JSON.stringify(line)}`),
  ];
  const schemaFile = join(chartDir, 'values.schema.json');
  if (existsSync(schemaFile)) {
    await checkSchema(
      schemaFile,
      await readChartFile(chartDir, 'values.schema.json'),
      values,
      sources,
    );
  }

  try {
    checkChartValues(values, chart, release);
  } catch (error) {
    throw new ChartRenderError(`${(error as Error).message} (values from ${sources.join(', ')})`);
  }
  const launchConfig = chartLaunchConfig(values, chart, release);
  return { values, launchConfig, yaml: stringify(launchConfig, { sortMapEntries: true }) };
}
