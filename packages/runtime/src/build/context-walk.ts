import { constants, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { DockerIgnore } from './dockerignore.js';

/**
 * The stat fields the stat cache keys a digest or a listing on: any difference means the file is
 * hashed (or the directory listed) again. Declared here, where the walk takes them, so the cache
 * depends on the walk and not both ways.
 */
export interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  dev: number;
}

/** The cache's fields of an lstat result (an `fs.Stats` has more). */
export function statKey(stat: StatKey): StatKey {
  return {
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
    ino: stat.ino,
    mode: stat.mode,
    dev: stat.dev,
  };
}

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

/** What the walk did with a child of a directory it listed (stored as one byte per child). */
export const ListedKind = {
  file: 1,
  symlink: 2,
  directory: 3,
  /** Excluded, but entered because an exception pattern may re-include something below it. */
  excludedDirectory: 4,
} as const;

/**
 * The children of one directory the walk went on with: included files, symlinks and
 * directories, and excluded directories it had to enter. Excluded files and skipped
 * directories are not listed: under the same rules they are excluded again.
 */
export interface DirectoryListing {
  names: readonly string[];
  /** The `ListedKind` of each name. */
  kinds: ArrayLike<number>;
}

/** What a walk may reuse from the previous walk of the same context: the stat cache. */
export interface WalkMemory {
  /** True when `path` was an included file last time, under the same .dockerignore rules. */
  wasIncluded(path: string): boolean;
  /** Directory `path`'s listing from last time, when its stat and the rules are unchanged. */
  listing(path: string, stat: StatKey): DirectoryListing | undefined;
  rememberListing(path: string, stat: StatKey, listing: DirectoryListing): void;
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

/** The stat fields a cache entry is keyed on, of the path itself (links are not followed). */
export function lstatKey(path: string): StatKey {
  return statKey(lstatSync(path));
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
 * file system.
 *
 * With `memory`, a directory whose lstat is unchanged is not listed again: its children are
 * taken from the remembered listing (each of them is still lstat'ed, or readlink'ed for a
 * symlink). Every directory then costs one lstat instead of an open, a stat, two getdents and
 * a close, and no path of it goes through the .dockerignore matcher.
 */
export function walkContext(
  root: string,
  ignore: DockerIgnore,
  memory?: WalkMemory,
): ContextEntry[] {
  const entries: ContextEntry[] = [];
  const rootPrefix = root.endsWith('/') ? root : `${root}/`;
  // Plain concatenation: root is already absolute and normalized, and names never hold '/'.
  // (path.join's normalization was a tenth of a warm hash.)
  const childPath = (relativeDir: string, name: string) =>
    relativeDir === '' ? name : `${relativeDir}/${name}`;
  const absolute = (relativePath: string) =>
    relativePath === '' ? root : `${rootPrefix}${relativePath}`;

  /** `dirStat` is the directory's lstat, taken before it is listed; only needed with memory. */
  const visit = (relativeDir: string, dirStat: StatKey | undefined): void => {
    const listing = memory && dirStat ? memory.listing(relativeDir, dirStat) : undefined;
    if (listing === undefined || !replay(relativeDir, listing)) list(relativeDir, dirStat);
  };

  /**
   * Walks a directory from its remembered listing. Every child is checked before anything is
   * emitted, so a listing that does not fit the directory any more (a child gone or of another
   * type, which an unchanged directory stat rules out on POSIX file systems) is dropped for a
   * fresh listing without undoing anything.
   */
  const replay = (relativeDir: string, listing: DirectoryListing): boolean => {
    const { names, kinds } = listing;
    const paths: string[] = new Array(names.length);
    const found: Array<ContextEntry | StatKey> = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      const path = childPath(relativeDir, names[i]!);
      const absolutePath = absolute(path);
      const kind = kinds[i];
      paths[i] = path;
      try {
        if (kind === ListedKind.symlink) {
          found[i] = { type: 'symlink', path, target: readlinkSync(absolutePath) };
          continue;
        }
        const expectedType =
          kind === ListedKind.file
            ? constants.S_IFREG
            : kind === ListedKind.directory || kind === ListedKind.excludedDirectory
              ? constants.S_IFDIR
              : undefined;
        if (expectedType === undefined) return false;
        const stat = lstatKey(absolutePath);
        if ((stat.mode & constants.S_IFMT) !== expectedType) return false;
        if (kind === ListedKind.file) {
          const executable = (stat.mode & 0o111) !== 0;
          found[i] = { type: 'file', path, absolutePath, executable, stat };
        } else {
          found[i] = stat;
        }
      } catch {
        return false;
      }
    }
    // In the listing's order, a directory's subtree right after its entry, as `list` emits them:
    // libuv returns names sorted, so the final sort finds the entries nearly in order.
    for (let i = 0; i < names.length; i++) {
      const kind = kinds[i];
      if (kind === ListedKind.file || kind === ListedKind.symlink) {
        entries.push(found[i] as ContextEntry);
        continue;
      }
      if (kind === ListedKind.directory) entries.push({ type: 'directory', path: paths[i]! });
      visit(paths[i]!, found[i] as StatKey);
    }
    return true;
  };

  /** Walks a directory from a fresh `readdir`, and remembers what it found. */
  const list = (relativeDir: string, dirStat: StatKey | undefined): void => {
    const absoluteDir = absolute(relativeDir);
    let dirents;
    try {
      dirents = readdirSync(absoluteDir, { withFileTypes: true });
    } catch (error) {
      throw readError(absoluteDir, error);
    }
    const names: string[] = [];
    const kinds: number[] = [];
    for (const dirent of dirents) {
      const path = childPath(relativeDir, dirent.name);
      const absolutePath = absolute(path);
      if (dirent.isDirectory()) {
        const excluded = ignore.ignores(path);
        if (excluded && ignore.canSkipExcludedDirectory(path)) continue;
        if (!excluded) entries.push({ type: 'directory', path });
        names.push(dirent.name);
        kinds.push(excluded ? ListedKind.excludedDirectory : ListedKind.directory);
        let stat;
        try {
          stat = memory ? lstatKey(absolutePath) : undefined;
        } catch (error) {
          throw readError(absolutePath, error);
        }
        visit(path, stat);
        continue;
      }
      const isFile = dirent.isFile();
      if (!(isFile && memory?.wasIncluded(path)) && ignore.ignores(path)) continue;
      try {
        if (dirent.isSymbolicLink()) {
          entries.push({ type: 'symlink', path, target: readlinkSync(absolutePath) });
          names.push(dirent.name);
          kinds.push(ListedKind.symlink);
        } else if (isFile) {
          const stat = lstatKey(absolutePath);
          const executable = (stat.mode & 0o111) !== 0;
          entries.push({ type: 'file', path, absolutePath, executable, stat });
          names.push(dirent.name);
          kinds.push(ListedKind.file);
        }
      } catch (error) {
        throw readError(absolutePath, error);
      }
    }
    if (memory && dirStat) {
      memory.rememberListing(relativeDir, dirStat, { names, kinds: Uint8Array.from(kinds) });
    }
  };

  let rootStat;
  try {
    rootStat = memory ? lstatKey(root) : undefined;
  } catch (error) {
    throw readError(root, error);
  }
  visit('', rootStat);
  return sortByUtf8Path(entries);
}
