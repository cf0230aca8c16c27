import type { ErrorObject, ValidateFunction } from 'ajv';
import { closest, distance } from 'fastest-levenshtein';
import { validate as precompiledValidator } from '../generated/agent-config-validator.js';
import { joinPath, type Problem } from '../problems.js';
import { parseContextStore } from '../uri/context-store.js';
import { parseDestination } from '../uri/destination.js';

/** Keys whose form a parser explains better than a regular expression can. */
const PARSED_KEYS: Record<string, (value: string, path: string) => { errors: Problem[] }> = {
  'builder.destination': parseDestination,
  'builder.uri': parseDestination,
  'registry.uri': parseDestination,
  'builder.build-context-store': parseContextStore,
};

/** Keys written in the reference agent's other spellings, mapped to the key it actually reads. */
const KNOWN_MISSPELLINGS: Record<string, string> = {
  build_context_store: 'build-context-store',
  buildContextStore: 'build-context-store',
  build_job_name: 'build-job-name',
  secret_name: 'secret-name',
  secret_key: 'secret-key',
  kaniko_image: 'kaniko-image',
  kaniko_config: 'kaniko-config',
  'max-jobs': 'max_jobs',
  maxJobs: 'max_jobs',
  'max-schedulers': 'max_schedulers',
  'secure-mode': 'secure_mode',
  'stopped-run-timeout': 'stopped_run_timeout',
};

/**
 * The schema's validator, compiled ahead of time by `pnpm generate`
 * (scripts/generators/config-validator.mjs) with these options:
 * `{ allErrors: true, verbose: true, strict: true, strictRequired: false }` and the annotation
 * keyword `x-expected` (the form a key expects, quoted in error messages). Compiling it here
 * instead costs every command about 150 ms.
 */
function validator(): ValidateFunction {
  return precompiledValidator as unknown as ValidateFunction;
}

function pointerToSegments(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function suggest(key: string, known: string[]): string | undefined {
  const direct = KNOWN_MISSPELLINGS[key];
  if (direct && known.includes(direct)) return direct;
  const normalized = key.toLowerCase().replace(/[_\s]/g, '-');
  const same = known.find((k) => k.toLowerCase().replace(/_/g, '-') === normalized);
  if (same) return same;
  if (known.length === 0) return undefined;
  const nearest = closest(key, known);
  return distance(key, nearest) <= Math.max(2, Math.floor(key.length / 3)) ? nearest : undefined;
}

function expectedOf(schema: unknown): string | undefined {
  if (schema && typeof schema === 'object' && 'x-expected' in schema) {
    return String((schema as Record<string, unknown>)['x-expected']);
  }
  return undefined;
}

/** Problems found by the JSON Schema, one per key path, in document order of discovery. */
export interface SchemaProblem extends Problem {
  /** Segments of the key path, for locating the key in the source file. */
  segments: Array<string | number>;
  /** Whether the location is the key itself (unknown keys) rather than its value. */
  atKey: boolean;
}

function toProblem(error: ErrorObject): SchemaProblem | undefined {
  const base = pointerToSegments(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if':
      return undefined;
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema as { properties?: object }).properties ?? {});
      const hint = suggest(key, known);
      return {
        segments: [...base, key],
        atKey: true,
        path: joinPath([...base, key]),
        message: hint ? `unknown key; did you mean "${hint}"?` : 'unknown key',
        expected: known.length > 0 ? `one of ${known.join(', ')}` : undefined,
      };
    }
    case 'required': {
      const key = String(params.missingProperty);
      const property = (error.parentSchema as { properties?: Record<string, unknown> })
        .properties?.[key];
      const why =
        base[base.length - 1] === 'builder' && key === 'build-context-store'
          ? 'is required by the kaniko builder'
          : base[base.length - 1] === 'environment' && key !== 'type'
            ? `is required for environment type "${(error.data as Record<string, unknown>).type}"`
            : 'is required';
      return {
        segments: base,
        atKey: false,
        path: joinPath([...base, key]),
        message: `missing; ${key} ${why}`,
        expected: expectedOf(property),
      };
    }
    case 'dependencies': {
      const key = String(params.missingProperty);
      return {
        segments: base,
        atKey: false,
        path: joinPath([...base, key]),
        message: `missing; ${params.property} and ${key} must be set together`,
      };
    }
    case 'pattern': {
      const path = joinPath(base);
      const parser = PARSED_KEYS[path.replace(/^agentConfig\./, '')];
      const specific =
        parser && typeof error.data === 'string' ? parser(error.data, path).errors[0] : undefined;
      return {
        segments: base,
        atKey: false,
        path,
        message: specific?.message ?? 'invalid value',
        value: error.data,
        expected: specific?.expected ?? expectedOf(error.parentSchema),
      };
    }
    case 'enum':
    case 'type':
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
    case 'uniqueItems':
    case 'not':
    case 'const': {
      const messages: Record<string, string> = {
        type: `wrong type (${typeof error.data === 'object' && error.data !== null ? (Array.isArray(error.data) ? 'list' : 'mapping') : typeof error.data})`,
        uniqueItems: 'contains duplicates',
        maxItems: `has too many entries (at most ${params.limit})`,
        minItems: `has too few entries (at least ${params.limit})`,
        maxLength: `is too long (at most ${params.limit} characters)`,
        minLength:
          error.data === '' ? 'is empty' : `is too short (at least ${params.limit} characters)`,
      };
      return {
        segments: base,
        atKey: false,
        path: joinPath(base),
        message: messages[error.keyword] ?? 'invalid value',
        value: error.data,
        expected: expectedOf(error.parentSchema),
      };
    }
    default:
      return {
        segments: base,
        atKey: false,
        path: joinPath(base),
        message: error.message ?? 'invalid value',
        value: error.data,
        expected: expectedOf(error.parentSchema),
      };
  }
}

/**
 * Turns Ajv errors (from a validator compiled with `verbose: true`) into one problem per key
 * path, with the expected form taken from each key's `x-expected` annotation.
 */
export function describeSchemaErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  for (const error of errors) {
    const problem = toProblem(error);
    if (!problem || seen.has(problem.path)) continue;
    seen.add(problem.path);
    problems.push(problem);
  }
  return problems;
}

/** Checks a parsed config against the JSON Schema; returns one problem per key path. */
export function validateAgainstSchema(config: unknown): SchemaProblem[] {
  const validate = validator();
  return validate(config) ? [] : describeSchemaErrors(validate.errors ?? []);
}
