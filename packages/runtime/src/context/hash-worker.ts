// A hashing thread (started by `hashFiles` in hash-pool.ts): hashes each batch of paths it is
// sent and answers with their digests, or with the first file it could not read.
import { parentPort } from 'node:worker_threads';
import {
  hashFile,
  READ_CHUNK_BYTES,
  type BatchResult,
  type FileDigest,
  type HashBatch,
} from './file-digest.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker.js runs only as a worker thread');
const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);

port.on('message', (batch: HashBatch) => {
  const results: FileDigest[] = [];
  for (const path of batch.paths) {
    try {
      results.push(hashFile(path, buffer));
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const failed: BatchResult = { id: batch.id, ok: false, path, message: e.message };
      if (e.code !== undefined) failed.code = e.code;
      port.postMessage(failed);
      return;
    }
  }
  const done: BatchResult = { id: batch.id, ok: true, results };
  port.postMessage(done);
});
