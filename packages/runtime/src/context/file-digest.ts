// Runs in the hashing worker threads as well as on the main thread: only erasable TypeScript
// (no enums, no parameter properties) and only node: imports, so Node can run it from source.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { StatKey } from './stat-cache.js';

/** What hashing one file found: its SHA-256 and the stat taken after the last read. */
export interface FileDigest {
  digest: string;
  /** Bytes actually read. */
  size: number;
  /** The open file's stat after the last read, so a caller can tell whether it changed meanwhile. */
  after: StatKey;
}

/**
 * Read size: large enough that the per-read cost is small next to hashing, small enough that
 * the buffer stays in the core's L2 cache between the read and the hash (1 MiB measured slower).
 */
export const READ_CHUNK_BYTES = 256 << 10;

/** Streams one file through SHA-256 in fixed-size reads into `buffer`. */
export function hashFile(
  path: string,
  buffer: Buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES),
): FileDigest {
  // Never through a link, never waiting on a FIFO: the walk saw a regular file here, and a
  // source swapped underneath must fail rather than read something else.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
      size += n;
    }
    const stat = fstatSync(fd, { bigint: true });
    const after: StatKey = {
      size: Number(stat.size),
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
      ino: stat.ino,
      mode: Number(stat.mode),
    };
    return { digest: hash.digest('hex'), size, after };
  } finally {
    closeSync(fd);
  }
}

/** One message to a hashing worker: a batch of absolute paths. */
export interface HashBatch {
  id: number;
  paths: string[];
}

/** A hashing worker's answer to one batch. */
export type BatchResult =
  | { id: number; ok: true; results: FileDigest[] }
  | { id: number; ok: false; path: string; code?: string; message: string };
