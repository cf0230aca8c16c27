import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { BuildContextStore } from '../storage/context-store.js';
import { PvcContextStore } from '../storage/pvc-context-store.js';

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

/**
 * Unpacks a context tar.gz into a new temporary directory. Entries that would land outside it
 * (absolute paths, `..`), links and devices are refused: the archive comes from whoever could
 * write to the store.
 */
export async function extractContextArchive(archive: string): Promise<LocalBuildContext> {
  const directory = await mkdtemp(join(tmpdir(), 'launch-agent-context-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    void (async () => {
      const name = normalize(header.name).replace(/^(\.\/)+/, '');
      if (name.startsWith('/') || name === '..' || name.startsWith(`..${sep}`)) {
        throw new BuildContextUnavailableError(
          'UnsafeBuildContext',
          `the context archive has an entry outside its root: ${header.name}`,
        );
      }
      const target = join(directory, name);
      if (header.type === 'directory') {
        await mkdir(target, { recursive: true });
        stream.resume();
      } else if (header.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, Buffer.concat(chunks));
        await chmod(target, (header.mode ?? 0o644) & 0o777);
      } else {
        throw new BuildContextUnavailableError(
          'UnsafeBuildContext',
          `the context archive has a ${header.type} entry (${header.name}); only files and directories are allowed`,
        );
      }
    })().then(
      () => next(),
      (error: unknown) => next(error as Error),
    );
  });
  try {
    await pipeline(createReadStream(archive), createGunzip(), extract);
  } catch (error) {
    await cleanup();
    if (error instanceof BuildContextUnavailableError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildContextUnavailableError(
      code === 'ENOENT' ? 'BuildContextNotFound' : 'BuildContextUnreadable',
      code === 'ENOENT'
        ? `the build context ${archive} does not exist in the store`
        : `cannot read the build context ${archive}: ${(error as Error).message}`,
    );
  }
  return { directory, cleanup };
}

/**
 * Makes a store's context readable as a directory for an in-process builder (docker). A PVC
 * store is a mounted file system; object stores (s3, gs, Azure) are read by kaniko itself, so
 * the agent does not download from them.
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
  if (!(store instanceof PvcContextStore)) {
    throw new BuildContextUnavailableError(
      'BuildContextStoreUnsupported',
      `the docker builder reads build contexts from a PVC store; ${store.location} is read by the kaniko builder only`,
    );
  }
  return extractContextArchive(store.path(key));
}
