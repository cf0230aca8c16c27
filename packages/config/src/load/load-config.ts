import { homedir } from 'node:os';
import { join } from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import { normalizeConfig, type AgentSettings } from '../normalize.js';
import type { Problem } from '../problems.js';
import { validateAgainstSchema } from '../validate/schema-validator.js';
import { checkSemantics, schemaFailures } from '../validate/semantic-rules.js';
import { readTextFile, TextFileError } from './read-text-file.js';
import { locate } from './source-map.js';

/** The config path the W&B launch agent guide names, relative to the home directory. */
export const DEFAULT_CONFIG_RELATIVE_PATH = join('.config', 'wandb', 'launch-config.yaml');

export function defaultConfigPath(home = homedir()): string {
  return join(home, DEFAULT_CONFIG_RELATIVE_PATH);
}

/** The file could not be read: exit code 2, like a usage error. */
export class ConfigFileError extends Error {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

/** The config was read but is not valid: exit code 1. */
export class ConfigInvalidError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly problems: Problem[],
    readonly warnings: Problem[],
    readonly file?: string,
  ) {
    super(
      `${file ?? 'config'} is not valid: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
    );
    this.name = 'ConfigInvalidError';
  }
}

export interface CheckResult {
  /** The parsed config, present when there are no errors. */
  config?: LaunchAgentConfig;
  errors: Problem[];
  warnings: Problem[];
}

/** Problems in the order a reader meets them in the file (stable for equal positions). */
function sortByLocation(problems: Problem[]): Problem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort(
      (a, b) =>
        (a.problem.location?.line ?? 0) - (b.problem.location?.line ?? 0) ||
        (a.problem.location?.column ?? 0) - (b.problem.location?.column ?? 0) ||
        a.index - b.index,
    )
    .map(({ problem }) => problem);
}

function pathSegments(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of path.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      out.push(part);
      continue;
    }
    if (match[1]) out.push(match[1]);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/**
 * Parses and checks config text: YAML syntax, then the JSON Schema and the semantic rules together,
 * their problems in file order. Every problem carries the file, line and column of the key it is
 * about. YAML is read as YAML 1.1,
 * as the reference agent's loader reads it (so `secure_mode: yes` means true).
 */
export function checkConfigText(text: string, file: string): CheckResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
  });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => ({
        path: '(root)',
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        location: at(e.pos[0]),
      })),
      warnings: [],
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias bomb: anchors that expand to millions of nodes. Point at the first alias.
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    return {
      errors: [
        {
          path: '(root)',
          message: `YAML aliases expand too far (${(error as Error).message}); write the values out instead of repeating anchors`,
          location: at(offset),
        },
      ],
      warnings: [],
    };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      errors: [
        {
          path: '(root)',
          message: 'the config file must be a mapping of keys',
          value: raw,
          expected: 'a YAML mapping such as "builder: {type: noop}"',
          location: at(0),
        },
      ],
      warnings: [],
    };
  }
  // Both stages run, so one pass reports everything: the semantic rules skip the keys the
  // schema refused (their values would only produce confusing follow-on errors).
  const schemaProblems = validateAgainstSchema(raw);
  const config = raw as LaunchAgentConfig;
  const semantic = checkSemantics(config, schemaFailures(schemaProblems.map((p) => p.path)));
  const place = (p: Problem): Problem => ({
    ...p,
    location: { file, ...locate(doc, lineCounter, pathSegments(p.path), false) },
  });
  // One problem per key: the schema's (already one per path) wins over a rule's for the same key.
  const schemaPaths = new Set(schemaProblems.map((p) => p.path));
  const errors = sortByLocation([
    ...schemaProblems.map(({ segments, atKey, ...problem }) => ({
      ...problem,
      location: { file, ...locate(doc, lineCounter, segments, atKey) },
    })),
    ...semantic.errors.filter((p) => !schemaPaths.has(p.path)).map(place),
  ]);
  return {
    ...(errors.length === 0 ? { config } : {}),
    errors,
    warnings: sortByLocation(semantic.warnings.map(place)),
  };
}

/** Values from the environment or the command line that replace what the file says. */
export interface ConfigOverrides {
  queues?: string[];
  maxJobs?: string | number;
  verbosity?: string | number;
}

/** Environment variables read by the loader, in precedence between the file and the flags. */
export const CONFIG_ENVIRONMENT = {
  queues: 'LAUNCH_AGENT_QUEUES',
  maxJobs: 'LAUNCH_AGENT_MAX_JOBS',
  verbosity: 'LAUNCH_AGENT_VERBOSITY',
} as const;

const FLAG_NAMES: Record<keyof ConfigOverrides, string> = {
  queues: '--queue',
  maxJobs: '--max-jobs',
  verbosity: '--verbosity',
};

function toInteger(value: string | number): number | string {
  if (typeof value === 'number') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
}

function environmentOverrides(env: NodeJS.ProcessEnv): ConfigOverrides {
  const out: ConfigOverrides = {};
  const queues = env[CONFIG_ENVIRONMENT.queues];
  if (queues !== undefined) {
    out.queues = queues
      .split(',')
      .map((q) => q.trim())
      .filter((q) => q !== '');
  }
  const maxJobs = env[CONFIG_ENVIRONMENT.maxJobs];
  if (maxJobs !== undefined) out.maxJobs = maxJobs;
  const verbosity = env[CONFIG_ENVIRONMENT.verbosity];
  if (verbosity !== undefined) out.verbosity = verbosity;
  return out;
}

/**
 * Lays the environment and then the flags over the file's values (file < environment < flags)
 * for queues, max_jobs and verbosity. Each value is checked against the schema, and a problem
 * names where the value came from.
 */
function applyOverrides(
  config: LaunchAgentConfig,
  env: NodeJS.ProcessEnv,
  flags: ConfigOverrides,
): { config: LaunchAgentConfig; errors: Problem[] } {
  const layers: Array<{ values: ConfigOverrides; origin: (key: keyof ConfigOverrides) => string }> =
    [
      {
        values: environmentOverrides(env),
        origin: (key) => `environment variable ${CONFIG_ENVIRONMENT[key]}`,
      },
      { values: flags, origin: (key) => `flag ${FLAG_NAMES[key]}` },
    ];
  const result: LaunchAgentConfig = { ...config };
  const errors: Problem[] = [];
  for (const { values, origin } of layers) {
    const patch: Record<string, unknown> = {};
    const from: Record<string, string> = {};
    if (values.queues !== undefined) {
      patch.queues = values.queues;
      from.queues = origin('queues');
    }
    if (values.maxJobs !== undefined) {
      patch.max_jobs = toInteger(values.maxJobs);
      from.max_jobs = origin('maxJobs');
    }
    if (values.verbosity !== undefined) {
      patch.verbosity = toInteger(values.verbosity);
      from.verbosity = origin('verbosity');
    }
    for (const { segments, atKey, ...problem } of validateAgainstSchema(patch)) {
      errors.push({
        ...problem,
        message: `${problem.message} (from ${from[String(segments[0])]})`,
      });
    }
    Object.assign(result, patch);
    // Queues given explicitly replace the file's list, legacy `queue` included.
    if (patch.queues) delete result.queue;
  }
  return { config: result, errors };
}

export interface LoadOptions {
  /** `--config FILE`; when absent the default path is tried and may be missing. */
  configPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigOverrides;
  homeDir?: string;
}

export interface LoadedConfig {
  /** The file read, or undefined when defaults were used. */
  file?: string;
  raw: LaunchAgentConfig;
  settings: AgentSettings;
  warnings: Problem[];
}

/** Reads the config text: an explicit file must exist; a missing default file means defaults. */
export async function readConfigSource(
  options: Pick<LoadOptions, 'configPath' | 'homeDir'>,
): Promise<{ file?: string; text: string }> {
  const explicit = options.configPath !== undefined;
  const file = options.configPath ?? defaultConfigPath(options.homeDir);
  try {
    return { file, text: await readTextFile(file, 'config file') };
  } catch (error) {
    if (error instanceof TextFileError) throw new ConfigFileError(error.message, file);
    const code = (error as NodeJS.ErrnoException).code;
    if (!explicit && code === 'ENOENT') return { text: '' };
    const reasons: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    };
    const reason = (code && reasons[code]) ?? (error as Error).message;
    throw new ConfigFileError(`cannot read config file ${file}: ${reason}`, file);
  }
}

/** Loads, validates and normalizes the agent config. Throws ConfigFileError or ConfigInvalidError. */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadedConfig> {
  const { file, text } = await readConfigSource(options);
  const checked = checkConfigText(text, file ?? '(defaults)');
  if (!checked.config) throw new ConfigInvalidError(checked.errors, checked.warnings, file);
  const overridden = applyOverrides(
    checked.config,
    options.env ?? process.env,
    options.flags ?? {},
  );
  if (overridden.errors.length > 0) {
    throw new ConfigInvalidError(overridden.errors, checked.warnings, file);
  }
  return {
    ...(file ? { file } : {}),
    raw: overridden.config,
    settings: normalizeConfig(overridden.config),
    warnings: checked.warnings,
  };
}
