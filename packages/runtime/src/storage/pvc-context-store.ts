import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ContextNotFoundError,
  ContextStoreError,
  countingStream,
  joinKey,
  toReadable,
  type BuildContextStore,
  type PutOptions,
} from './context-store.js';

/** Where the kaniko builder mounts the claim in build pods; kaniko reads `tar:///context/...`. */
export const KANIKO_PVC_MOUNT_PATH = '/context';

export interface PvcContextStoreOptions {
  claim: string;
  prefix: string;
  /** Where the claim is mounted in the agent's pod (builder.context-pvc-mount-path). */
  mountPath: string;
  /** Where it is mounted in build pods. */
  buildMountPath?: string;
}

/**
 * A PersistentVolumeClaim mounted in the agent (CoreWeave and clusters without a cloud store).
 * Files are written under a temporary name and renamed, so a build pod never sees half a context.
 */
export class PvcContextStore implements BuildContextStore {
  readonly location: string;
  private readonly root: string;
  private readonly buildRoot: string;

  constructor(private readonly options: PvcContextStoreOptions) {
    this.location = `pvc://${options.claim}${options.prefix ? `/${options.prefix}` : ''} (mounted at ${options.mountPath})`;
    this.root = options.prefix ? join(options.mountPath, options.prefix) : options.mountPath;
    this.buildRoot = (options.buildMountPath ?? KANIKO_PVC_MOUNT_PATH).replace(/\/+$/, '');
  }

  /** The file path in the agent's pod. */
  path(key: string): string {
    return join(this.options.mountPath, joinKey(this.options.prefix, key));
  }

  uri(key: string): string {
    return `tar://${this.buildRoot}/${joinKey(this.options.prefix, key)}`;
  }

  private fail(error: unknown, doing: string, key: string): ContextStoreError {
    const code = (error as NodeJS.ErrnoException).code;
    const file = this.path(key);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new ContextStoreError(
        `cannot write ${file} while ${doing} (${code})`,
        this.location,
        `Mount the claim ${this.options.claim} read-write in the agent pod with a group the agent's user belongs to (fsGroup)`,
        { cause: error },
      );
    }
    if (code === 'ENOENT' && doing !== 'checking for the build context') {
      return new ContextStoreError(
        `${this.options.mountPath} does not exist while ${doing}`,
        this.location,
        `Mount the claim ${this.options.claim} at builder.context-pvc-mount-path (${this.options.mountPath})`,
        { cause: error },
      );
    }
    return new ContextStoreError(
      `failed ${doing} at ${file}: ${(error as Error).message}`,
      this.location,
      `Check the claim ${this.options.claim} and its mount at ${this.options.mountPath}`,
      { cause: error },
    );
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const file = this.path(key);
    const partial = `${file}.${randomBytes(4).toString('hex')}.partial`;
    try {
      await stat(this.options.mountPath);
      await mkdir(dirname(file), { recursive: true });
      await pipeline(
        toReadable(body),
        countingStream(options.onProgress),
        createWriteStream(partial, { mode: 0o644 }),
      );
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      throw this.fail(error, 'uploading the build context', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async open(key: string): Promise<Readable> {
    const file = this.path(key);
    try {
      // Opened before returning, so a missing file is reported here and not by the stream.
      const handle = await open(file, 'r');
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ContextNotFoundError(file, this.location, { cause: error });
      }
      throw this.fail(error, 'reading the build context', key);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await rm(this.path(key), { force: true });
    } catch (error) {
      throw this.fail(error, 'deleting the build context', key);
    }
  }
}
