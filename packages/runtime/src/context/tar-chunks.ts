// Runs in the tar worker thread (tar-worker.ts) as well as on the calling thread: only erasable
// TypeScript and only node: imports, so Node can run it from source.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

/** One tar entry as the producer needs it: plain data, so it can be sent to a worker thread. */
export interface TarEntrySpec {
  /** Path inside the tar. */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  /** Files: the planned size in bytes (0 for the others). */
  size: number;
  /** Symlinks: the target. */
  linkname?: string;
  /** Files read from disk: the absolute path and the planned SHA-256 (hex) the bytes must have. */
  path?: string;
  digest?: string;
  /** Files whose bytes are given instead (the Dockerfile from outside the context). */
  data?: Uint8Array;
}

export interface TarChunksJob {
  entries: TarEntrySpec[];
  /** Every chunk but the last has exactly this many bytes. */
  chunkSize: number;
  /** Largest single read: small enough that the bytes are still in cache for the hash. */
  readSize: number;
  /** Entry mtime, seconds since the epoch. */
  mtime: number;
}

/**
 * Writes a tar of `job.entries` into fixed-size chunks, reading each file straight into the
 * chunk (one `readSync` per file up to `readSize`, so a small file costs an open, one read, an
 * end-of-file probe and a close) and hashing the bytes just read. A file whose size or SHA-256
 * differs from the plan throws an error carrying `contextChanged: <name>` before the chunk
 * holding its last byte is yielded. The headers are the ones tar-stream 3 writes (ustar, a PAX
 * header for names it cannot store), byte for byte.
 */
export function* tarChunks(job: TarChunksJob): Generator<Buffer, void, undefined> {
  const { chunkSize, readSize, mtime } = job;
  let chunk = Buffer.allocUnsafeSlow(chunkSize);
  let pos = 0;
  const probe = Buffer.allocUnsafe(1);

  const changed = (name: string) =>
    Object.assign(new Error(`${name} changed while the tar was written`), {
      contextChanged: name,
    });

  // --- headers, as tar-stream's headers.encode and Pack._encodePax write them ---------------
  const octal = (value: number, digits: number): string => {
    const text = value.toString(8);
    return text.length > digits
      ? `${'7'.repeat(digits)} `
      : `${'0'.repeat(digits - text.length)}${text} `;
  };
  const typeflags = { file: 0, symlink: 2, directory: 5, 'pax-header': 72 };
  /** A ustar header, or null when the name or link does not fit (then a PAX header is used). */
  const ustar = (
    fullName: string,
    linkname: string | undefined,
    mode: number,
    size: number,
    type: keyof typeof typeflags,
  ): Buffer | null => {
    let name = fullName;
    let prefix = '';
    if (Buffer.byteLength(name) !== name.length) return null;
    while (name.length > 100) {
      const i = name.indexOf('/');
      if (i === -1) return null;
      prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
      name = name.slice(i + 1);
    }
    if (prefix.length > 155) return null;
    if (linkname && Buffer.byteLength(linkname) > 100) return null;
    const block = Buffer.alloc(512);
    block.write(name, 0);
    block.write(octal(mode & 0o7777, 6), 100);
    block.write(octal(0, 6), 108);
    block.write(octal(0, 6), 116);
    if (size.toString(8).length > 11) {
      // Base-256, for sizes of 8 GiB and more.
      block[124] = 0x80;
      let rest = size;
      for (let i = 11; i > 0; i--) {
        block[124 + i] = rest & 0xff;
        rest = Math.floor(rest / 0x100);
      }
    } else {
      block.write(octal(size, 11), 124);
    }
    block.write(octal(mtime, 11), 136);
    block[156] = 48 + typeflags[type];
    if (linkname) block.write(linkname, 157);
    block.write('ustar\u000000', 257, 'latin1');
    block.write(octal(0, 6), 329);
    block.write(octal(0, 6), 337);
    if (prefix) block.write(prefix, 345);
    let sum = 8 * 32;
    for (let i = 0; i < 148; i++) sum += block[i]!;
    for (let i = 156; i < 512; i++) sum += block[i]!;
    block.write(octal(sum, 6), 148);
    return block;
  };
  const paxRecord = (text: string): string => {
    const length = Buffer.byteLength(text);
    let digits = Math.floor(Math.log(length) / Math.log(10)) + 1;
    if (length + digits >= Math.pow(10, digits)) digits++;
    return `${length + digits}${text}`;
  };

  // --- writing into chunks -------------------------------------------------------------------
  function* put(bytes: Uint8Array): Generator<Buffer, void, undefined> {
    let offset = 0;
    while (offset < bytes.length) {
      if (pos === chunkSize) {
        yield chunk;
        chunk = Buffer.allocUnsafeSlow(chunkSize);
        pos = 0;
      }
      const n = Math.min(bytes.length - offset, chunkSize - pos);
      chunk.set(n === bytes.length ? bytes : bytes.subarray(offset, offset + n), pos);
      pos += n;
      offset += n;
    }
  }
  function* zeros(count: number): Generator<Buffer, void, undefined> {
    let left = count;
    while (left > 0) {
      if (pos === chunkSize) {
        yield chunk;
        chunk = Buffer.allocUnsafeSlow(chunkSize);
        pos = 0;
      }
      const n = Math.min(left, chunkSize - pos);
      chunk.fill(0, pos, pos + n);
      pos += n;
      left -= n;
    }
  }
  const padding = (size: number) => (512 - (size & 511)) & 511;
  function* header(entry: TarEntrySpec, size: number): Generator<Buffer, void, undefined> {
    const block = ustar(entry.name, entry.linkname, entry.mode, size, entry.type);
    if (block) {
      yield* put(block);
      return;
    }
    let records = '';
    if (entry.name) records += paxRecord(` path=${entry.name}\n`);
    if (entry.linkname) records += paxRecord(` linkpath=${entry.linkname}\n`);
    const pax = Buffer.from(records);
    const link = entry.linkname ? 'PaxHeader' : undefined;
    yield* put(ustar('PaxHeader', link, entry.mode, pax.length, 'pax-header')!);
    yield* put(pax);
    yield* zeros(padding(pax.length));
    yield* put(ustar('PaxHeader', link, entry.mode, size, entry.type)!);
  }

  for (const entry of job.entries) {
    if (entry.type !== 'file') {
      yield* header(entry, 0);
      continue;
    }
    const size = entry.size;
    yield* header(entry, size);
    if (entry.data) {
      yield* put(entry.data);
    } else {
      // As the hash read it: never through a link, never waiting on a FIFO.
      const fd = fs.openSync(
        entry.path!,
        fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
      );
      try {
        const hash = crypto.createHash('sha256');
        let done = 0;
        while (done < size) {
          if (pos === chunkSize) {
            yield chunk;
            chunk = Buffer.allocUnsafeSlow(chunkSize);
            pos = 0;
          }
          const n = fs.readSync(
            fd,
            chunk,
            pos,
            Math.min(size - done, chunkSize - pos, readSize),
            done,
          );
          if (n === 0) throw changed(entry.name);
          hash.update(chunk.subarray(pos, pos + n));
          pos += n;
          done += n;
        }
        if (fs.readSync(fd, probe, 0, 1, size) !== 0) throw changed(entry.name);
        if (hash.digest('hex') !== entry.digest) throw changed(entry.name);
      } finally {
        fs.closeSync(fd);
      }
    }
    yield* zeros(padding(size));
  }
  yield* zeros(1024);
  yield pos === chunkSize ? chunk : chunk.subarray(0, pos);
}
