// The tar thread (started by `createContextTar` in tar.ts): writes the tar of `workerData` (a
// TarChunksJob) into chunks and posts each one, transferred, once the parent has granted it.
// The parent grants chunks with a number per message; 'stop' closes the open file and ends it.
import { parentPort, workerData } from 'node:worker_threads';
import { tarChunks, type TarChunksJob } from './tar-chunks.js';

/** What the tar thread posts: a chunk (its buffer transferred), the end, or what failed. */
export type TarWorkerMessage =
  { chunk: ArrayBuffer; length: number } | { end: true } | { error: Record<string, unknown> };

const port = parentPort;
if (port === null) throw new Error('tar-worker.js runs only as a worker thread');
const chunks = tarChunks(workerData as TarChunksJob);
let credit = 0;
let finished = false;
const finish = () => {
  finished = true;
  port.close();
};
const post = (message: TarWorkerMessage, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

port.on('message', (message: number | 'stop') => {
  if (finished) return;
  if (message === 'stop') {
    try {
      chunks.return();
    } finally {
      finish();
    }
    return;
  }
  credit += message;
  while (credit > 0) {
    let next;
    try {
      next = chunks.next();
    } catch (error) {
      const e = (error ?? {}) as Partial<NodeJS.ErrnoException> & { contextChanged?: string };
      post({
        error: {
          message: String(e.message ?? error),
          contextChanged: e.contextChanged,
          code: e.code,
          errno: e.errno,
          syscall: e.syscall,
          path: e.path,
        },
      });
      finish();
      return;
    }
    if (next.done) {
      post({ end: true });
      finish();
      return;
    }
    credit -= 1;
    const chunk = next.value;
    post({ chunk: chunk.buffer as ArrayBuffer, length: chunk.length }, [
      chunk.buffer as ArrayBuffer,
    ]);
  }
});
