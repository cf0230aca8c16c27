import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import {
  ContextNotFoundError,
  ContextStoreError,
  type BuildContextStore,
} from '../storage/context-store.js';

/** A LaunchJob's build context cannot be read; `reason` is the status condition's reason. */
export class BuildContextUnavailableError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BuildContextUnavailableError';
  }
}

export interface LocalBuildContext {
  directory: string;
  cleanup(): Promise<void>;
}

const unsafe = (message: string) => new BuildContextUnavailableError('UnsafeBuildContext', message);

/**
 * The entry's path inside the root, `/`-separated, or an error when it would land outside it.
 * Tar names are POSIX paths whatever the agent's platform.
 */
function entryPath(name: string): string {
  const normalized = posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  if (
    normalized === '' ||
    normalized === '.' ||
    isAbsolute(normalized) ||
    posix.isAbsolute(normalized) ||
    normalized === '..' ||
    normalized.startsWith('../')
  ) {
    throw unsafe(`the context archive has an entry outside its root: ${name}`);
  }
  return normalized;
}

/**
 * Unpacks a context tar.gz stream into a new temporary directory, one file at a time and never
 * whole in memory. The archive comes from whoever could write to the store, so:
 * entries outside the root (absolute paths, `..`) are refused; symbolic links are kept only
 * when their target is relative and stays inside the root (contexts may carry them, and the
 * source hash covers them); nothing is ever written through a link (an entry below a link, or
 * a second entry of the same name, is refused); hard links and devices are refused.
 */
export async function extractContextArchive(
  archive: Readable,
  what: string,
): Promise<LocalBuildContext> {
  const directory = await mkdtemp(join(tmpdir(), 'launch-agent-context-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  const links = new Set<string>();
  const seen = new Set<string>();
  const extract = tar.extract();

  const check = (name: string): string => {
    const path = entryPath(name);
    for (let parent = posix.dirname(path); parent !== '.'; parent = posix.dirname(parent)) {
      if (links.has(parent)) {
        throw unsafe(`the context archive writes ${name} through the symbolic link ${parent}`);
      }
    }
    if (seen.has(path)) {
      throw unsafe(`the context archive has ${name} twice`);
    }
    return path;
  };

  extract.on('entry', (header, stream, next) => {
    void (async () => {
      if (header.type === 'directory' && /^(\.\/)*\.?\/?$/.test(header.name)) {
        stream.resume(); // the root itself, as `tar -C dir .` writes it
        return;
      }
      const path = check(header.name);
      const target = join(directory, ...path.split('/'));
      if (header.type === 'directory') {
        await mkdir(target, { recursive: true });
        stream.resume();
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        seen.add(path);
        await mkdir(dirname(target), { recursive: true });
        // 'wx' never follows or replaces what is already there.
        await pipeline(
          stream,
          createWriteStream(target, { flags: 'wx', mode: (header.mode ?? 0o644) & 0o755 }),
        );
      } else if (header.type === 'symlink') {
        const link = header.linkname ?? '';
        const resolved = posix.normalize(posix.join(posix.dirname(path), link));
        if (
          link === '' ||
          posix.isAbsolute(link) ||
          resolved === '..' ||
          resolved.startsWith('../')
        ) {
          throw unsafe(
            `the context archive has a symbolic link ${header.name} -> ${link} that leaves the context`,
          );
        }
        seen.add(path);
        links.add(path);
        await mkdir(dirname(target), { recursive: true });
        await symlink(link, target);
        stream.resume();
      } else {
        throw unsafe(
          `the context archive has a ${header.type} entry (${header.name}); only files, directories and symbolic links inside the context are allowed`,
        );
      }
    })().then(
      () => next(),
      (error: unknown) => {
        stream.resume();
        next(error as Error);
      },
    );
  });
  try {
    await pipeline(archive, createGunzip(), extract);
  } catch (error) {
    await cleanup();
    if (error instanceof BuildContextUnavailableError) throw error;
    throw new BuildContextUnavailableError(
      'BuildContextUnreadable',
      `cannot read the build context ${what}: ${(error as Error).message}`,
    );
  }
  return { directory, cleanup };
}

/**
 * Makes a stored context readable as a directory for the build engine: it is downloaded from
 * the store (or read from the mounted claim) and unpacked into a temporary directory, which
 * `cleanup` removes. Whichever builder runs then sends the context on as usual.
 */
export async function localBuildContext(
  store: BuildContextStore | undefined,
  key: string,
): Promise<LocalBuildContext> {
  if (!store) {
    throw new BuildContextUnavailableError(
      'NoBuildContextStore',
      'the job has source.context but the agent has no builder.build-context-store',
    );
  }
  let archive: Readable;
  try {
    archive = await store.open(key);
  } catch (error) {
    if (error instanceof ContextNotFoundError) {
      throw new BuildContextUnavailableError(
        'BuildContextNotFound',
        `the build context ${error.uri} does not exist in the store`,
      );
    }
    if (error instanceof ContextStoreError) {
      throw new BuildContextUnavailableError('BuildContextUnreadable', error.message);
    }
    throw error;
  }
  return extractContextArchive(archive, store.uri(key));
}
