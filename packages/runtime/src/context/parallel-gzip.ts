import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const deflateRaw = promisify(zlib.deflateRaw);

/** Bytes per gzip member by default; the context tar's chunks have this size too. */
export const DEFAULT_GZIP_MEMBER_BYTES = 4 << 20;

export interface ParallelGzipOptions {
  /** Bytes per gzip member. Default 4 MiB: fewer thread-pool round trips per byte. */
  chunkSize?: number;
  /** Level for chunks that compress. Default 1: the fast level (see docs/benchmarks.md). */
  level?: number;
  /**
   * Chunks being compressed at once. Default: the cores, at least 2 and at most one less than
   * libuv's thread pool, so other file and DNS work (which shares the pool: a store writing to a
   * mounted claim, for one) is never queued behind gzip. The context tar reads its files on a
   * thread of its own, not on the pool.
   */
  concurrency?: number;
  /** A sample of each chunk compressed at level 1 must shrink below this ratio, else the chunk is stored (level 0). Default 0.9. */
  storeAboveRatio?: number;
  /** Sample size for the choice. Default 32 KiB. */
  sampleSize?: number;
}

export interface ParallelGzipStats {
  chunks: number;
  storedChunks: number;
  bytesIn: number;
  bytesOut: number;
}

/** Room for deflate's worst case (stored blocks: 5 bytes per 16 KiB) plus the gzip framing. */
function outputRoom(length: number): number {
  return Math.max(16 * 1024, length + Math.ceil(length / 16_384) * 5 + 1024);
}

/** Largest stored deflate block (its length field has 16 bits). */
const STORED_BLOCK_BYTES = 65_535;
/** What zlib writes for a level-0 gzip member: no name, no mtime, "fastest" flag, Unix. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0x04, 0x03]);

/**
 * A gzip member holding `chunk` in stored deflate blocks, as pieces that share the chunk's
 * memory: the same bytes zlib's level 0 writes, without copying the data through zlib (only
 * its CRC-32 is computed).
 */
function storedMember(chunk: Buffer): Buffer[] {
  const blocks = Math.max(1, Math.ceil(chunk.length / STORED_BLOCK_BYTES));
  // One allocation for the gzip header, every block header and the trailer.
  const framing = Buffer.allocUnsafe(GZIP_HEADER.length + blocks * 5 + 8);
  GZIP_HEADER.copy(framing, 0);
  const pieces: Buffer[] = [];
  let at = GZIP_HEADER.length;
  let start = 0;
  for (let block = 0; block < blocks; block++) {
    const length = Math.min(STORED_BLOCK_BYTES, chunk.length - start);
    framing[at] = block === blocks - 1 ? 1 : 0;
    framing.writeUInt16LE(length, at + 1);
    framing.writeUInt16LE(~length & 0xffff, at + 3);
    // The block header joins the previous piece of framing when there is no data between.
    pieces.push(framing.subarray(block === 0 ? 0 : at, at + 5));
    if (length > 0) pieces.push(chunk.subarray(start, start + length));
    at += 5;
    start += length;
  }
  framing.writeUInt32LE(zlib.crc32(chunk) >>> 0, at);
  framing.writeUInt32LE(chunk.length >>> 0, at + 4);
  pieces.push(framing.subarray(at, at + 8));
  return pieces;
}

/**
 * Compresses a byte stream as a multi-member gzip (RFC 1952 allows members to be concatenated;
 * gunzip, Go's gzip.Reader used by kaniko, and Node's zlib read them as one stream). Each chunk
 * becomes one member, compressed on libuv's thread pool so several cores work at once, and
 * written out in order. Each chunk's level is chosen from a small sample: data that does not
 * compress (weights, archives, images) is stored (level 0) instead of wasting CPU on it; stored
 * members are framed here, without a copy, so they cost only a CRC-32.
 */
export function parallelGzip(
  source: AsyncIterable<Buffer | Uint8Array>,
  options: ParallelGzipOptions = {},
  stats?: ParallelGzipStats,
): Readable {
  const chunkSize = options.chunkSize ?? DEFAULT_GZIP_MEMBER_BYTES;
  const level = options.level ?? 1;
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const concurrency = Math.max(
    1,
    options.concurrency ?? Math.max(2, Math.min(availableParallelism(), pool - 1)),
  );
  const storeAboveRatio = options.storeAboveRatio ?? 0.9;
  const sampleSize = Math.min(options.sampleSize ?? 32 * 1024, chunkSize);
  const counters = stats ?? { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };

  const count = (chunk: Buffer, stored: boolean, bytesOut: number) => {
    counters.chunks += 1;
    if (stored) counters.storedChunks += 1;
    counters.bytesIn += chunk.length;
    counters.bytesOut += bytesOut;
  };
  const compress = async (chunk: Buffer): Promise<Buffer[]> => {
    const sample = chunk.subarray(0, sampleSize);
    const probe = await deflateRaw(sample, { level: 1, chunkSize: outputRoom(sample.length) });
    if (level === 0 || probe.length >= sample.length * storeAboveRatio) {
      const member = storedMember(chunk);
      let bytes = 0;
      for (const piece of member) bytes += piece.length;
      count(chunk, true, bytes);
      return member;
    }
    // An output buffer that holds the whole member as the sample predicts it, with room to
    // spare: with zlib's default 16 KiB each piece of output is another round trip through the
    // thread pool, which cost more than compressing, and a buffer for the worst case (the
    // chunk's size again, for a member a tenth of it) is memory outside the JavaScript heap,
    // whose growth is what makes V8 collect garbage.
    const room = Math.min(
      outputRoom(chunk.length),
      Math.max(256 * 1024, Math.ceil((chunk.length * probe.length * 1.5) / sample.length)),
    );
    const member = await gzip(chunk, { level, chunkSize: room });
    count(chunk, false, member.length);
    return [member];
  };

  async function* members(): AsyncGenerator<Buffer> {
    const inFlight: Array<Promise<Buffer[]>> = [];
    const parts: Buffer[] = [];
    let buffered = 0;
    const launch = (chunk: Buffer) => {
      const job = compress(chunk);
      // Awaited in order below; this only keeps an early rejection from being "unhandled".
      job.catch(() => {});
      inFlight.push(job);
    };
    for await (const piece of source) {
      const data = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
      parts.push(data);
      buffered += data.length;
      while (buffered >= chunkSize) {
        // A piece of exactly one chunk (the context tar's) is compressed without a copy.
        const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
        parts.length = 0;
        launch(all.length === chunkSize ? all : all.subarray(0, chunkSize));
        const rest = all.subarray(chunkSize);
        buffered = rest.length;
        if (rest.length > 0) parts.push(rest);
        while (inFlight.length >= concurrency) yield* await inFlight.shift()!;
      }
    }
    if (buffered > 0 || counters.chunks + inFlight.length === 0) {
      launch(parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered));
    }
    while (inFlight.length > 0) yield* await inFlight.shift()!;
  }

  return Readable.from(members(), { objectMode: false });
}
