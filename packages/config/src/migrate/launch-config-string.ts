// W&B's chart carries the agent config as one string (`launchConfig`). This parses that string,
// checks it against our agent schema and semantic rules, and reports every problem at its line
// in the values file, not in the string.
import { LineCounter, parseDocument, Scalar, type Node } from 'yaml';
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import { locate } from '../load/source-map.js';
import type { Problem } from '../problems.js';
import { validateAgainstSchema } from '../validate/schema-validator.js';
import { checkSemantics } from '../validate/semantic-rules.js';

/** Where the string's first character sits in the values file. */
export interface StringOrigin {
  file: string;
  /** 1-based line of the string's first content line. */
  line: number;
  /** Columns of indentation a block scalar strips from every content line. */
  indent: number;
}

/** Where a `launchConfig` scalar's content starts: the line after a `|` header, else its own. */
export function stringOrigin(
  node: Node,
  source: string,
  file: string,
  lc: LineCounter,
): StringOrigin {
  const start = node.range?.[0] ?? 0;
  const header = lc.linePos(start);
  const block =
    node instanceof Scalar && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED');
  if (!block) return { file, line: header.line, indent: header.col - 1 };
  const lines = source.split('\n');
  for (let i = header.line; i < lines.length; i++) {
    const text = lines[i]!;
    if (text.trim() === '') continue;
    return { file, line: header.line + 1, indent: text.length - text.trimStart().length };
  }
  return { file, line: header.line + 1, indent: 0 };
}

export interface ParsedLaunchConfig {
  config?: LaunchAgentConfig;
  errors: Problem[];
  warnings: Problem[];
}

const KEY = 'launchConfig';

/**
 * Parses and checks the embedded config. `prepare` may add what the chart will write itself
 * (a pvc:// store for kanikoPvcName) before the checks, so they judge the config the agent
 * will read; the returned config is the one without those additions.
 */
export function parseLaunchConfigString(
  text: string,
  origin: StringOrigin,
  prepare: (config: Record<string, unknown>) => Record<string, unknown> = (c) => c,
): ParsedLaunchConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, version: '1.1', uniqueKeys: true });
  const place = (pos: { line: number; col?: number; column?: number }) => ({
    file: origin.file,
    line: origin.line + pos.line - 1,
    column: origin.indent + (pos.col ?? pos.column ?? 1),
  });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => ({
        path: KEY,
        message: `the launchConfig string is not valid YAML: ${e.message.split('\n')[0]}`,
        location: place(lc.linePos(e.pos[0])),
      })),
      warnings: [],
    };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      errors: [
        {
          path: KEY,
          message: 'the launchConfig string must hold a mapping of agent config keys',
          value: raw,
          expected: 'the text of a launch-config.yaml, such as "queues: [default]"',
          location: place({ line: 1, col: 1 }),
        },
      ],
      warnings: [],
    };
  }
  const checked = prepare(structuredClone(raw as Record<string, unknown>));
  const prefix = (path: string) => `${KEY}: ${path}`;
  const schema = validateAgainstSchema(checked);
  if (schema.length > 0) {
    return {
      errors: schema.map(({ segments, atKey, ...problem }) => ({
        ...problem,
        path: prefix(problem.path),
        location: place(locate(doc, lc, segments, atKey)),
      })),
      warnings: [],
    };
  }
  const semantic = checkSemantics(checked as LaunchAgentConfig);
  const at = (p: Problem): Problem => ({
    ...p,
    path: prefix(p.path),
    location: place(locate(doc, lc, p.path.split('.'), false)),
  });
  return {
    ...(semantic.errors.length === 0 ? { config: raw as LaunchAgentConfig } : {}),
    errors: semantic.errors.map(at),
    warnings: semantic.warnings.map(at),
  };
}
