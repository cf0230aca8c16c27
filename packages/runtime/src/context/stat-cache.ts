/**
 * The stat cache: each file's SHA-256 from an earlier scan of the same context, reused only
 * when the file's lstat (bigint: nanosecond times, 64-bit inode) says now exactly what it said
 * when the digest was computed: size, mtime ns, ctime ns, inode and mode. Anything else and the
 * file is read again. There is no other shortcut: every scan lists every directory and lstats
 * every file; the cache only saves reading bytes. A digest reused wrongly would build an image
 * from stale source, which is worse than any time saved, so a doubt always means a re-hash.
 *
 * One file per context directory, `<cache dir>/hash-cache/<32 hex of SHA-256(context)>.bin`:
 *
 * ```text
 * magic     "launch-agent-stat-cache 5\n"            (the format version is its last field)
 * header    JSON on one line: {"context":"/abs/dir","files":N} then "\n"
 * stats     N × 5 uint64, little-endian: size, mtime ns, ctime ns, inode, mode
 *           (times as their 64-bit two's complement, so dates before 1970 fit)
 * digests   N × 32 bytes: SHA-256 of each file's bytes
 * paths     N relative paths, UTF-8, each followed by NUL (which no file name can hold)
 * checksum  32 bytes: SHA-256 of every byte before it
 * ```
 *
 * Records are in the order of the scan that wrote them, which is the order the next scan asks
 * in. A file that is missing, larger than `STAT_CACHE_MAX_BYTES`, truncated, has extra bytes,
 * another magic or version, another context, or a wrong checksum counts as no cache: every file
 * is hashed. A write goes to a temp file renamed over the old one, so a reader sees the old file
 * or the new one, never part of one; failing to write is not an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  type BigIntStats,
} from 'node:fs';
import { endianness, homedir } from 'node:os';
import { join } from 'node:path';

/** The lstat fields a cached digest is keyed on. Any difference means the file is read again. */
export interface StatKey {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  mode: number;
}

/** The cache's fields of a bigint lstat result. */
export function statKey(stat: BigIntStats): StatKey {
  return {
    size: Number(stat.size),
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
    ino: stat.ino,
    mode: Number(stat.mode),
  };
}

/** The key of `path` itself (a link is not followed), with nanosecond times. */
export function lstatKey(path: string): StatKey {
  return statKey(lstatSync(path, { bigint: true }));
}

/** True when two keys are the same in all five fields. */
export function sameStatKey(a: StatKey, b: StatKey): boolean {
  return (
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.mode === b.mode
  );
}

/**
 * A digest is only remembered when the file's mtime and ctime are this far before the scan
 * started. A file written in the same timestamp tick as the scan could be rewritten within that
 * tick with the same size and, on a file system with coarse timestamps, the same mtime; refusing
 * to cache such "racy" files, as git does for its index, keeps that change from being missed.
 */
export const RACY_WINDOW_MS = 2000;

/** Format version, the last field of the magic line. */
export const STAT_CACHE_FORMAT = 5;
const MAGIC = Buffer.from(`launch-agent-stat-cache ${STAT_CACHE_FORMAT}\n`, 'latin1');
/** A cache file larger than this is neither read nor written (about 400,000 files). */
export const STAT_CACHE_MAX_BYTES = 64 << 20;
const FIELDS = 5;
const RECORD_BYTES = FIELDS * 8;
const DIGEST_BYTES = 32;
const CHECKSUM_BYTES = 32;

/** `$LAUNCH_AGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/launch-agent`, else `~/.cache/launch-agent`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAUNCH_AGENT_CACHE_DIR) return env.LAUNCH_AGENT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'launch-agent');
}

/** The records of one cache file. */
export interface StatCacheRecords {
  context: string;
  paths: readonly string[];
  /** FIELDS values per record, as unsigned 64-bit (`BigInt.asUintN(64, …)`). */
  stats: BigUint64Array;
  /** Hex SHA-256 per record, 64 characters each, concatenated. */
  digests: string;
}

