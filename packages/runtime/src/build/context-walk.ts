import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { DockerIgnore } from './dockerignore.js';
import type { StatKey } from './stat-cache.js';

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

/**
 * Lists the context the way Docker sends it: `.dockerignore` applied to every path and its
 * parents, excluded directories skipped unless an exception pattern can re-include something
 * below them, symlinks kept as links (never followed), sockets, pipes and devices left out.
 * Entries come back sorted by their UTF-8 relative path, so the order never depends on the
 * file system.
 */
export function walkContext(
  root: string,
  ignore: DockerIgnore,
  /** Files known to be included under these same rules (from the stat cache): no need to match them again. */
  knownIncluded: (path: string) => boolean = () => false,
): ContextEntry[] {
  const entries: ContextEntry[] = [];
  const rootPrefix = root.endsWith('/') ? root : `${root}/`;
  const visit = (relativeDir: string) => {
    // Plain concatenation: root is already absolute and normalized, and names never hold '/'.
    // (path.join's normalization was a tenth of a warm hash.)
    const absoluteDir = relativeDir === '' ? root : `${rootPrefix}${relativeDir}`;
    let names;
    try {
      names = readdirSync(absoluteDir, { withFileTypes: true });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new ContextReadError(absoluteDir, e.code, e.message);
    }
    for (const dirent of names) {
      const path = relativeDir === '' ? dirent.name : `${relativeDir}/${dirent.name}`;
      const excluded = dirent.isFile() && knownIncluded(path) ? false : ignore.ignores(path);
      if (dirent.isDirectory()) {
        if (!excluded) entries.push({ type: 'directory', path });
        if (!excluded || !ignore.canSkipExcludedDirectory(path)) visit(path);
        continue;
      }
      if (excluded) continue;
      const absolutePath =
        relativeDir === '' ? `${rootPrefix}${dirent.name}` : `${absoluteDir}/${dirent.name}`;
      try {
        if (dirent.isSymbolicLink()) {
          entries.push({ type: 'symlink', path, target: readlinkSync(absolutePath) });
        } else if (dirent.isFile()) {
          const s = lstatSync(absolutePath);
          entries.push({
            type: 'file',
            path,
            absolutePath,
            executable: (s.mode & 0o111) !== 0,
            stat: {
              size: s.size,
              mtimeMs: s.mtimeMs,
              ctimeMs: s.ctimeMs,
              ino: s.ino,
              mode: s.mode,
              dev: s.dev,
            },
          });
        }
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        throw new ContextReadError(absolutePath, e.code, e.message);
      }
    }
  };
  visit('');
  return sortByUtf8Path(entries);
}
