import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DirectoryListing, WalkMemory } from './context-walk.js';
import {
  decodeStatCache,
  encodeStatCache,
  STAT_FIELDS,
  type StatCacheContents,
} from './stat-cache-file.js';

/** The stat fields a cached digest is keyed on. Any difference means the file is hashed again. */
export interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  dev: number;
}

/**
 * A file's digest (or a directory's listing) is only remembered when its mtime and ctime are
 * this far before the scan started. A file written in the same timestamp tick as the scan could
 * be rewritten with the same size and the same (coarse) mtime; refusing to cache such "racy"
 * entries, as git does for its index, is what makes a stale cache unable to hide a change.
 */
export const RACY_WINDOW_MS = 2000;

/** `$LAUNCH_AGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/launch-agent`, else `~/.cache/launch-agent`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAUNCH_AGENT_CACHE_DIR) return env.LAUNCH_AGENT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'launch-agent');
}

const EMPTY: StatCacheContents = {
  context: '',
  ignore: undefined,
  filePaths: [],
  dirPaths: [],
  stats: new Float64Array(0),
  digests: '',
  childStart: new Uint32Array(1),
  childNames: [],
  childKinds: new Uint8Array(0),
};

function sameStat(stats: Float64Array, record: number, stat: StatKey): boolean {
  const at = record * STAT_FIELDS;
  return (
    stats[at] === stat.size &&
    stats[at + 1] === stat.mtimeMs &&
    stats[at + 2] === stat.ctimeMs &&
    stats[at + 3] === stat.ino &&
    stats[at + 4] === stat.mode &&
    stats[at + 5] === stat.dev
  );
}

function pushStat(target: number[], stat: StatKey): void {
  target.push(stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, stat.mode, stat.dev);
}

/**
 * Remembers, per context directory, each file's SHA-256 keyed by its path and stat (size,
 * mtime, ctime, inode, mode, device), and each directory's listing keyed the same way, in one
 * file under `<cache dir>/hash-cache/` (format: `stat-cache-file.ts`). Re-hashing an unchanged
 * context then costs one lstat per file and per directory: no file is read, no directory listed.
 *
 * A directory's listing can be reused because adding, removing or renaming an entry updates
 * the directory's mtime and ctime (POSIX), and ctime cannot be set back by `touch`.
 */
export class StatCache implements WalkMemory {
  private readonly stored: StatCacheContents;
  /** path → record index in `stored`. */
  private readonly fileAt = new Map<string, number>();
  private readonly dirAt = new Map<string, number>();
  /** Records confirmed in this scan (indices into `stored`) and new ones, which `save` writes. */
  private readonly keptFiles: number[] = [];
  private readonly keptDirs = new Set<number>();
  private readonly addedFiles: Array<{ path: string; stat: StatKey; digest: string }> = [];
  private readonly addedDirs: Array<{ path: string; stat: StatKey; listing: DirectoryListing }> =
    [];
  /** Listings are decisions of the .dockerignore rules: only reused under the same rules. */
  private readonly sameRules: boolean;

  private constructor(
    readonly file: string | undefined,
    private readonly context: string,
    stored: StatCacheContents,
    private readonly scanStartedMs: number,
    private readonly ignore: string | undefined,
  ) {
    this.stored = stored;
    this.sameRules = ignore !== undefined && ignore === stored.ignore;
    stored.filePaths.forEach((path, i) => this.fileAt.set(path, i));
    stored.dirPaths.forEach((path, i) => this.dirAt.set(path, i));
  }

  /** A cache that remembers nothing (hashing with the cache turned off). */
  static disabled(context: string): StatCache {
    return new StatCache(undefined, context, EMPTY, Date.now(), undefined);
  }

  /**
   * Opens the cache of one context directory (an absolute, resolved path). A missing, unreadable
   * or foreign-format cache file is treated as empty: the cache can only save work, never fail a build.
   */
  static open(
    context: string,
    cacheDir = defaultCacheDir(),
    now?: number,
    ignoreFingerprint?: string,
  ): StatCache {
    const file = join(cacheDir, 'hash-cache', `${StatCache.fileName(context)}.bin`);
    let stored = EMPTY;
    try {
      // As a Buffer: one read of the whole file (a 'utf8' read goes 8 KiB at a time).
      const decoded = decodeStatCache(readFileSync(file));
      if (decoded !== undefined && decoded.context === context) stored = decoded;
    } catch {
      // No cache yet, or one we cannot read: start empty.
    }
    return new StatCache(file, context, stored, now ?? Date.now(), ignoreFingerprint);
  }

  private static fileName(context: string): string {
    return createHash('sha256').update(context).digest('hex').slice(0, 32);
  }

  /**
   * True when `path` was an included file of the last scan under the same .dockerignore rules:
   * the rules' decision is a function of the rules and the path alone, so it still holds and
   * the walk need not run the matcher again.
   */
  wasIncluded(path: string): boolean {
    return this.sameRules && this.fileAt.has(path);
  }

