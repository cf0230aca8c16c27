import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parallelGzip, type ParallelGzipStats } from '../src/context/parallel-gzip.js';

function text(bytes: number): Buffer {
  const words = ['import', 'tensor', 'model', 'train', 'loss', 'epoch', '\n'];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += `${words[(i * 7919) % words.length]} `;
  return Buffer.from(out.slice(0, bytes));
}

/** Yields the data in uneven pieces, as a file-reading tar stream does. */
async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** Offsets of gzip member headers (1f 8b 08) that start a member: walks the members. */
function memberCount(gz: Buffer): number {
  let count = 0;
  for (let i = 0; i + 2 < gz.length; i++) {
    if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 0x08) count++;
  }
  return count;
}

test('round-trips mixed data as a multi-member gzip that gunzip reads as one stream', async () => {
  const data = Buffer.concat([text(700_000), randomBytes(600_000), text(300_001)]);
  const stats: ParallelGzipStats = { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };
  const gz = await buffer(
    parallelGzip(pieces(data, 65_537), { chunkSize: 256 * 1024, concurrency: 3 }, stats),
  );
  expect(gunzipSync(gz).equals(data)).toBe(true);
  expect(stats.chunks).toBe(Math.ceil(data.length / (256 * 1024)));
  expect(stats.bytesIn).toBe(data.length);
  expect(stats.bytesOut).toBe(gz.length);
  expect(memberCount(gz)).toBeGreaterThanOrEqual(stats.chunks);
});

test('stores incompressible chunks at level 0 and compresses the others', async () => {
  const random = randomBytes(512 * 1024);
  const stats: ParallelGzipStats = { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };
  const gz = await buffer(
    parallelGzip(
      pieces(Buffer.concat([random, text(512 * 1024)]), 10_000),
      {
        chunkSize: 256 * 1024,
      },
      stats,
    ),
  );
  expect(stats).toMatchObject({ chunks: 4, storedChunks: 2 });
  // Stored members cost a few bytes of framing per 64 KiB block; the text half still shrinks.
  expect(gz.length).toBeLessThan(random.length * 1.01 + 512 * 1024 * 0.2);
});

test('an empty input is one empty member, and a source error reaches the reader', async () => {
  const empty = await buffer(parallelGzip(Readable.from([])));
  expect(gunzipSync(empty).length).toBe(0);

  async function* failing(): AsyncGenerator<Buffer> {
    yield text(10);
    throw new Error('file changed');
  }
  await expect(buffer(parallelGzip(failing()))).rejects.toThrow('file changed');
});

test('a stored member is, byte for byte, what zlib writes at level 0', async () => {
  // Around the 65,535-byte limit of a stored block, and empty.
  for (const size of [0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 300_000]) {
    const data = randomBytes(size);
    const stats: ParallelGzipStats = { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };
    const gz = await buffer(parallelGzip(pieces(data, 65_536), { chunkSize: 1 << 20 }, stats));
    expect({ size, equal: gz.equals(gzipSync(data, { level: 0, chunkSize: 1 << 20 })) }).toEqual({
      size,
      equal: true,
    });
    expect(stats).toMatchObject({ chunks: 1, storedChunks: 1, bytesOut: gz.length });
  }
});

test('a chunk that compresses less than its sample predicts still comes out whole', async () => {
  // The sample (the first 32 KiB) is text, the rest random: the member is far larger than the
  // output buffer the sample suggests, so zlib fills several.
  const data = Buffer.concat([text(32 * 1024), randomBytes(2 << 20)]);
  const stats: ParallelGzipStats = { chunks: 0, storedChunks: 0, bytesIn: 0, bytesOut: 0 };
  const gz = await buffer(parallelGzip(pieces(data, 1 << 20), { chunkSize: 4 << 20 }, stats));
  expect(stats).toMatchObject({ chunks: 1, storedChunks: 0 });
  expect(gunzipSync(gz).equals(data)).toBe(true);
});

test('chunk-sized pieces are stored without being copied', async () => {
  const data = randomBytes(3 * 256 * 1024);
  const seen = new Set<ArrayBuffer>();
  const out: Buffer[] = [];
  for await (const piece of parallelGzip(pieces(data, 256 * 1024), { chunkSize: 256 * 1024 })) {
    out.push(piece as Buffer);
    seen.add((piece as Buffer).buffer as ArrayBuffer);
  }
  expect(gunzipSync(Buffer.concat(out)).equals(data)).toBe(true);
  expect(seen.has(data.buffer as ArrayBuffer)).toBe(true);
});
