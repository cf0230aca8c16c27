import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  statKey,
  type ContextEntry,
  type DirectoryListing,
  type StatKey,
  type WalkMemory,
} from './context-walk.js';
import {
  decodeStatCache,
  encodeStatCache,
  SNAPSHOT_INDEX_MASK,
  SNAPSHOT_KIND_SHIFT,
  SnapshotKind,
  STAT_FIELDS,
  type RememberedSourceHash,
  type StatCacheContents,
} from './stat-cache-file.js';

// The cache is keyed on these fields; the package's public entry point names them from here.
export type { StatKey };

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
  order: undefined,
  linkPaths: [],
  linkTargets: [],
  sourceHash: undefined,
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

function storedStat(stats: Float64Array, record: number): StatKey {
  const at = record * STAT_FIELDS;
  return {
    size: stats[at]!,
    mtimeMs: stats[at + 1]!,
    ctimeMs: stats[at + 2]!,
    ino: stats[at + 3]!,
    mode: stats[at + 4]!,
    dev: stats[at + 5]!,
  };
}

function pushStat(target: number[], stat: StatKey): void {
  target.push(stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, stat.mode, stat.dev);
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

type FileRecord = { path: string; stat: StatKey; digest: string };
type DirRecord = { path: string; stat: StatKey; listing: DirectoryListing };
/** Records to write; a number is the index of a record in the file that was read. */
type ScanRecords = {
  files: ReadonlyArray<number | FileRecord>;
  dirs: ReadonlyArray<number | DirRecord>;
};

/**
 * Remembers, per context directory, each file's SHA-256 keyed by its path and stat (size,
 * mtime, ctime, inode, mode, device), and each directory's listing keyed the same way, in one
 * file under `<cache dir>/hash-cache/` (format: `stat-cache-file.ts`). Re-hashing an unchanged
 * context then costs one lstat per file and per directory: no file is read, no directory listed.
 *
 * A directory's listing can be reused because adding, removing or renaming an entry updates
 * the directory's mtime and ctime (POSIX), and ctime cannot be set back by `touch`.
 *
 * When every part of a scan was remembered, the file also holds a snapshot of it: its entries
 * in order and the source hash computed from them. The next scan first checks the snapshot
 * (`snapshotEntries`), with no walk at all.
 */
export class StatCache implements WalkMemory {
  private readonly stored: StatCacheContents;
  /** path → record index in `stored`, built on first use. */
  private fileIndex: Map<string, number> | undefined;
  private dirIndex: Map<string, number> | undefined;
  /** The file record after the one `lookup` found last. */
  private nextFile = 0;
  /** Records confirmed in this scan (indices into `stored`) and new ones, which `save` writes. */
  private readonly keptFiles: number[] = [];
  private readonly keptDirs = new Set<number>();
  private readonly addedFiles: FileRecord[] = [];
  private readonly addedDirs: DirRecord[] = [];
  /** Set when this scan saw something it could not remember: it then leaves no snapshot. */
  private forgotSomething = false;
  /** Listings are decisions of the .dockerignore rules: only reused under the same rules. */
  private readonly sameRules: boolean;
  /** The entries `snapshotEntries` returned, when the snapshot held. */
  private snapshot: readonly ContextEntry[] | undefined;

  /** True when this scan's entries came from the snapshot (the build plan's statistics). */
  get snapshotUsed(): boolean {
    return this.snapshot !== undefined;
  }

  private constructor(
    readonly file: string | undefined,
    private readonly context: string,
    stored: StatCacheContents,
    private readonly scanStartedMs: number,
    private readonly ignore: string | undefined,
  ) {
    this.stored = stored;
    this.sameRules = ignore !== undefined && ignore === stored.ignore;
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

  private files(): Map<string, number> {
    this.fileIndex ??= new Map(this.stored.filePaths.map((path, i) => [path, i]));
    return this.fileIndex;
  }

  private dirs(): Map<string, number> {
    this.dirIndex ??= new Map(this.stored.dirPaths.map((path, i) => [path, i]));
    return this.dirIndex;
  }

  /**
   * The entries of the last scan, when its snapshot still holds for the context at `root` (the
   * same rules, every directory it walked with exactly the stat it had, every symlink with the
   * same target): then no entry can have been added, removed, renamed or replaced, and the
   * context need not be walked. Every file is still lstat'ed; one whose stat changed comes back
   * with its new stat, so `lookup` misses it and it is hashed again. Undefined when the
   * snapshot is missing or does not hold (or the context cannot be read): walk it instead.
   *
   * The checks are those a walk with remembered listings makes, in one pass over flat arrays
   * instead of directory by directory, and the entries are already in order.
   */
  snapshotEntries(root: string): ContextEntry[] | undefined {
    this.snapshot = undefined;
    const stored = this.stored;
    const order = stored.order;
    if (!this.sameRules || order === undefined) return undefined;
    const prefix = root.endsWith('/') ? root : `${root}/`;
    const { filePaths, dirPaths, linkPaths, linkTargets, stats } = stored;
    const fileCount = filePaths.length;
    const entries: ContextEntry[] = new Array(order.length);
    try {
      // The directories first: with their stats unchanged, the set of entries is the same.
      for (let d = 0; d < dirPaths.length; d++) {
        const path = dirPaths[d]!;
        if (!sameStat(stats, fileCount + d, lstatSync(path === '' ? root : prefix + path))) {
          return undefined;
        }
      }
      for (let l = 0; l < linkPaths.length; l++) {
        if (readlinkSync(prefix + linkPaths[l]!) !== linkTargets[l]) return undefined;
      }
      for (let i = 0; i < order.length; i++) {
        const at = order[i]! & SNAPSHOT_INDEX_MASK;
        const kind = order[i]! >>> SNAPSHOT_KIND_SHIFT;
        if (kind === SnapshotKind.file) {
          const path = filePaths[at]!;
          const absolutePath = prefix + path;
          const current = lstatSync(absolutePath);
          let stat: StatKey;
          if (sameStat(stats, at, current)) stat = storedStat(stats, at);
          else if ((current.mode & S_IFMT) === S_IFREG) stat = statKey(current);
          else return undefined;
          const executable = (stat.mode & 0o111) !== 0;
          entries[i] = { type: 'file', path, absolutePath, executable, stat };
        } else if (kind === SnapshotKind.directory) {
          entries[i] = { type: 'directory', path: dirPaths[at]! };
        } else {
          entries[i] = { type: 'symlink', path: linkPaths[at]!, target: linkTargets[at]! };
        }
      }
    } catch {
      return undefined;
    }
    for (let d = 0; d < dirPaths.length; d++) this.keptDirs.add(d);
    this.snapshot = entries;
    return entries;
  }

  /**
   * The source hash the last scan computed, when `entries` are what `snapshotEntries` returned
   * in this scan, `lookup` has confirmed every file's digest, and the rest of the manifest
   * (Dockerfile, platform, target, build args: `head` is its SHA-256) is the same: then the
   * manifest is the very text that scan hashed.
   */
  rememberedSourceHash(head: string, entries: readonly ContextEntry[]): string | undefined {
    const remembered = this.stored.sourceHash;
    if (entries !== this.snapshot || remembered?.head !== head) return undefined;
    return this.keptFiles.length === this.stored.filePaths.length ? remembered.hash : undefined;
  }

  /**
   * True when `path` was an included file of the last scan under the same .dockerignore rules:
   * the rules' decision is a function of the rules and the path alone, so it still holds and
   * the walk need not run the matcher again.
   */
  wasIncluded(path: string): boolean {
    return this.sameRules && this.files().has(path);
  }

  /** The remembered digest of `path` when its stat is exactly what it was, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined {
    // Files are stored in the order of the scan that wrote them, which is the order the next
    // scan asks in, so the record after the last one asked for is nearly always the one.
    const stored = this.stored;
    const next = this.nextFile;
    const at = stored.filePaths[next] === path ? next : this.files().get(path);
    if (at === undefined) return undefined;
    this.nextFile = at + 1;
    if (!sameStat(stored.stats, at, stat)) return undefined;
    this.keptFiles.push(at);
    return stored.digests.slice(at * 64, at * 64 + 64);
  }

  /** Remembers a freshly computed digest, unless the file is too recent to be trusted later. */
  record(path: string, stat: StatKey, digest: string): void {
    if (this.isRacy(stat)) {
      this.forgotSomething = true;
      return;
    }
    this.addedFiles.push({ path, stat, digest });
  }

  /**
   * The children the walk found in directory `path` last time, when the directory's stat is
   * exactly what it was then and the .dockerignore rules are the same.
   */
  listing(path: string, stat: StatKey): DirectoryListing | undefined {
    if (!this.sameRules) return undefined;
    const at = this.dirs().get(path);
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
    const at = this.dirs().get(path);
    if (at !== undefined) this.keptDirs.delete(at);
    if (this.ignore === undefined || this.isRacy(stat)) {
      this.forgotSomething = true;
      return;
    }
    this.addedDirs.push({ path, stat, listing });
  }

  private isRacy(stat: StatKey): boolean {
    const limit = this.scanStartedMs - RACY_WINDOW_MS;
    return stat.mtimeMs >= limit || stat.ctimeMs >= limit;
  }

  /**
   * Writes the records seen in this scan (dropping paths that are gone), atomically via a
   * rename, and only when something changed. With the scan's `entries` (sorted), and when
   * every one of them was remembered, the file also holds the snapshot the next scan checks
   * first. Failing to write is not an error.
   */
  save(entries?: readonly ContextEntry[], sourceHash?: RememberedSourceHash): void {
    if (this.file === undefined) return;
    const stored = this.stored;
    const complete = entries !== undefined && this.ignore !== undefined && !this.forgotSomething;
    const unchanged =
      this.addedFiles.length === 0 &&
      this.addedDirs.length === 0 &&
      this.keptFiles.length === stored.filePaths.length &&
      this.keptDirs.size === stored.dirPaths.length &&
      this.ignore === stored.ignore;
    // A complete scan also writes an unchanged file that lacks its snapshot or source hash.
    const snapshotMissing =
      stored.order === undefined || (stored.sourceHash === undefined && sourceHash !== undefined);
    if (unchanged && !(complete && snapshotMissing)) return;
    const records = this.scanRecords();
    const contents =
      (complete && this.snapshotContents(records, entries, sourceHash)) ||
      this.recordContents(records);
    // A unique temp name: builds of the same context in parallel each write whole files.
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(temp, encodeStatCache(contents), { mode: 0o600 });
      renameSync(temp, this.file);
      // The JSON file of format 2 (before listings were remembered) is never read again.
      rmSync(this.file.replace(/\.bin$/, '.json'), { force: true });
    } catch {
      // A read-only home or a full disk must not fail a build; the next scan hashes again.
      rmSync(temp, { force: true });
    }
  }

  /**
   * This scan's records with its snapshot: files in the entries' order, the included
   * directories in the entries' order before the other walked ones. Undefined when an entry
   * has no record (a file that changed while it was read is hashed but not remembered).
   */
  private snapshotContents(
    records: ScanRecords,
    entries: readonly ContextEntry[],
    sourceHash: RememberedSourceHash | undefined,
  ): StatCacheContents | undefined {
    const stored = this.stored;
    const fileRecords = new Map<string, number | FileRecord>();
    for (const r of records.files) {
      fileRecords.set(typeof r === 'number' ? stored.filePaths[r]! : r.path, r);
    }
    const dirRecords = new Map<string, number | DirRecord>();
    for (const r of records.dirs) {
      dirRecords.set(typeof r === 'number' ? stored.dirPaths[r]! : r.path, r);
    }

    const files: Array<number | FileRecord> = [];
    const dirs: Array<number | DirRecord> = [];
    const linkPaths: string[] = [];
    const linkTargets: string[] = [];
    const order = new Uint32Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      let kind: number;
      let index: number;
      if (entry.type === 'file') {
        const record = fileRecords.get(entry.path);
        if (record === undefined) return undefined;
        kind = SnapshotKind.file;
        index = files.push(record) - 1;
      } else if (entry.type === 'directory') {
        const record = dirRecords.get(entry.path);
        if (record === undefined) return undefined;
        dirRecords.delete(entry.path);
        kind = SnapshotKind.directory;
        index = dirs.push(record) - 1;
      } else {
        kind = SnapshotKind.symlink;
        index = linkPaths.push(entry.path) - 1;
        linkTargets.push(entry.target);
      }
      if (index > SNAPSHOT_INDEX_MASK) return undefined;
      order[i] = ((kind << SNAPSHOT_KIND_SHIFT) | index) >>> 0;
    }
    // The root and the excluded directories the walk entered: checked, but not entries.
    dirs.push(...dirRecords.values());
    return { ...this.recordContents({ files, dirs }), order, linkPaths, linkTargets, sourceHash };
  }

  /**
   * This scan's records: the confirmed ones then the new ones. Only this scan's listings:
   * under other rules the old ones are stale.
   */
  private scanRecords(): ScanRecords {
    return {
      files: [...this.keptFiles, ...this.addedFiles],
      dirs: [...(this.sameRules ? this.keptDirs : []), ...this.addedDirs],
    };
  }

  /** The file's contents for the given records, without a snapshot. */
  private recordContents({ files, dirs }: ScanRecords): StatCacheContents {
    const stored = this.stored;
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
    for (const file of files) {
      if (typeof file === 'number') {
        filePaths.push(stored.filePaths[file]!);
        copyStat(file);
        digests.push(stored.digests.slice(file * 64, file * 64 + 64));
      } else {
        filePaths.push(file.path);
        pushStat(stats, file.stat);
        digests.push(file.digest);
      }
    }
    for (const dir of dirs) {
      if (typeof dir === 'number') {
        dirPaths.push(stored.dirPaths[dir]!);
        copyStat(stored.filePaths.length + dir);
        for (let i = stored.childStart[dir]!; i < stored.childStart[dir + 1]!; i++) {
          childNames.push(stored.childNames[i]!);
          childKinds.push(stored.childKinds[i]!);
        }
      } else {
        dirPaths.push(dir.path);
        pushStat(stats, dir.stat);
        for (let i = 0; i < dir.listing.names.length; i++) {
          childNames.push(dir.listing.names[i]!);
          childKinds.push(dir.listing.kinds[i]!);
        }
      }
      childStart.push(childNames.length);
    }
    return {
      context: this.context,
      ignore: this.ignore,
      filePaths,
      dirPaths,
      stats: Float64Array.from(stats),
      digests: digests.join(''),
      childStart: Uint32Array.from(childStart),
      childNames,
      childKinds: Uint8Array.from(childKinds),
      order: undefined,
      linkPaths: [],
      linkTargets: [],
      sourceHash: undefined,
    };
  }
}