  /** The remembered digest of `path` when its stat is exactly what it was, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined {
    const at = this.fileAt.get(path);
    if (at === undefined || !sameStat(this.stored.stats, at, stat)) return undefined;
    this.keptFiles.push(at);
    return this.stored.digests.slice(at * 64, at * 64 + 64);
  }

  /** Remembers a freshly computed digest, unless the file is too recent to be trusted later. */
  record(path: string, stat: StatKey, digest: string): void {
    if (this.isRacy(stat)) return;
    this.addedFiles.push({ path, stat, digest });
  }

  /**
   * The children the walk found in directory `path` last time, when the directory's stat is
   * exactly what it was then and the .dockerignore rules are the same.
   */
  listing(path: string, stat: StatKey): DirectoryListing | undefined {
    if (!this.sameRules) return undefined;
    const at = this.dirAt.get(path);
    const stored = this.stored;
    if (at === undefined || !sameStat(stored.stats, stored.filePaths.length + at, stat)) {
      return undefined;
    }
    this.keptDirs.add(at);
    const start = stored.childStart[at]!;
    const end = stored.childStart[at + 1]!;
    return {
      names: stored.childNames.slice(start, end),
      kinds: stored.childKinds.subarray(start, end),
    };
  }

  /** Remembers what the walk found in a directory, unless the directory changed too recently. */
  rememberListing(path: string, stat: StatKey, listing: DirectoryListing): void {
    // A remembered listing the walk could not use (see `walkContext`) is replaced, not kept.
    const at = this.dirAt.get(path);
    if (at !== undefined) this.keptDirs.delete(at);
    if (this.ignore === undefined || this.isRacy(stat)) return;
    this.addedDirs.push({ path, stat, listing });
  }

  private isRacy(stat: StatKey): boolean {
    const limit = this.scanStartedMs - RACY_WINDOW_MS;
    return stat.mtimeMs >= limit || stat.ctimeMs >= limit;
  }

  /**
   * Writes the records seen in this scan (dropping paths that are gone), atomically via a
   * rename, and only when something changed. Failing to write is not an error.
   */
  save(): void {
    if (this.file === undefined) return;
    const stored = this.stored;
    if (
      this.addedFiles.length === 0 &&
      this.addedDirs.length === 0 &&
      this.keptFiles.length === stored.filePaths.length &&
      this.keptDirs.size === stored.dirPaths.length &&
      this.ignore === stored.ignore
    ) {
      return;
    }
    const filePaths: string[] = [];
    const dirPaths: string[] = [];
    const stats: number[] = [];
    const digests: string[] = [];
    const childNames: string[] = [];
    const childKinds: number[] = [];
    const childStart = [0];
    const copyStat = (record: number) => {
      for (let k = 0; k < STAT_FIELDS; k++) stats.push(stored.stats[record * STAT_FIELDS + k]!);
    };
    for (const at of this.keptFiles) {
      filePaths.push(stored.filePaths[at]!);
      copyStat(at);
      digests.push(stored.digests.slice(at * 64, at * 64 + 64));
    }
    for (const { path, stat, digest } of this.addedFiles) {
      filePaths.push(path);
      pushStat(stats, stat);
      digests.push(digest);
    }
    // Under other rules the old listings are stale: only this scan's are written.
    for (const at of this.sameRules ? this.keptDirs : []) {
      dirPaths.push(stored.dirPaths[at]!);
      copyStat(stored.filePaths.length + at);
      for (let i = stored.childStart[at]!; i < stored.childStart[at + 1]!; i++) {
        childNames.push(stored.childNames[i]!);
        childKinds.push(stored.childKinds[i]!);
      }
      childStart.push(childNames.length);
    }
    for (const { path, stat, listing } of this.addedDirs) {
      dirPaths.push(path);
      pushStat(stats, stat);
      for (let i = 0; i < listing.names.length; i++) {
        childNames.push(listing.names[i]!);
        childKinds.push(listing.kinds[i]!);
      }
      childStart.push(childNames.length);
    }
    const bytes = encodeStatCache({
      context: this.context,
      ignore: this.ignore,
      filePaths,
      dirPaths,
      stats: Float64Array.from(stats),
      digests: digests.join(''),
      childStart: Uint32Array.from(childStart),
      childNames,
      childKinds: Uint8Array.from(childKinds),
    });
    // A unique temp name: builds of the same context in parallel each write whole files.
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(temp, bytes, { mode: 0o600 });
      renameSync(temp, this.file);
      // The JSON file of format 2 (before listings were remembered) is never read again.
      rmSync(this.file.replace(/\.bin$/, '.json'), { force: true });
    } catch {
      // A read-only home or a full disk must not fail a build; the next scan hashes again.
      rmSync(temp, { force: true });
    }
  }
}
