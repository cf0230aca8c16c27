import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
 * On disk, entries are one flat JSON array of 8-value records
 * `path, size, mtimeMs, ctimeMs, ino, mode, dev, digest`: it parses several times faster than
 * an object per file, which matters because loading the cache is most of a warm hash.
 */
interface StoredCache {
  format: number;
  context: string;
  /** Fingerprint of the .dockerignore rules the remembered paths were included under. */
  ignore?: string;
  entries: Array<string | number>;
}

const FORMAT = 2;
const RECORD = 8;

/**
 * A file's digest is only remembered when its mtime and ctime are this far before the scan
 * started. A file written in the same timestamp tick as the scan could be rewritten with the
 * same size and the same (coarse) mtime; refusing to cache such "racy" entries, as git does for
 * its index, is what makes a stale cache unable to hide a change.
 */
export const RACY_WINDOW_MS = 2000;

/** `$LAUNCH_AGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/launch-agent`, else `~/.cache/launch-agent`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAUNCH_AGENT_CACHE_DIR) return env.LAUNCH_AGENT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'launch-agent');
}

/**
 * Remembers each file's SHA-256 keyed by its path and stat (size, mtime, ctime, inode, mode,
 * device), one JSON file per context directory under `<cache dir>/hash-cache/`. Re-hashing an
 * unchanged context then costs one lstat per file.
 */
export class StatCache {
  /** path → offset of its record in `stored`. */
  private readonly previous: Map<string, number>;
  /** Records to keep: offsets into `stored` of entries confirmed in this scan, and new records. */
  private readonly kept: number[] = [];
  private readonly added: Array<string | number> = [];

  private constructor(
    readonly file: string | undefined,
    private readonly context: string,
    private readonly stored: ReadonlyArray<string | number>,
    private readonly scanStartedMs: number,
    private readonly storedIgnore: string | undefined,
    private readonly ignore: string | undefined,
  ) {
    this.previous = new Map();
    for (let i = 0; i + RECORD <= stored.length; i += RECORD)
      this.previous.set(stored[i] as string, i);
  }

  /** A cache that remembers nothing (hashing with the cache turned off). */
  static disabled(context: string): StatCache {
    return new StatCache(undefined, context, [], Date.now(), undefined, undefined);
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
    const name = createHash('sha256').update(context).digest('hex').slice(0, 32);
    const file = join(cacheDir, 'hash-cache', `${name}.json`);
    let stored: Array<string | number> = [];
    let storedIgnore: string | undefined;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as StoredCache;
      if (parsed.format === FORMAT && parsed.context === context && Array.isArray(parsed.entries)) {
        stored = parsed.entries;
        storedIgnore = parsed.ignore;
      }
    } catch {
      // No cache yet, or one we cannot read: start empty.
    }
    return new StatCache(file, context, stored, now ?? Date.now(), storedIgnore, ignoreFingerprint);
  }

  /**
   * True when `path` was an included file of the last scan under the same .dockerignore rules:
   * the rules' decision is a function of the rules and the path alone, so it still holds and
   * the walk need not run the matcher again.
   */
  wasIncluded(path: string): boolean {
    return (
      this.ignore !== undefined && this.ignore === this.storedIgnore && this.previous.has(path)
    );
  }

  /** The remembered digest of `path` when its stat is exactly what it was, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined {
    const at = this.previous.get(path);
    if (at === undefined) return undefined;
    const s = this.stored;
    if (
      s[at + 1] !== stat.size ||
      s[at + 2] !== stat.mtimeMs ||
      s[at + 3] !== stat.ctimeMs ||
      s[at + 4] !== stat.ino ||
      s[at + 5] !== stat.mode ||
      s[at + 6] !== stat.dev ||
      typeof s[at + 7] !== 'string'
    ) {
      return undefined;
    }
    this.kept.push(at);
    return s[at + 7] as string;
  }

  /** Remembers a freshly computed digest, unless the file is too recent to be trusted later. */
  record(path: string, stat: StatKey, digest: string): void {
    const limit = this.scanStartedMs - RACY_WINDOW_MS;
    if (stat.mtimeMs >= limit || stat.ctimeMs >= limit) return;
    this.added.push(
      path,
      stat.size,
      stat.mtimeMs,
      stat.ctimeMs,
      stat.ino,
      stat.mode,
      stat.dev,
      digest,
    );
  }

  /**
   * Writes the entries seen in this scan (dropping files that are gone), atomically via a
   * rename, and only when something changed. Failing to write is not an error.
   */
  save(): void {
    if (this.file === undefined) return;
    if (
      this.added.length === 0 &&
      this.kept.length === this.previous.size &&
      this.ignore === this.storedIgnore
    ) {
      return;
    }
    const entries: Array<string | number> = [];
    for (const at of this.kept) for (let k = 0; k < RECORD; k++) entries.push(this.stored[at + k]!);
    for (const value of this.added) entries.push(value);
    const stored: StoredCache = {
      format: FORMAT,
      context: this.context,
      ...(this.ignore !== undefined ? { ignore: this.ignore } : {}),
      entries,
    };
    // A unique temp name: builds of the same context in parallel each write whole files.
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
      renameSync(temp, this.file);
    } catch {
      // A read-only home or a full disk must not fail a build; the next scan hashes again.
      rmSync(temp, { force: true });
    }
  }
}
