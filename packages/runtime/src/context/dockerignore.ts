import { basename, dirname, join, posix } from 'node:path';
import { RE2JS } from 're2js';
import { readContextFile } from './contained-file.js';

/** More patterns than any real `.dockerignore` has; each one costs every path a match. */
export const DOCKERIGNORE_MAX_PATTERNS = 10_000;
/** The longest pattern accepted, in characters. */
export const DOCKERIGNORE_MAX_PATTERN_LENGTH = 1024;

/** A `.dockerignore` that cannot be applied; the message names the file, line and what to fix. */
export class DockerIgnoreError extends Error {
  constructor(
    readonly source: string | undefined,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`${source ?? '.dockerignore'}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'DockerIgnoreError';
  }
}

/** One pattern, compiled the way moby's patternmatcher compiles it. */
interface Pattern {
  exclusion: boolean;
  cleaned: string;
  test(path: string): boolean;
}

/** Characters moby escapes because they mean something to a regular expression, not to a glob. */
const REGEXP_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/**
 * Compiles a cleaned pattern as moby's `Pattern.compile` does, exact, prefix and suffix forms
 * included. The regular expression runs on RE2JS, a linear-time engine with Go's syntax (the
 * one moby's regexp package speaks), so no pattern makes matching backtrack: ten `**` segments
 * cost what one does. A run of `**` segments is collapsed to one first; it matches the same paths.
 */
function compilePattern(cleaned: string): (path: string) => boolean {
  let regex = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  const chars = [...cleaned];
  const anyDirs = '(.*/)?';
  // The literal text every match starts and ends with: a path without them is refused by two
  // string compares, so the regular expression runs only on likely matches.
  let head = '';
  let headDone = false;
  let tail = '';
  const literal = (text: string) => {
    if (!headDone) head += text;
    tail += text;
  };
  const wildcard = () => {
    headDone = true;
    tail = '';
  };
  for (let i = 0, n = 0; i < chars.length; n++) {
    const ch = chars[i++]!;
    if (ch === '*' || ch === '?' || ch === '\\' || ch === '[' || ch === ']') wildcard();
    else literal(ch);
    if (ch === '*') {
      if (chars[i] === '*') {
        i++;
        if (chars[i] === '/') i++;
        if (i >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            regex += '.*';
            type = 'regexp';
          }
        } else {
          if (!regex.endsWith(anyDirs)) regex += anyDirs;
          type = 'regexp';
        }
        if (n === 0) type = 'suffix';
      } else {
        regex += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      regex += '[^/]';
      type = 'regexp';
    } else if (REGEXP_SPECIAL.has(ch)) {
      regex += `\\${ch}`;
    } else if (ch === '\\') {
      if (i < chars.length) {
        const escaped = chars[i++] as string;
        regex += `\\${escaped}`;
        type = 'regexp';
      } else {
        regex += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      regex += ch;
      type = 'regexp';
    } else {
      regex += ch;
    }
  }
  switch (type) {
    case 'exact':
      return (path) => path === cleaned;
    case 'prefix': {
      const prefix = cleaned.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case 'suffix': {
      const suffix = cleaned.slice(2);
      return (path) =>
        path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      const compiled = RE2JS.compile(`${regex}$`);
      const least = head.length + tail.length;
      return (path) =>
        path.length >= least &&
        path.startsWith(head) &&
        path.endsWith(tail) &&
        compiled.matches(path);
    }
  }
}

/** `a`, `a/b` for `a/b/c`: the directories a path is below, outermost first. */
function parentDirectories(file: string): string[] {
  const parents: string[] = [];
  for (let at = file.indexOf('/'); at !== -1; at = file.indexOf('/', at + 1)) {
    parents.push(file.slice(0, at));
  }
  return parents;
}

/** Cleans a path pattern as Go's `filepath.Clean` does, and drops a leading slash. */
function cleanPattern(pattern: string): string {
  if (pattern === '') return '';
  let cleaned = posix.normalize(pattern).replace(/(?<=.)\/$/, '');
  if (cleaned.length > 1 && cleaned.startsWith('/')) cleaned = cleaned.slice(1);
  return cleaned;
}

/**
 * The `.dockerignore` rules of one build, with Docker's semantics: lines are read as BuildKit
 * reads them, patterns are matched as moby's patternmatcher matches them (case-sensitively, as
 * on Linux), and a path is excluded when it or one of its parent directories matches, the last
 * matching pattern deciding.
 */
export class DockerIgnore {
  /** Which file the rules came from, or undefined when there is none. */
  readonly source: string | undefined;
  readonly patterns: readonly string[];
  private readonly compiled: readonly Pattern[];
  /** Exception (`!`) patterns, cleaned the way moby cleans them, for the directory-skip rule. */
  private readonly exceptions: readonly string[];

  /** `lines` gives each pattern's line number in `source`, for errors. */
  constructor(patterns: readonly string[], source?: string, lines?: readonly number[]) {
    this.source = source;
    this.patterns = patterns;
    if (patterns.length > DOCKERIGNORE_MAX_PATTERNS) {
      throw new DockerIgnoreError(
        source,
        undefined,
        `has ${patterns.length} patterns; at most ${DOCKERIGNORE_MAX_PATTERNS} are accepted`,
      );
    }
    this.compiled = patterns.map((raw, index) => {
      const line = lines?.[index];
      if (raw.length > DOCKERIGNORE_MAX_PATTERN_LENGTH) {
        throw new DockerIgnoreError(
          source,
          line,
          `a pattern of ${raw.length} characters; at most ${DOCKERIGNORE_MAX_PATTERN_LENGTH} are accepted`,
        );
      }
      let text = cleanPattern(raw.trim());
      const exclusion = text.startsWith('!');
      if (exclusion) text = text.slice(1);
      if (exclusion && text === '') {
        throw new DockerIgnoreError(source, line, 'illegal exclusion pattern "!"');
      }
      try {
        return { exclusion, cleaned: text, test: compilePattern(text) };
      } catch {
        throw new DockerIgnoreError(
          source,
          line,
          `${JSON.stringify(raw)} is not a valid pattern (check its [ ] character classes)`,
        );
      }
    });
    this.exceptions = this.compiled
      .filter((p) => p.exclusion)
      .map((p) => (p.cleaned === '.' ? '' : p.cleaned))
      .filter((pattern) => pattern !== '');
  }

  /** Parses the text of a `.dockerignore` file as BuildKit reads it. */
  static parse(text: string, source?: string): DockerIgnore {
    const patterns: string[] = [];
    const lines: number[] = [];
    text
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/)
      .forEach((line, index) => {
        if (line.startsWith('#')) return;
        let pattern = line.trim();
        if (pattern === '') return;
        const invert = pattern.startsWith('!');
        if (invert) pattern = pattern.slice(1).trim();
        if (pattern !== '') pattern = cleanPattern(pattern);
        patterns.push(invert ? `!${pattern}` : pattern);
        lines.push(index + 1);
      });
    return new DockerIgnore(patterns, source, lines);
  }

  /**
   * Finds the ignore file the way BuildKit does: `<Dockerfile>.dockerignore` beside the
   * Dockerfile wins over `.dockerignore` at the context root. Both are read without following
   * a link out of the context (or, for a Dockerfile outside it, out of the Dockerfile's
   * directory), as regular files of at most 1 MiB: a `.dockerignore` that is a FIFO or a link
   * to `/dev/zero` is refused, never read.
   */
  static async load(
    contextDir: string,
    dockerfilePath: string,
    dockerfileInContext = true,
  ): Promise<DockerIgnore> {
    const beside = dirname(dockerfilePath);
    const candidates: Array<[root: string, file: string]> = [
      [
        dockerfileInContext ? contextDir : beside,
        join(beside, `${basename(dockerfilePath)}.dockerignore`),
      ],
      [contextDir, join(contextDir, '.dockerignore')],
    ];
    for (const [root, file] of candidates) {
      const read = await readContextFile(root, file);
      if (!read) continue;
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      let decoded: string;
      try {
        decoded = text.decode(read.bytes);
      } catch {
        throw new DockerIgnoreError(file, undefined, 'is not valid UTF-8 text');
      }
      return DockerIgnore.parse(decoded, file);
    }
    return new DockerIgnore([]);
  }

  /** True when `relativePath` (slash-separated, relative to the context) is excluded. */
  ignores(relativePath: string): boolean {
    if (this.compiled.length === 0) return false;
    // The walk passes clean paths; only others pay for normalizing.
    const file = /\/\/|(^|\/)\.\.?(\/|$)|\/$/.test(relativePath)
      ? posix.normalize(relativePath).replace(/\/$/, '')
      : relativePath;
    if (file === '.') return false;
    let parents: string[] | undefined;
    let matched = false;
    for (const pattern of this.compiled) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.test(file);
      if (!match) {
        parents ??= parentDirectories(file);
        for (let i = 0; !match && i < parents.length; i++) match = pattern.test(parents[i]!);
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * Whether an excluded directory can be skipped without walking into it. Mirrors moby's
   * archive walker: it is walked only when an exception pattern starts with the directory's
   * path, since only such a pattern can re-include something below it.
   */
  canSkipExcludedDirectory(relativeDir: string): boolean {
    if (this.exceptions.length === 0) return true;
    const dirSlash = `${relativeDir}/`;
    return !this.exceptions.some((pattern) => `${pattern}/`.startsWith(dirSlash));
  }
}