const u64 = (value: bigint | number) => BigInt.asUintN(64, BigInt(value));

/** The bytes of a cache file holding `records`. */
export function encodeStatCache(records: StatCacheRecords): Buffer {
  const n = records.paths.length;
  if (records.stats.length !== n * FIELDS || records.digests.length !== n * 64) {
    throw new Error('stat cache: records of different lengths');
  }
  const header = Buffer.from(`${JSON.stringify({ context: records.context, files: n })}\n`);
  const stats = Buffer.from(records.stats.buffer, records.stats.byteOffset, n * RECORD_BYTES);
  const body = Buffer.concat([
    MAGIC,
    header,
    endianness() === 'LE' ? stats : Buffer.from(stats).swap64(),
    Buffer.from(records.digests, 'hex'),
    Buffer.from(records.paths.map((p) => `${p}\0`).join(''), 'utf8'),
  ]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The records of a cache file; undefined for anything but a complete, intact file of this format. */
export function decodeStatCache(bytes: Buffer): StatCacheRecords | undefined {
  if (bytes.length < MAGIC.length + CHECKSUM_BYTES) return undefined;
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const end = bytes.length - CHECKSUM_BYTES;
  const checksum = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!checksum.equals(bytes.subarray(end))) return undefined;
  const newline = bytes.indexOf(0x0a, MAGIC.length);
  if (newline < 0 || newline >= end) return undefined;
  let header: { context?: unknown; files?: unknown };
  try {
    header = JSON.parse(bytes.toString('utf8', MAGIC.length, newline)) as typeof header;
  } catch {
    return undefined;
  }
  const n = header.files;
  if (typeof header.context !== 'string' || !Number.isSafeInteger(n) || (n as number) < 0) {
    return undefined;
  }
  const files = n as number;
  const statsStart = newline + 1;
  const digestsStart = statsStart + files * RECORD_BYTES;
  const pathsStart = digestsStart + files * DIGEST_BYTES;
  if (pathsStart > end) return undefined;
  // Copied into a fresh, aligned buffer: the block's offset in the file is not a multiple of 8.
  const stats = new BigUint64Array(files * FIELDS);
  const statBytes = Buffer.from(stats.buffer);
  bytes.copy(statBytes, 0, statsStart, digestsStart);
  if (endianness() !== 'LE') statBytes.swap64();
  const paths = bytes.toString('utf8', pathsStart, end).split('\0');
  if (paths.length !== files + 1 || paths.pop() !== '') return undefined;
  return {
    context: header.context,
    paths,
    stats,
    digests: bytes.toString('hex', digestsStart, pathsStart),
  };
}

/** Reads at most `limit` bytes of `file`; undefined when it is missing or larger. */
function readBounded(file: string, limit: number): Buffer | undefined {
  let fd;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > limit) return undefined;
    const bytes = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, bytes, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return read === size ? bytes : undefined;
  } finally {
    closeSync(fd);
  }
}

const EMPTY = (context: string): StatCacheRecords => ({
  context,
  paths: [],
  stats: new BigUint64Array(0),
  digests: '',
});

interface NewRecord {
  stat: StatKey;
  digest: string;
}

/**
 * The digests of one context directory's files, from its cache file, and the ones this scan
 * adds. `lookup` is asked for every file of the scan, in order; `save` writes this scan's files
 * (the paths that are gone are dropped).
 */
export class StatCache {
  /** path → record index, built only when a lookup is not the record after the last one. */
  private index: Map<string, number> | undefined;
  private next = 0;
  /** This scan's files in order: a stored record's index, or the path of a file not reused. */
  private readonly scan: Array<number | string> = [];
  private readonly missed = new Set<string>();
  private reused = 0;
  private readonly added = new Map<string, NewRecord>();
  private readonly racyLimitNs: bigint;

  private constructor(
    /** The cache file, or undefined for a cache that remembers nothing. */
    readonly file: string | undefined,
    private readonly stored: StatCacheRecords,
    scanStartedMs: number,
  ) {
    this.racyLimitNs = BigInt(Math.floor(scanStartedMs - RACY_WINDOW_MS)) * 1_000_000n;
  }

