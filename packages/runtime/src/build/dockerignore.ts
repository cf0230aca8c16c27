import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import dockerignoreModule from '@balena/dockerignore';

// A CommonJS module whose export is also its own `default`: this works from ESM and under test runners alike.
const dockerignore = dockerignoreModule.default;

/**
 * The `.dockerignore` rules of one build, with Docker's semantics: patterns are matched by
 * `@balena/dockerignore` (a port of moby's matcher), case-sensitively as on Linux, and a path
 * is excluded when it or one of its parent directories matches.
 */
export class DockerIgnore {
  /** Which file the rules came from, or undefined when there is none. */
  readonly source: string | undefined;
  readonly patterns: readonly string[];
  /** Identifies the rules: two ignores with the same fingerprint decide every path alike. */
  readonly fingerprint: string;
  private readonly matcher: ReturnType<typeof dockerignore>;
  /** Exception (`!`) patterns, cleaned the way moby cleans them, for the directory-skip rule. */
  private readonly exceptions: readonly string[];

  constructor(patterns: readonly string[], source?: string) {
    this.source = source;
    this.patterns = patterns;
    this.fingerprint = createHash('sha256').update(patterns.join('\n')).digest('hex');
    // ignorecase: false because Docker on Linux matches names case-sensitively.
    this.matcher = dockerignore({ ignorecase: false }).add([...patterns]);
    this.exceptions = patterns
      .map((line) => line.trim())
      .filter((line) => line.startsWith('!'))
      .map((line) => cleanPattern(line.slice(1).trim()))
      .filter((pattern) => pattern !== '');
  }

  /** Parses the text of a `.dockerignore` file. */
  static parse(text: string, source?: string): DockerIgnore {
    const lines = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    return new DockerIgnore(lines, source);
  }

  /**
   * Finds the ignore file the way BuildKit does: `<Dockerfile>.dockerignore` beside the
   * Dockerfile wins over `.dockerignore` at the context root.
   */
  static load(contextDir: string, dockerfilePath: string): DockerIgnore {
    const candidates = [
      join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`),
      join(contextDir, '.dockerignore'),
    ];
    for (const file of candidates) {
      if (existsSync(file)) return DockerIgnore.parse(readFileSync(file, 'utf8'), file);
    }
    return new DockerIgnore([]);
  }

  /** True when `relativePath` (slash-separated, relative to the context) is excluded. */
  ignores(relativePath: string): boolean {
    if (this.patterns.length === 0) return false;
    return this.matcher.ignores(relativePath);
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

function cleanPattern(pattern: string): string {
  if (pattern === '') return '';
  let cleaned = posix.normalize(pattern).replace(/(?<=.)\/$/, '');
  if (cleaned.length > 1 && cleaned.startsWith('/')) cleaned = cleaned.slice(1);
  return cleaned === '.' ? '' : cleaned;
}
