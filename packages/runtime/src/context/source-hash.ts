import { createHash } from 'node:crypto';
import type { ContextEntry } from './walk.js';
import { hashFiles, type HashFilesOptions, type HashJob } from './hash-pool.js';
import { sameStatKey, StatCache } from './stat-cache.js';

/** First line of the hashed text; it changes whenever the rules in docs/source-hash.md change. */
export const SOURCE_HASH_VERSION = 'launch-agent-source-hash/v1';
/** Hex characters of the source hash used as the image tag: 128 bits. */
export const TAG_HEX_LENGTH = 32;

export interface SourceHashInputs {
  /** Included context entries, as `walkContext` returns them (sorted by UTF-8 path). */
  entries: readonly ContextEntry[];
  /** The Dockerfile's bytes, hashed whether or not the Dockerfile is inside the context. */
  dockerfile: Buffer;
  buildArgs: Readonly<Record<string, string>>;
  target?: string;
  platform?: string;
}

export interface SourceHashOptions extends HashFilesOptions {
  /** Digests remembered from earlier scans; `StatCache.disabled` to always read every file. */
  cache?: StatCache;
}

export interface SourceHash {
  /** SHA-256 (64 hex characters) of the canonical text described in docs/source-hash.md. */
  hash: string;
  /** The image tag: the first TAG_HEX_LENGTH hex characters of `hash`. */
  tag: string;
  /** SHA-256 of each included regular file's bytes, by relative path. */
  fileDigests: Map<string, string>;
  stats: {
    files: number;
    bytes: number;
    hashedFiles: number;
    hashedBytes: number;
    cachedFiles: number;
  };
}

/** Characters of manifest text hashed per `update` call (see `digestSourceManifest`). */
const MANIFEST_PIECE = 64 << 10;

/** `<byte length>:<text>`, which keeps every field unambiguous whatever it contains. */
function field(value: string): string {
  return `${Buffer.byteLength(value, 'utf8')}:${value}`;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The start of the spec's text: the version line, the Dockerfile, platform, target and build
 * args; everything but the entries.
 */
function manifestHead(inputs: SourceHashInputs): Buffer {
  let text = `\nplatform ${field(inputs.platform ?? '')}\ntarget ${field(inputs.target ?? '')}\n`;
  for (const key of Object.keys(inputs.buildArgs).sort(compareUtf8)) {
    text += `arg ${field(key)} ${field(inputs.buildArgs[key]!)}\n`;
  }
  return Buffer.concat([
    Buffer.from(`${SOURCE_HASH_VERSION}\ndockerfile ${inputs.dockerfile.length}:`, 'utf8'),
    inputs.dockerfile,
    Buffer.from(text, 'utf8'),
  ]);
}

/**
 * Computes the text of the spec and its SHA-256 from already known file digests. Separate
 * from file reading so the rules can be tested and re-implemented on their own.
 */
export function digestSourceManifest(
  inputs: SourceHashInputs,
  fileDigests: ReadonlyMap<string, string>,
  head: Buffer = manifestHead(inputs),
): string {
  const hash = createHash('sha256');
  hash.update(head);
  // The entries are built as text and hashed in pieces of about 64 KiB: one update per entry
  // costs more than the hashing, and one string for all of it is a large allocation to flatten.
  // Plain `+` rather than `field()` templates: fewer intermediate strings per entry.
  let text = '';
  for (const entry of inputs.entries) {
    const path = entry.path;
    if (entry.type === 'directory') {
      text += 'dir ' + Buffer.byteLength(path, 'utf8') + ':' + path + '\n';
    } else if (entry.type === 'symlink') {
      text += `link ${field(path)} ${field(entry.target)}\n`;
    } else {
      const digest = fileDigests.get(path);
      if (digest === undefined) throw new Error(`no digest for ${path}`);
      text +=
        'file ' +
        Buffer.byteLength(path, 'utf8') +
        ':' +
        path +
        (entry.executable ? ' x ' : ' - ') +
        digest +
        '\n';
    }
    if (text.length >= MANIFEST_PIECE) {
      hash.update(text, 'utf8');
      text = '';
    }
  }
  hash.update(text, 'utf8');
  return hash.digest('hex');
}

/**
 * The source hash of a build: the Dockerfile, each included file's relative path, executable
 * bit and bytes, symlinks as links, the build args, target and platform. Independent of mtimes,
 * absolute paths, owners and directory order. A file whose lstat matches the stat cache's
 * record in all five fields takes its digest from there; the others are read on worker threads.
 */
export async function computeSourceHash(
  inputs: SourceHashInputs,
  options: SourceHashOptions = {},
): Promise<SourceHash> {
  const cache = options.cache ?? StatCache.disabled();
  const fileDigests = new Map<string, string>();
  const jobs: HashJob[] = [];
  const pending: Array<Extract<ContextEntry, { type: 'file' }>> = [];
  let files = 0;
  let bytes = 0;
  for (const entry of inputs.entries) {
    if (entry.type !== 'file') continue;
    files += 1;
    bytes += entry.stat.size;
    const cached = cache.lookup(entry.path, entry.stat);
    if (cached !== undefined) {
      fileDigests.set(entry.path, cached);
    } else {
      jobs.push({ path: entry.absolutePath, size: entry.stat.size });
      pending.push(entry);
    }
  }
  const digests = await hashFiles(jobs, options);
  let hashedBytes = 0;
  digests.forEach((result, i) => {
    const entry = pending[i]!;
    fileDigests.set(entry.path, result.digest);
    hashedBytes += result.size;
    // Remember the digest only if the file did not change between the walk's lstat and the
    // last read (the same inode, size, times and mode, and every byte of it read).
    if (result.size === entry.stat.size && sameStatKey(result.after, entry.stat)) {
      cache.record(entry.path, entry.stat, result.digest);
    }
  });
  const hash = digestSourceManifest(inputs, fileDigests);
  cache.save();
  return {
    hash,
    tag: hash.slice(0, TAG_HEX_LENGTH),
    fileDigests,
    stats: {
      files,
      bytes,
      hashedFiles: jobs.length,
      hashedBytes,
      cachedFiles: files - jobs.length,
    },
  };
}