  /** A cache that remembers nothing: every file is read. */
  static disabled(): StatCache {
    return new StatCache(undefined, EMPTY(''), Date.now());
  }

  /**
   * Opens the cache of the context directory `context` (absolute and resolved). A missing or
   * unusable file is an empty cache: the cache can only save work, never fail a build. `now` is
   * when the scan started (ms since the epoch), for the racy-file rule.
   */
  static open(context: string, cacheDir = defaultCacheDir(), now = Date.now()): StatCache {
    const name = createHash('sha256').update(context).digest('hex').slice(0, 32);
    const file = join(cacheDir, 'hash-cache', `${name}.bin`);
    const bytes = readBounded(file, STAT_CACHE_MAX_BYTES);
    const decoded = bytes && decodeStatCache(bytes);
    return new StatCache(file, decoded?.context === context ? decoded : EMPTY(context), now);
  }

  /** The digest remembered for `path` when its lstat now (`stat`) matches in all five fields. */
  lookup(path: string, stat: StatKey): string | undefined {
    const { paths, stats, digests } = this.stored;
    let at: number | undefined = this.next;
    if (paths[at] !== path) {
      this.index ??= new Map(paths.map((p, i) => [p, i]));
      at = this.index.get(path);
    }
    if (at !== undefined) this.next = at + 1;
    const k = (at ?? 0) * FIELDS;
    const hit =
      at !== undefined &&
      stats[k] === u64(stat.size) &&
      stats[k + 1] === u64(stat.mtimeNs) &&
      stats[k + 2] === u64(stat.ctimeNs) &&
      stats[k + 3] === u64(stat.ino) &&
      stats[k + 4] === u64(stat.mode);
    if (!hit) {
      this.scan.push(path);
      this.missed.add(path);
      return undefined;
    }
    this.scan.push(at!);
    this.reused += 1;
    return digests.slice(at! * 64, at! * 64 + 64);
  }

  /**
   * Remembers a digest computed in this scan (normally for a file `lookup` missed), with the
   * stat the walk saw, unless the file is too recent to be trusted later (see `RACY_WINDOW_MS`).
   */
  record(path: string, stat: StatKey, digest: string): void {
    if (stat.mtimeNs >= this.racyLimitNs || stat.ctimeNs >= this.racyLimitNs) return;
    if (!this.missed.has(path)) {
      this.missed.add(path);
      this.scan.push(path);
    }
    this.added.set(path, { stat, digest });
  }

  /** Writes this scan's records when they differ from the file's. Never throws. */
  save(): void {
    if (this.file === undefined) return;
    if (this.added.size === 0 && this.reused === this.stored.paths.length) return;
    const { stored } = this;
    const paths: string[] = [];
    const digests: string[] = [];
    const values: bigint[] = [];
    for (const item of this.scan) {
      if (typeof item === 'number') {
        paths.push(stored.paths[item]!);
        digests.push(stored.digests.slice(item * 64, item * 64 + 64));
        for (let f = 0; f < FIELDS; f++) values.push(stored.stats[item * FIELDS + f]!);
        continue;
      }
      const record = this.added.get(item);
      if (record === undefined) continue;
      const { stat } = record;
      paths.push(item);
      digests.push(record.digest);
      values.push(u64(stat.size), u64(stat.mtimeNs), u64(stat.ctimeNs), u64(stat.ino));
      values.push(u64(stat.mode));
    }
    const bytes = encodeStatCache({
      context: stored.context,
      paths,
      stats: BigUint64Array.from(values),
      digests: digests.join(''),
    });
    if (bytes.length > STAT_CACHE_MAX_BYTES) return;
    // A unique temp name: builds of the same context in parallel each write whole files.
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(temp, bytes, { mode: 0o600 });
      renameSync(temp, this.file);
    } catch {
      // A read-only home or a full disk must not fail a build; the next scan hashes again.
      rmSync(temp, { force: true });
    }
  }
}
