import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** The most a config or values file may hold: real ones are a few KiB. */
export const CONFIG_FILE_MAX_BYTES = 4 << 20;

/** A text file that cannot be used: not a regular file, too large, or not UTF-8. */
export class TextFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: 'not-a-file' | 'too-large' | 'invalid-utf8',
    message: string,
    /** For invalid-utf8: the offset of the first byte that is not UTF-8. */
    readonly byteOffset?: number,
  ) {
    super(message);
    this.name = 'TextFileError';
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or -1. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let code = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Reads a config or values file the way untrusted input is read: links are followed (a mounted
 * ConfigMap is a link) but only a regular file is read, never a FIFO or a device, which would
 * block or never end; at most `maxBytes`; and the text must be UTF-8 (no silent U+FFFD).
 * Errors from the file system (ENOENT, EACCES, EISDIR) are thrown as they are.
 */
export async function readTextFile(
  file: string,
  what: string,
  maxBytes = CONFIG_FILE_MAX_BYTES,
): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: ${file}`), { code: 'EISDIR' });
    }
    if (!stat.isFile()) {
      throw new TextFileError(
        file,
        'not-a-file',
        `${file}: the ${what} is not a regular file (a pipe, socket or device cannot be read as one)`,
      );
    }
    const tooLarge = () =>
      new TextFileError(
        file,
        'too-large',
        `${file}: the ${what} is larger than ${maxBytes} bytes (4 MiB); a real one is a few KiB`,
      );
    if (stat.size > maxBytes) throw tooLarge();
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge();
    }
    const bytes = buffer.subarray(0, length);
    const bad = invalidUtf8Offset(bytes);
    if (bad !== -1) {
      throw new TextFileError(
        file,
        'invalid-utf8',
        `${file}: the ${what} is not UTF-8 text: byte ${bad} (0x${bytes[bad]!.toString(16).padStart(2, '0')}) starts no valid UTF-8 sequence`,
        bad,
      );
    }
    return bytes.toString('utf8');
  } finally {
    await handle.close();
  }
}
