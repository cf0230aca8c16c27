import { constants, readdirSync, readlinkSync } from 'node:fs';
import type { DockerIgnore } from './dockerignore.js';
import { lstatKey, type StatKey } from './stat-cache.js';

/** One entry of a build context that goes into the image's build: never an excluded path. */
export type ContextEntry =
  | { type: 'directory'; path: string }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'file'; path: string; absolutePath: string; executable: boolean; stat: StatKey };

export class ContextReadError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(`cannot read the build context at ${path}: ${message}`);
    this.name = 'ContextReadError';
  }
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts by UTF-8 bytes, which the spec requires. UTF-16 code-unit order agrees with it unless a
 * path holds a character outside the Basic Multilingual Plane, so the byte comparison is only
 * paid for then.
 */
export function sortByUtf8Path<T extends { path: string }>(entries: T[]): T[] {
  if (!entries.some((e) => /[\ud800-\udfff]/.test(e.path)))
    return entries.sort((a, b) => compareCodeUnits(a.path, b.path));
  const keyed = entries.map((e) => ({ e, key: Buffer.from(e.path, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

function readError(path: string, error: unknown): ContextReadError {
  const e = error as NodeJS.ErrnoException;
  return new ContextReadError(path, e.code, e.message);
}

/**
 * Lists the context the way Docker sends it: `.dockerignore` applied to every path and its
 * parents, excluded directories skipped unless an exception pattern can re-include something
 * below them, symlinks kept as links (never followed), sockets, pipes and devices left out.
 * Entries come back sorted by their UTF-8 relative path, so the order never depends on the
 * file system. Every directory is listed and every included file lstat'ed (bigint, for the
 * stat cache's nanosecond key) on every walk: nothing of an earlier walk is reused.
 */
export function walkContext(root: string, ignore: DockerIgnore): ContextEntry[] {
  const entries: ContextEntry[] = [];
  const rootPrefix = root.endsWith('/') ? root : `${root}/`;
  // Plain concatenation: root is already absolute and normalized, and names never hold '/'.
  // (path.join's normalization was a tenth of a warm hash.)
  const childPath = (relativeDir: string, name: string) =>
    relativeDir === '' ? name : `${relativeDir}/${name}`;
  const absolute = (relativePath: string) =>
    relativePath === '' ? root : `${rootPrefix}${relativePath}`;

  const visit = (relativeDir: string): void => {
    const absoluteDir = absolute(relativeDir);
    let dirents;
    try {
      dirents = readdirSync(absoluteDir, { withFileTypes: true });
    } catch (error) {
      throw readError(absoluteDir, error);
    }
    for (const dirent of dirents) {
      const path = childPath(relativeDir, dirent.name);
      if (dirent.isDirectory()) {
        const excluded = ignore.ignores(path);
        if (excluded && ignore.canSkipExcludedDirectory(path)) continue;
        if (!excluded) entries.push({ type: 'directory', path });
        visit(path);
        continue;
      }
      const isFile = dirent.isFile();
      const isLink = dirent.isSymbolicLink();
      if (!(isFile || isLink) || ignore.ignores(path)) continue;
      const absolutePath = absolute(path);
      try {
        if (isLink) {
          entries.push({ type: 'symlink', path, target: readlinkSync(absolutePath) });
          continue;
        }
        const stat = lstatKey(absolutePath);
        // Replaced by something else since the listing: refuse rather than guess.
        if ((stat.mode & constants.S_IFMT) !== constants.S_IFREG) {
          throw Object.assign(new Error('it changed while the context was read'), {
            code: 'ECHANGED',
          });
        }
        const executable = (stat.mode & 0o111) !== 0;
        entries.push({ type: 'file', path, absolutePath, executable, stat });
      } catch (error) {
        throw readError(absolutePath, error);
      }
    }
  };

  visit('');
  return sortByUtf8Path(entries);
}
