import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { BuildPlan } from './build-plan.js';

/**
 * Tar entries carry only what the source hash covers: a fixed mtime, owner root, and mode 0644,
 * or 0755 for executables and directories. Two contexts with the same source hash therefore
 * produce the same tar, byte for byte.
 */
export const CONTEXT_MTIME = new Date(0);
const FILE_MODE = 0o644;
const EXECUTABLE_MODE = 0o755;
const DIRECTORY_MODE = 0o755;

/** A file's bytes changed between hashing and sending: the tag would not describe the image. */
export class ContextChangedError extends Error {
  constructor(readonly path: string) {
    super(
      `${path} changed while the build context was being sent; run the build again once the files are stable`,
    );
    this.name = 'ContextChangedError';
  }
}

export interface ContextTar {
  /** The tar stream; it errors if a file no longer matches the plan. */
  stream: Readable;
  /** The Dockerfile's name inside the tar, for the builder's `dockerfile` parameter. */
  dockerfileName: string;
}

/** Name under which a Dockerfile from outside the context (or excluded from it) is added. */
export function extraDockerfileName(plan: Pick<BuildPlan, 'tag' | 'entries'>): string {
  const taken = new Set(plan.entries.map((e) => e.path));
  let name = `.launch-agent-dockerfile-${plan.tag.slice(0, 12)}`;
  while (taken.has(name)) name += '_';
  return name;
}

interface EventSource {
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Resolves on `event`; rejects if the stream errors or closes first (the reader went away). */
function settled(stream: EventSource, event: 'drain' | 'finish'): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off(event, onEvent);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onEvent = () => {
      cleanup();
      resolve();
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the build context stream was closed before it was fully sent'));
    };
    stream.once(event, onEvent);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/**
 * Streams the planned context as a tar, honouring `.dockerignore` (only planned entries are
 * sent) and checking each file's bytes against the digest the source hash was computed from.
 */
export function createContextTar(plan: BuildPlan): ContextTar {
  const pack = tar.pack();
  const dockerfileName = plan.dockerfileInContext ?? extraDockerfileName(plan);
  const common = { mtime: CONTEXT_MTIME, uid: 0, gid: 0, uname: '', gname: '' };

  const writeEntries = async () => {
    for (const entry of plan.entries) {
      if (entry.type === 'directory') {
        pack.entry({ ...common, name: entry.path, type: 'directory', mode: DIRECTORY_MODE });
        continue;
      }
      if (entry.type === 'symlink') {
        pack.entry({
          ...common,
          name: entry.path,
          type: 'symlink',
          linkname: entry.target,
          mode: 0o777,
        });
        continue;
      }
      const sink = pack.entry({
        ...common,
        name: entry.path,
        type: 'file',
        size: entry.stat.size,
        mode: entry.executable ? EXECUTABLE_MODE : FILE_MODE,
      });
      // Destroying the pack destroys the open entry too; its error travels through the pack.
      sink.on('error', () => {});
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(entry.absolutePath, {
        highWaterMark: 1 << 20,
      }) as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > entry.stat.size) throw new ContextChangedError(entry.path);
        hash.update(chunk);
        if (!sink.write(chunk)) await settled(sink, 'drain');
      }
      if (size !== entry.stat.size || hash.digest('hex') !== plan.fileDigests.get(entry.path)) {
        throw new ContextChangedError(entry.path);
      }
      const finished = settled(sink, 'finish');
      (sink as unknown as { end(): void }).end();
      await finished;
    }
    if (plan.dockerfileInContext === undefined) {
      pack.entry(
        { ...common, name: dockerfileName, type: 'file', mode: FILE_MODE },
        plan.dockerfile,
      );
    }
    pack.finalize();
  };
  // The error reaches the reader through the returned stream; this listener only keeps the
  // emitter from treating it as unhandled.
  pack.on('error', () => {});
  writeEntries().catch((error: Error) => pack.destroy(error));
  return {
    stream: Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false }),
    dockerfileName,
  };
}
