import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

type StoredEntry = [
  size: number,
  mtimeMs: number,
  ctimeMs: number,
  ino: number,
  mode: number,
  dev: number,
  digest: string,
];

interface StoredCache {
  format: number;
  context: string;
  entries: Record<string, StoredEntry>;
}

const FORMAT = 1;

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
  private readonly previous: Map<string, StoredEntry>;
  private readonly current = new Map<string, StoredEntry>();
  private changed = false;

  private constructor(
    readonly file: string | undefined,
    private readonly context: string,
    previous: Map<string, StoredEntry>,
    private readonly scanStartedMs: number,
  ) {
    this.previous = previous;
  }

  /** A cache that remembers nothing (hashing with the cache turned off). */
  static disabled(context: string): StatCache {
    return new StatCache(undefined, context, new Map(), Date.now());
  }

  /**
   * Opens the cache of one context directory (an absolute, resolved path). A missing, unreadable
   * or foreign-format cache file is treated as empty: the cache can only save work, never fail a build.
   */
  static open(context: string, cacheDir = defaultCacheDir(), now?: number): StatCache {
    const name = createHash('sha256').update(context).digest('hex').slice(0, 32);
    const file = join(cacheDir, 'hash-cache', `${name}.json`);
    let previous = new Map<string, StoredEntry>();
    try {
      const stored = JSON.parse(readFileSync(file, 'utf8')) as StoredCache;
      if (stored.format === FORMAT && stored.context === context && stored.entries) {
        previous = new Map(Object.entries(stored.entries));
      }
    } catch {
      // No cache yet, or one we cannot read: start empty.
    }
    return new StatCache(file, context, previous, now ?? Date.now());
  }

  /** The remembered digest of `path` when its stat is exactly what it was, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined {
    const entry = this.previous.get(path);
    if (
      entry === undefined ||
      entry[0] !== stat.size ||
      entry[1] !== stat.mtimeMs ||
      entry[2] !== stat.ctimeMs ||
      entry[3] !== stat.ino ||
      entry[4] !== stat.mode ||
      entry[5] !== stat.dev
    ) {
      return undefined;
    }
    this.current.set(path, entry);
    return entry[6];
  }

  /** Remembers a freshly computed digest, unless the file is too recent to be trusted later. */
  record(path: string, stat: StatKey, digest: string): void {
    const limit = this.scanStartedMs - RACY_WINDOW_MS;
    if (stat.mtimeMs >= limit || stat.ctimeMs >= limit) return;
    this.current.set(path, [
      stat.size,
      stat.mtimeMs,
      stat.ctimeMs,
      stat.ino,
      stat.mode,
      stat.dev,
      digest,
    ]);
    this.changed = true;
  }

  /**
   * Writes the entries seen in this scan (dropping files that are gone), atomically via a
   * rename, and only when something changed. Failing to write is not an error.
   */
  save(): void {
    if (this.file === undefined) return;
    if (!this.changed && this.current.size === this.previous.size) return;
    const stored: StoredCache = {
      format: FORMAT,
      context: this.context,
      entries: Object.fromEntries(this.current),
    };
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      const temp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
      renameSync(temp, this.file);
    } catch {
      // A read-only home or a full disk must not fail a build; the next scan hashes again.
    }
  }
}
