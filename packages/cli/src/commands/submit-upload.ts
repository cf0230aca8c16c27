import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BuildContextStore, ProgressReporter } from '@launch-agent/runtime';

/** What goes into the LaunchJob's spec.source.context besides the key. */
export interface UploadedContext {
  /** `sha256:<hex>` of the archive bytes as stored. */
  digest: string;
  /** Only when this submission wrote the object: the token whose hash its metadata holds. */
  uploadToken?: string;
}

export interface UploadOnceOptions {
  store: BuildContextStore;
  key: string;
  /** Makes the archive stream; called only when the key is free. */
  archive: () => Readable;
  /** The namespace the LaunchJob is created in, recorded with the upload. */
  namespace: string;
  progress: ProgressReporter;
  // From the runtime, which the CLI loads on demand.
  newUploadToken: () => string;
  contextUploadMetadata: (upload: {
    namespace: string;
    uploadToken: string;
  }) => Record<string, string>;
}

function sha256Meter(): { meter: Transform; digest: () => string } {
  const hash = createHash('sha256');
  return {
    meter: new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    }),
    digest: () => `sha256:${hash.digest('hex')}`,
  };
}

/** The sha256 of the object stored under `key`, read once from the store. */
async function storedDigest(store: BuildContextStore, key: string): Promise<string> {
  const { meter, digest } = sha256Meter();
  await pipeline(await store.open(key), meter, new PassThrough().resume());
  return digest();
}

/**
 * Uploads the context unless its key is taken, hashing the bytes as they go. A stored context is
 * written once and never trusted for its name: when the key exists (or another upload wins the
 * race to it), the stored archive is read and its digest returned instead, so the job names
 * exactly those bytes and the agent's source-hash check decides whether they are this source.
 * Only an upload this call made gets an upload token (the job may then delete the object).
 */
export async function uploadOnce(options: UploadOnceOptions): Promise<UploadedContext> {
  const { store, key, progress } = options;
  if (!(await store.stat(key))) {
    const uploadToken = options.newUploadToken();
    const { meter, digest } = sha256Meter();
    progress.phase('upload', store.uri(key));
    // A tar or gzip error (a file changed after hashing) destroys the meter, and so fails the
    // upload instead of storing a truncated context.
    const archived = pipeline(options.archive(), meter);
    try {
      await Promise.all([
        store.put(key, meter, {
          metadata: options.contextUploadMetadata({ namespace: options.namespace, uploadToken }),
          onProgress: (sent) => progress.transfer('context', 'uploading', sent),
        }),
        archived,
      ]);
      progress.transfer('context', 'uploaded');
      return { digest: digest(), uploadToken };
    } catch (error) {
      archived.catch(() => undefined);
      meter.destroy();
      // Someone else's upload of the same key finished first: use theirs, as below.
      if ((error as Error).name !== 'ContextExistsError') throw error;
    }
  }
  return { digest: await storedDigest(store, key) };
}
