import { Storage, type Bucket } from '@google-cloud/storage';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  checkMetadata,
  ContextExistsError,
  ContextNotFoundError,
  ContextStoreError,
  countingStream,
  joinKey,
  toReadable,
  type BuildContextStore,
  type DeleteOptions,
  type PutOptions,
  type StoredObject,
} from './context-store.js';

export interface GcsContextStoreOptions {
  bucket: string;
  prefix: string;
  /** The project (environment.project); only needed by some credential types. */
  project?: string;
  /** A prepared client (tests); otherwise Application Default Credentials are used. */
  storage?: Storage;
  env?: NodeJS.ProcessEnv;
}

/**
 * A Storage client for the project. With STORAGE_EMULATOR_HOST set, the client library uses the
 * variable verbatim as the JSON API base (without `/storage/v1`) but derives upload URLs from the
 * host: an emulator such as fake-gcs-server needs both right, so both are set from the host here,
 * whether the variable carries the `/storage/v1` suffix or not.
 */
export function gcsClient(
  project: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Storage {
  const emulator = env.STORAGE_EMULATOR_HOST;
  if (!emulator) return new Storage(project ? { projectId: project } : {});
  const host = (/^[a-z]+:\/\//i.test(emulator) ? emulator : `http://${emulator}`)
    .replace(/\/+$/, '')
    .replace(/\/storage\/v1$/, '');
  const storage = new Storage({ projectId: project ?? 'emulator', apiEndpoint: host });
  storage.baseUrl = `${host}/storage/v1`;
  return storage;
}

/** Bodies up to this size go in one request; above it (or of unknown size), a resumable upload. */
const SIMPLE_UPLOAD_LIMIT = 5 * 1024 * 1024;

function code(error: unknown): number | undefined {
  const value = (error as { code?: unknown }).code;
  return typeof value === 'number' ? value : undefined;
}

/**
 * Google Cloud Storage with Application Default Credentials (Workload Identity on GKE).
 * STORAGE_EMULATOR_HOST, read by the client library itself, points it at an emulator.
 */
export class GcsContextStore implements BuildContextStore {
  readonly location: string;
  private readonly bucket: Bucket;
  private readonly prefix: string;

  constructor(options: GcsContextStoreOptions) {
    this.prefix = options.prefix;
    this.location = `gs://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
    const storage = options.storage ?? gcsClient(options.project, options.env);
    this.bucket = storage.bucket(options.bucket);
  }

  uri(key: string): string {
    return `gs://${this.bucket.name}/${joinKey(this.prefix, key)}`;
  }

  private fail(error: unknown, doing: string, key: string): ContextStoreError {
    const object = `gs://${this.bucket.name}/${joinKey(this.prefix, key)}`;
    const message = (error as Error).message ?? String(error);
    if (/Could not load the default credentials|Unable to detect a Project Id/i.test(message)) {
      return new ContextStoreError(
        `no Google credentials were found for ${doing}`,
        this.location,
        'Use Workload Identity on GKE, or set GOOGLE_APPLICATION_CREDENTIALS',
        { cause: error },
      );
    }
    if (code(error) === 403 || code(error) === 401) {
      return new ContextStoreError(
        `Cloud Storage refused ${doing} on ${object}`,
        this.location,
        'Grant the agent the custom role `launch-agent permissions` prints (storage.objects.create, storage.objects.get, storage.objects.delete, storage.buckets.get) on the bucket',
        { cause: error },
      );
    }
    if (code(error) === 404) {
      return new ContextStoreError(
        `bucket ${this.bucket.name} does not exist`,
        this.location,
        'Create it, or fix builder.build-context-store',
        { cause: error },
      );
    }
    return new ContextStoreError(
      `Cloud Storage failed ${doing} on ${object}: ${message}`,
      this.location,
      'Check the bucket name, and STORAGE_EMULATOR_HOST when using an emulator',
      { cause: error },
    );
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const file = this.bucket.file(joinKey(this.prefix, key));
    const size = Buffer.isBuffer(body) ? body.length : options.size;
    const resumable = size === undefined || size > SIMPLE_UPLOAD_LIMIT;
    checkMetadata(options.metadata);
    try {
      await pipeline(
        toReadable(body),
        countingStream(options.onProgress),
        file.createWriteStream({
          resumable,
          contentType: 'application/gzip',
          // Written once: generation 0 means "only if no live object has this name".
          preconditionOpts: { ifGenerationMatch: 0 },
          ...(options.metadata ? { metadata: { metadata: options.metadata } } : {}),
        }),
      );
    } catch (error) {
      if (code(error) === 412) {
        throw new ContextExistsError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'uploading the build context', key);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const [metadata] = await this.bucket.file(joinKey(this.prefix, key)).getMetadata();
      const custom: Record<string, string> = {};
      for (const [name, value] of Object.entries(metadata.metadata ?? {})) {
        if (typeof value === 'string') custom[name] = value;
      }
      return { metadata: custom, version: String(metadata.generation ?? '') };
    } catch (error) {
      if (code(error) === 404) return undefined;
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      const [found] = await this.bucket.file(joinKey(this.prefix, key)).exists();
      return found;
    } catch (error) {
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  /**
   * Reads the metadata first: a read stream reports a missing object only once it is consumed,
   * and the generation pins the stream to the object that was found.
   */
  async open(key: string): Promise<Readable> {
    const file = this.bucket.file(joinKey(this.prefix, key));
    let metadata: { generation?: string | number };
    try {
      [metadata] = await file.getMetadata();
    } catch (error) {
      if (code(error) === 404) {
        throw new ContextNotFoundError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'downloading the build context', key);
    }
    const pinned =
      metadata.generation !== undefined
        ? this.bucket.file(file.name, { generation: Number(metadata.generation) })
        : file;
    // Bytes as stored: the context is gzip already and is unpacked by the reader.
    return pinned.createReadStream({ decompress: false });
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    try {
      // With a version, the delete names that generation: an object written under the name
      // since is another generation, and the delete answers 404 and leaves it.
      const name = joinKey(this.prefix, key);
      const file =
        options.ifVersion !== undefined
          ? this.bucket.file(name, { generation: Number(options.ifVersion) })
          : this.bucket.file(name);
      await file.delete();
      return true;
    } catch (error) {
      if (code(error) === 404) return false;
      throw this.fail(error, 'deleting the build context', key);
    }
  }
}
