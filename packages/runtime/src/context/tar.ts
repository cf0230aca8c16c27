import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import type { BuildPlan } from './build-plan.js';
import { DEFAULT_GZIP_MEMBER_BYTES } from './parallel-gzip.js';
import { tarChunks, type TarChunksJob, type TarEntrySpec } from './tar-chunks.js';
import type { TarWorkerMessage } from './tar-worker.js';
import { startWorker } from './worker-url.js';

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

export interface ContextTarOptions {
  /**
   * Bytes per chunk of the stream (all but the last). Default 4 MiB, parallelGzip's member size,
   * so each chunk becomes one gzip member without being copied.
   */
  chunkSize?: number;
  /** Chunks read ahead of the reader: the memory the tar holds is about this many chunks. Default 3. */
  readAhead?: number;
  /**
   * Where files are read and hashed: `true` on a worker thread (synchronous reads there cost no
   * thread-pool round trip and keep the event loop free), `false` on the calling thread.
   * Default: a worker thread unless the files add up to less than 8 MiB.
   */
  thread?: boolean;
}

/** Below this many bytes of files, starting a thread costs more than it saves. */
const THREAD_THRESHOLD_BYTES = 8 << 20;
/** Reads of at most 256 KiB keep the bytes in the core's cache for the hash that follows. */
const READ_BYTES = 256 << 10;

/** Name under which a Dockerfile from outside the context (or excluded from it) is added. */
export function extraDockerfileName(plan: Pick<BuildPlan, 'tag' | 'entries'>): string {
  const taken = new Set(plan.entries.map((e) => e.path));
  let name = `.launch-agent-dockerfile-${plan.tag.slice(0, 12)}`;
  while (taken.has(name)) name += '_';
  return name;
}

/** An error thrown by `tarChunks`, as the reader of the stream sees it. */
function readerError(error: unknown): Error {
  const e = error as Partial<NodeJS.ErrnoException> & { contextChanged?: string };
  if (typeof e?.contextChanged === 'string') return new ContextChangedError(e.contextChanged);
  if (error instanceof Error) return error;
  // From the worker: a file-system error's fields, copied into an Error of this thread.
  const copy = new Error(String(e?.message ?? error)) as NodeJS.ErrnoException;
  for (const key of ['code', 'errno', 'syscall', 'path'] as const) {
    if (e?.[key] !== undefined) (copy as unknown as Record<string, unknown>)[key] = e[key];
  }
  return copy;
}

/**
 * The tar produced on a worker thread, at most `readAhead` chunks ahead of the reader. Chunks
 * are pushed one per read, so a reader never gets several joined (which would copy them).
 */
function threadStream(job: TarChunksJob, readAhead: number): Readable {
  let worker: Worker | undefined;
  /** Chunks granted to the worker and not received yet. */
  let requested = 0;
  /** Chunks received and not pushed yet. */
  const received: Buffer[] = [];
  let wanted = false;
  let ended = false;
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    if (worker) {
      worker.postMessage('stop');
      worker.unref();
    }
  };
  const grant = () => {
    const more = readAhead - requested - received.length;
    if (ended || finished || more <= 0) return;
    requested += more;
    // Only a pending request keeps the process alive, as a paused file stream would not.
    worker!.ref();
    worker!.postMessage(more);
  };
  const deliver = () => {
    if (!wanted) return;
    if (received.length > 0) {
      wanted = false;
      stream.push(received.shift());
    } else if (ended) {
      wanted = false;
      finished = true;
      stream.push(null);
    }
  };
  const stream: Readable = new Readable({
    read() {
      if (finished) return;
      if (!worker) start();
      wanted = true;
      // A chunk pushed while the reader's read() still holds one would be joined to it.
      if (stream.readableLength > 0) process.nextTick(deliver);
      else deliver();
      grant();
    },
    destroy(error, callback) {
      received.length = 0;
      stop();
      callback(error);
    },
  });
  const start = () => {
    const w = startWorker('tar-worker', { workerData: job });
    worker = w;
    w.on('message', (message: TarWorkerMessage) => {
      if (finished) return;
      if ('chunk' in message) {
        requested -= 1;
        if (requested === 0) w.unref();
        received.push(Buffer.from(message.chunk, 0, message.length));
        deliver();
      } else if ('end' in message) {
        ended = true;
        w.unref();
        deliver();
      } else {
        finished = true;
        w.unref();
        stream.destroy(readerError(message.error));
      }
    });
    w.on('error', (error) => {
      if (finished) return;
      finished = true;
      stream.destroy(error);
    });
    w.on('exit', (code) => {
      if (finished || ended) return;
      finished = true;
      stream.destroy(new Error(`the build context tar thread stopped early (exit code ${code})`));
    });
  };
  return stream;
}

/** The tar produced on the calling thread, one chunk per read. */
function inlineStream(job: TarChunksJob): Readable {
  const chunks = tarChunks(job);
  const stream: Readable = new Readable({
    read() {
      // A chunk pushed while the reader's read() still holds one would be joined to it.
      if (stream.readableLength > 0) setImmediate(produce);
      else produce();
    },
    destroy(error, callback) {
      try {
        chunks.return();
      } catch {
        // The generator already failed; its file is closed.
      }
      callback(error);
    },
  });
  const produce = () => {
    if (stream.destroyed) return;
    try {
      const next = chunks.next();
      stream.push(next.done ? null : next.value);
    } catch (error) {
      stream.destroy(readerError(error));
    }
  };
  return stream;
}

/**
 * Streams the planned context as a tar, honouring `.dockerignore` (only planned entries are
 * sent) and checking each file's bytes against the digest the source hash was computed from.
 * Files are read straight into fixed-size chunks a few chunks ahead of the reader (see
 * `ContextTarOptions`); the stream never holds more than that, and it errors with
 * `ContextChangedError` before the chunk holding the end of a file that changed is sent.
 */
export function createContextTar(plan: BuildPlan, options: ContextTarOptions = {}): ContextTar {
  const dockerfileName = plan.dockerfileInContext ?? extraDockerfileName(plan);
  const entries: TarEntrySpec[] = [];
  let bytes = 0;
  for (const entry of plan.entries) {
    if (entry.type === 'directory') {
      entries.push({ name: entry.path, type: 'directory', mode: DIRECTORY_MODE, size: 0 });
    } else if (entry.type === 'symlink') {
      entries.push({
        name: entry.path,
        type: 'symlink',
        mode: 0o777,
        size: 0,
        linkname: entry.target,
      });
    } else {
      bytes += entry.stat.size;
      const digest = plan.fileDigests.get(entry.path);
      entries.push({
        name: entry.path,
        type: 'file',
        mode: entry.executable ? EXECUTABLE_MODE : FILE_MODE,
        size: entry.stat.size,
        path: entry.absolutePath,
        ...(digest !== undefined ? { digest } : {}),
      });
    }
  }
  if (plan.dockerfileInContext === undefined) {
    entries.push({
      name: dockerfileName,
      type: 'file',
      mode: FILE_MODE,
      size: plan.dockerfile.length,
      data: plan.dockerfile,
    });
  }
  const job: TarChunksJob = {
    entries,
    chunkSize: Math.max(1, options.chunkSize ?? DEFAULT_GZIP_MEMBER_BYTES),
    readSize: READ_BYTES,
    mtime: Math.floor(CONTEXT_MTIME.getTime() / 1000),
  };
  const thread = options.thread ?? bytes >= THREAD_THRESHOLD_BYTES;
  return {
    stream: thread ? threadStream(job, Math.max(1, options.readAhead ?? 3)) : inlineStream(job),
    dockerfileName,
  };
}
