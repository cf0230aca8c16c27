import { isSecretKey, redactText, redactValue } from './redact/redact-secrets.js';

/** One thing wrong (or worth a warning) in a config, located by its dotted key path. */
export interface Problem {
  /** Dotted key path, e.g. `builder.destination`; `(root)` for the document itself. */
  path: string;
  /** What is wrong, in the user's terms. */
  message: string;
  /** The offending value, when there is one. */
  value?: unknown;
  /** The form the key expects. */
  expected?: string | undefined;
  /** Where in the file, when the config came from a file. */
  location?: { file: string; line: number; column: number } | undefined;
}

/** Formats a value for a message: short, single-line, never more than 80 characters. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text =
      typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * A copy safe to print or serialise: no value under a secret-looking key (the key path and line
 * say where it is), and secrets inside other values and the message redacted.
 */
export function redactProblem(problem: Problem): Problem {
  const lastKey = problem.path.split('.').pop() ?? '';
  const copy: Problem = { ...problem, message: redactText(problem.message) };
  if (problem.value === undefined || isSecretKey(lastKey)) delete copy.value;
  else copy.value = redactValue(problem.value);
  return copy;
}

/**
 * `file:line:col: path: message (got X; expected Y)` — one line per problem, with secrets
 * redacted (redactText).
 */
export function formatProblem(problem: Problem): string {
  const where = problem.location
    ? `${problem.location.file}:${problem.location.line}:${problem.location.column}: `
    : '';
  const details: string[] = [];
  const safe = redactProblem(problem);
  // Under a secret-looking key the value is never shown: the key and line say where it is.
  if (problem.value !== undefined) {
    details.push(safe.value === undefined ? 'value not shown' : `got ${showValue(safe.value)}`);
  }
  if (problem.expected) details.push(`expected ${problem.expected}`);
  const suffix = details.length > 0 ? ` (${details.join('; ')})` : '';
  return redactText(`${where}${problem.path}: ${safe.message}${suffix}`);
}

/** Joins path segments the way messages show them: `a.b[0].c`. */
export function joinPath(segments: ReadonlyArray<string | number>): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(root)' : out;
}
