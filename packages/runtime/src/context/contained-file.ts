import { constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';

/** The most a Dockerfile or a `.dockerignore` may hold: both are small text files. */
export const CONTEXT_TEXT_FILE_MAX_BYTES = 1 << 20;

/**
 * A file of the build context cannot be used as it is: it resolves outside the context, is not
 * a regular file, or is too large. `path` is the path as it was asked for.
 */
export class ContextFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: 'outside-context' | 'not-a-file' | 'too-large' | 'missing',
    message: string,
  ) {
    super(message);
    this.name = 'ContextFileError';
  }
}

/** True when `path` (absolute, resolved) is `root` or below it. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Where `path` really is, when it stays inside `root` (itself resolved): every link along the
 * path is resolved and the result must still be below the root. `undefined` when nothing is
 * there.
 */
export async function resolveInside(root: string, path: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      // A dangling link still names something: outside the root it is refused, not "missing".
      const stat = await lstat(path).catch(() => undefined);
      if (stat?.isSymbolicLink()) {
        throw new ContextFileError(
          path,
          'outside-context',
          `${path} is a symbolic link that does not resolve to a file inside the build context ${root}`,
        );
      }
      return undefined;
    }
    throw error;
  }
  if (!isInside(root, real)) {
    throw new ContextFileError(
      path,
      'outside-context',
      `${path} resolves outside the build context ${root}`,
    );
  }
  return real;
}

/**
 * Reads a small text file of a build context (a Dockerfile, a `.dockerignore`) without trusting
 * it: the path is resolved and must stay inside `root`; the file is opened without following a
 * link and without blocking (a FIFO is refused, not waited on); only a regular file of at most
 * `maxBytes` is read, asynchronously, so a `/dev/zero` or a huge file never reaches memory.
 * `undefined` when there is no such file.
 */
export async function readContextFile(
  root: string,
  path: string,
  maxBytes = CONTEXT_TEXT_FILE_MAX_BYTES,
): Promise<{ realPath: string; bytes: Buffer } | undefined> {
  const realPath = await resolveInside(root, path);
  if (realPath === undefined) return undefined;
  let handle;
  try {
    handle = await open(
      realPath,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new ContextFileError(path, 'outside-context', `${path} became a symbolic link`);
    }
    if (code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new ContextFileError(
        path,
        'not-a-file',
        `${path} is not a regular file (a directory, device, pipe or socket cannot be used)`,
      );
    }
    if (stat.size > maxBytes) {
      throw new ContextFileError(
        path,
        'too-large',
        `${path} has ${stat.size} bytes; at most ${maxBytes} are read`,
      );
    }
    // Room for one byte past the cap, so a file that grew after the stat is still caught.
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) {
        throw new ContextFileError(path, 'too-large', `${path} has more than ${maxBytes} bytes`);
      }
    }
    return { realPath, bytes: buffer.subarray(0, length) };
  } finally {
    await handle.close();
  }
}
