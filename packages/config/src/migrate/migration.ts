// The shared state of one `migrate-values` run: the values being written, the report, and where
// each W&B key sits in the input file.
import type { Document, LineCounter } from 'yaml';
import { locate } from '../load/source-map.js';
import type { Problem } from '../problems.js';

/**
 * What happened to one W&B key: `mapped` (our values carry the same meaning), `dropped` (no
 * meaning here, with why), `attention` (mapped or dropped, but the user must act: create a
 * Secret, check an image), `unset` (empty in the file; nothing to move).
 */
export type MigrationOutcome = 'mapped' | 'dropped' | 'attention' | 'unset';

export interface MigrationNote {
  /** The W&B values key, e.g. `agent.nodeSelector`. */
  key: string;
  outcome: MigrationOutcome;
  /** Our values keys it became. */
  to?: string[];
  /** Why, or what to do. Never carries a secret value. */
  message: string;
  /** The key was not in the file: the W&B chart's default applied, and is carried over. */
  fromDefault?: boolean;
  /** 1-based line of the key in the input, when it was in the file. */
  line?: number;
}

/** `migrate-values` refused the input; every problem names the key, file and line. */
export class MigrateValuesError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly problems: Problem[],
    readonly file: string,
  ) {
    super(
      `${file} cannot be converted: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
    );
    this.name = 'MigrateValuesError';
  }
}

export type Values = Record<string, unknown>;

export class Migration {
  readonly values: Values = {};
  readonly notes: MigrationNote[] = [];
  readonly errors: Problem[] = [];

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    /** Keys present in the file (dotted); the rest came from the W&B chart's defaults. */
    private readonly present: Set<string>,
  ) {}

  has(key: string): boolean {
    return this.present.has(key);
  }

  where(segments: Array<string | number>, atKey = false): Problem['location'] {
    return { file: this.file, ...locate(this.doc, this.lineCounter, segments, atKey) };
  }

  note(key: string, outcome: MigrationOutcome, message: string, to?: string[]): void {
    const present = this.present.has(key);
    this.notes.push({
      key,
      outcome,
      message,
      ...(to && to.length > 0 ? { to } : {}),
      ...(present ? { line: this.where(key.split('.'), true)!.line } : { fromDefault: true }),
    });
  }

  error(segments: Array<string | number>, problem: Omit<Problem, 'location'>): void {
    this.errors.push({ ...problem, location: this.where(segments) });
  }

  /** Sets a dotted path in the output values, creating the mappings on the way. */
  set(path: string, value: unknown): void {
    const parts = path.split('.');
    let node = this.values;
    for (const part of parts.slice(0, -1)) {
      if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
      node = node[part] as Values;
    }
    node[parts[parts.length - 1]!] = value;
  }

  get(path: string): unknown {
    let node: unknown = this.values;
    for (const part of path.split('.')) {
      if (typeof node !== 'object' || node === null) return undefined;
      node = (node as Values)[part];
    }
    return node;
  }

  /** Appends to a list in the output values. */
  push(path: string, ...items: unknown[]): void {
    const list = (this.get(path) as unknown[] | undefined) ?? [];
    this.set(path, [...list, ...items]);
  }
}

export function isMapping(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value the W&B chart treats as not set: null, "", {}, [], or only whitespace. */
export function isUnset(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'string') return value.trim() === '';
  if (Array.isArray(value)) return value.length === 0;
  if (isMapping(value)) return Object.keys(value).length === 0;
  return false;
}
