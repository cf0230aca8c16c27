// How Helm turns `values.yaml`, `-f` files and `--set` lines into `.Values`, ported from
// helm.sh/helm/v3: pkg/cli/values (mergeMaps: later files win, maps merge, lists and scalars
// replace) and pkg/chartutil/coalesce.go (user values over chart defaults; a null deletes the
// chart default it overrides).

import { parseDocument, type Tags } from 'yaml';
import { readTextFile, TextFileError } from '../load/read-text-file.js';

export type Values = Record<string, unknown>;

export function isTable(value: unknown): value is Values {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Helm reads values files with a YAML 1.1 parser (yes/no/on/off are booleans, 0777 is octal)
 * that leaves timestamps and 1:20-style numbers as strings.
 */
const YAML_11_AS_HELM_READS_IT = {
  version: '1.1' as const,
  merge: true,
  customTags: (tags: Tags) =>
    tags.filter((tag) => {
      const id = typeof tag === 'string' ? tag : tag.tag;
      const format = typeof tag === 'string' ? undefined : (tag as { format?: string }).format;
      return id !== 'tag:yaml.org,2002:timestamp' && format !== 'TIME';
    }),
};

/** Parses a values document; `file` names it in errors. An empty document is `{}`. */
export function parseValues(text: string, file: string): Values {
  const doc = parseDocument(text, YAML_11_AS_HELM_READS_IT);
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? `:${first.linePos[0].line}:${first.linePos[0].col}` : '';
    throw new ValuesFileError(
      file,
      `${file}${where}: not valid YAML: ${first.message.split('\n')[0]}`,
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (data === null || data === undefined) return {};
  if (!isTable(data)) {
    const kind = Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    throw new ValuesFileError(
      file,
      `${file}: a values file must be a mapping of keys, not ${kind}`,
    );
  }
  return data;
}

/** A values file that could not be read or parsed. */
export class ValuesFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'ValuesFileError';
  }
}

export async function readValuesFile(file: string): Promise<Values> {
  let text: string;
  try {
    text = await readTextFile(file, 'values file');
  } catch (error) {
    if (error instanceof TextFileError) throw new ValuesFileError(file, error.message);
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new ValuesFileError(file, `${file}: cannot read values file: ${reason}`);
  }
  return parseValues(text, file);
}

/** pkg/cli/values mergeMaps: b over a; maps merge recursively, anything else replaces. */
export function mergeMaps(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const existing = out[key];
    if (isTable(value) && isTable(existing)) {
      out[key] = mergeMaps(existing, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/**
 * chartutil.CoalesceValues for a chart without dependencies: fills `user` with the chart's
 * defaults. A user null removes the default it overrides; user scalars and lists win; maps merge.
 * Returns a new object; neither argument is modified.
 */
export function coalesceWithDefaults(defaults: Values, user: Values): Values {
  const v = structuredClone(user);
  for (const [key, val] of Object.entries(structuredClone(defaults))) {
    if (key in v) {
      const value = v[key];
      if (value === null) {
        delete v[key];
      } else if (isTable(value) && isTable(val)) {
        coalesceTables(value, val);
      }
    } else {
      v[key] = val;
    }
  }
  return v;
}

/** chartutil.coalesceTablesFullKey with merge=false: dst (user) wins over src (defaults). */
function coalesceTables(dst: Values, src: Values): Values {
  const srcOriginalNonNull = new Set(
    Object.entries(src)
      .filter(([, value]) => value !== null)
      .map(([key]) => key),
  );
  for (const [key, value] of Object.entries(dst)) {
    if (value === null) src[key] = null;
  }
  for (const [key, val] of Object.entries(src)) {
    const present = key in dst;
    const dv = dst[key];
    if (present && dv === null && srcOriginalNonNull.has(key)) {
      delete dst[key];
    } else if (!present) {
      dst[key] = val;
    } else if (isTable(val) && isTable(dv)) {
      coalesceTables(dv, val);
    }
  }
  return dst;
}
