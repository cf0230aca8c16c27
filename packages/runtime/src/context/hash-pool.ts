// Hashes the files of a scan: on the calling thread when there is little to read, else spread
// over hashing threads (hash-worker.ts), largest files first, in batches.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import {
  hashFile,
  READ_CHUNK_BYTES,
  type BatchResult,
  type FileDigest,
  type HashBatch,
} from './file-digest.js';
import { startWorker } from './worker-url.js';

export { hashFile, READ_CHUNK_BYTES, type FileDigest } from './file-digest.js';

/** A file to hash with its expected size, used to balance work between threads. */
export interface HashJob {
  path: string;
  size: number;
}

export class FileHashError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(`cannot read ${path}: ${message}`);
    this.name = 'FileHashError';
  }
}

export interface HashFilesOptions {
  /** Number of worker threads; defaults to the number of available cores. */
  threads?: number;
  /** Below this many bytes in total, hashing stays on the calling thread (worker start-up costs more). */
  parallelThresholdBytes?: number;
}

/** Work handed to a worker at once: one large file, or small files up to this many bytes. */
const BATCH_BYTES = 8 << 20;
const BATCH_FILES = 256;
const DEFAULT_PARALLEL_THRESHOLD = 32 << 20;

function batchesOf(jobs: HashJob[]): number[][] {
  // Largest first, so the last batch to finish is a small one and both threads end together.
  const order = jobs.map((_, i) => i).sort((a, b) => jobs[b]!.size - jobs[a]!.size);
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (const index of order) {
    const size = jobs[index]!.size;
    if (current.length > 0 && (bytes + size > BATCH_BYTES || current.length >= BATCH_FILES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Hashes files with SHA-256, on worker threads (one per core) when there is enough data to be
 * worth it. Results come back in the order of `jobs`.
 */
export async function hashFiles(
  jobs: HashJob[],
  options: HashFilesOptions = {},
): Promise<FileDigest[]> {
  const total = jobs.reduce((sum, job) => sum + job.size, 0);
  const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), jobs.length));
  if (threads === 1 || total < (options.parallelThresholdBytes ?? DEFAULT_PARALLEL_THRESHOLD)) {
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    return jobs.map((job) => {
      try {
        return hashFile(job.path, buffer);
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        throw new FileHashError(job.path, e.code, e.message);
      }
    });
  }

  const batches = batchesOf(jobs);
  const results: FileDigest[] = new Array(jobs.length);
  const workers = Array.from({ length: threads }, () => startWorker('hash-worker'));
  let next = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let pending = batches.length;
      let failed = false;
      const fail = (error: Error) => {
        if (failed) return;
        failed = true;
        reject(error);
      };
      const feed = (worker: Worker) => {
        if (next >= batches.length) return;
        const id = next++;
        const message: HashBatch = { id, paths: batches[id]!.map((i) => jobs[i]!.path) };
        worker.postMessage(message);
      };
      for (const worker of workers) {
        worker.on('message', (result: BatchResult) => {
          if (failed) return;
          if (!result.ok) {
            fail(new FileHashError(result.path, result.code, result.message));
            return;
          }
          const indices = batches[result.id]!;
          result.results.forEach((digest, k) => {
            results[indices[k]!] = digest;
          });
          pending -= 1;
          if (pending === 0) resolve();
          else feed(worker);
        });
        worker.on('error', fail);
        worker.on('exit', (code) => {
          if (pending > 0 && !failed)
            fail(new Error(`a hashing thread stopped early (exit code ${code})`));
        });
        feed(worker);
      }
    });
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return results;
}
