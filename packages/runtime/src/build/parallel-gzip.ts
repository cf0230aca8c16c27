import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const deflateRaw = promisify(zlib.deflateRaw);

export interface ParallelGzipOptions {
  /** Bytes per gzip member. Default 4 MiB: fewer thread-pool round trips per byte. */
  chunkSize?: number;
  /** Level for chunks that compress. Default 1: the fast level (see docs/benchmarks.md). */
  level?: number;
  /**
   * Chunks being compressed at once. Default: the cores, at least 2 and at most one less than
   * libuv's thread pool, so file reads (which share the pool) are never queued behind gzip.
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

/**
 * Compresses a byte stream as a multi-member gzip (RFC 1952 allows members to be concatenated;
 * gunzip, Go's gzip.Reader used by kaniko, and Node's zlib read them as one stream). Each chunk
 * becomes one member, compressed on libuv's thread pool so several cores work at once, and
 * written out in order. Each chunk's level is chosen from a small sample: data that does not
 * compress (weights, archives, images) is stored at level 0 instead of wasting CPU on it.
 */
export function parallelGzip(
  source: AsyncIterable<Buffer | Uint8Array>,
  options: ParallelGzipOptions = {},
  stats?: ParallelGzipStats,
): Readable {
  const chunkSize = options.chunkSize ?? 4 << 20;
  const level = options.level ?? 1;
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const concurrency = Math.max(
    1,
    options.concurrency ?? Math.max(2, Math.min(availableParallelism(), pool - 1)),
  );
  const storeAboveRatio = options.storeAboveRatio ?? 0.9;
  const sampleSize = Math.min(options.sampleSize ?? 32 * 1024, chunkSize);
  const counters = stats ?? { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };

  const compress = async (chunk: Buffer): Promise<Buffer> => {
    const sample = chunk.subarray(0, sampleSize);
    // An output buffer that holds the whole result: with zlib's default 16 KiB each piece of
    // output is another round trip through the thread pool, which cost more than compressing.
    const probe = await deflateRaw(sample, { level: 1, chunkSize: outputRoom(sample.length) });
    const stored = probe.length >= sample.length * storeAboveRatio;
    const member = await gzip(chunk, {
      level: stored ? 0 : level,
      chunkSize: outputRoom(chunk.length),
    });
    counters.chunks += 1;
    if (stored) counters.storedChunks += 1;
    counters.bytesIn += chunk.length;
    counters.bytesOut += member.length;
    return member;
  };

  async function* members(): AsyncGenerator<Buffer> {
    const inFlight: Array<Promise<Buffer>> = [];
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
        const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
        parts.length = 0;
        launch(all.subarray(0, chunkSize));
        const rest = all.subarray(chunkSize);
        buffered = rest.length;
        if (rest.length > 0) parts.push(rest);
        while (inFlight.length >= concurrency) yield await inFlight.shift()!;
      }
    }
    if (buffered > 0 || counters.chunks + inFlight.length === 0) {
      launch(Buffer.concat(parts, buffered));
    }
    while (inFlight.length > 0) yield await inFlight.shift()!;
  }

  return Readable.from(members(), { objectMode: false });
}
