import { randomBytes } from 'node:crypto';
import { createWriteStream, type BigIntStats } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/**
 * This write of a file: its inode and status-change time in nanoseconds. The inode alone is not
 * enough: a file written after another was deleted often gets the same number.
 */
function fileVersion(found: BigIntStats): string {
  return `${found.ino}-${found.ctimeNs}`;
}

/** The side file that holds an object's metadata: `<file>` + this. Keys may not end with it. */
const METADATA_SUFFIX = '.launch-agent-meta';

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
 * Files are written under a temporary name and hard-linked to their name, which fails when the
 * name exists: a build pod never sees half a context, and a stored one is never replaced.
 * Metadata lives in a side file, `<file>.launch-agent-meta`, written after the object.
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
    if (key.endsWith(METADATA_SUFFIX)) {
      throw new Error(
        `"${key}" is not a valid context key: it may not end with ${METADATA_SUFFIX}`,
      );
    }
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
    checkMetadata(options.metadata);
    const partial = `${file}.${randomBytes(4).toString('hex')}.partial`;
    try {
      await stat(this.options.mountPath);
      await mkdir(dirname(file), { recursive: true });
      await pipeline(
        toReadable(body),
        countingStream(options.onProgress),
        createWriteStream(partial, { mode: 0o644, flags: 'wx' }),
      );
      // link(2), unlike rename(2), never replaces: EEXIST when the name is taken.
      await link(partial, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ContextExistsError(file, this.location, { cause: error });
      }
      throw this.fail(error, 'uploading the build context', key);
    } finally {
      await rm(partial, { force: true });
    }
    try {
      // After the object: until it is there the object has no metadata (so no owner). A side
      // file left by an object deleted earlier is replaced, or removed when there is none.
      const side = `${file}${METADATA_SUFFIX}`;
      if (options.metadata) {
        const written = `${partial}.meta`;
        await writeFile(written, JSON.stringify(options.metadata), { mode: 0o644 });
        await rename(written, side);
      } else {
        await rm(side, { force: true });
      }
    } catch (error) {
      throw this.fail(error, 'writing the build context metadata', key);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const file = this.path(key);
    let found;
    try {
      found = await stat(file, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.fail(error, 'checking for the build context', key);
    }
    let metadata: Record<string, string> = {};
    try {
      metadata = JSON.parse(await readFile(`${file}${METADATA_SUFFIX}`, 'utf8')) as Record<
        string,
        string
      >;
    } catch {
      // No side file (yet), or not one this store wrote: no metadata.
    }
    return { metadata, version: fileVersion(found) };
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

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const file = this.path(key);
    try {
      if (options.ifVersion !== undefined) {
        // The version names this write of the file; only the agent deletes on the claim, so
        // nothing replaces the file between this look and the unlink.
        const found = await stat(file, { bigint: true }).catch(() => undefined);
        if (!found || fileVersion(found) !== options.ifVersion) return false;
      }
      const existed = await stat(file).then(
        () => true,
        () => false,
      );
      // The metadata first: a delete cut short leaves an object without an owner, never one
      // with the owner of an object gone before it.
      await rm(`${file}${METADATA_SUFFIX}`, { force: true });
      await rm(file, { force: true });
      return existed;
    } catch (error) {
      throw this.fail(error, 'deleting the build context', key);
    }
  }
}
