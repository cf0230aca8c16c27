import { Readable, Transform } from 'node:stream';

export interface PutOptions {
  /** Total bytes, when known; lets a store pick single-request or multipart/resumable uploads. */
  size?: number;
  /** Called with the running count of bytes sent. */
  onProgress?: (bytesSent: number) => void;
  /**
   * Stored with the object (S3 user metadata, GCS custom metadata, Azure blob metadata, a side
   * file on a PVC). Names are lowercase letters and digits only: every store accepts those.
   */
  metadata?: Record<string, string>;
}

/** A stored object as `stat` finds it. */
export interface StoredObject {
  metadata: Record<string, string>;
  /**
   * This write of the object (S3 and Azure ETag, GCS generation, the file's inode and ctime on a PVC): a
   * delete conditioned on it removes this object and never one written after it.
   */
  version: string;
}

/** Metadata names (see PutOptions.metadata) the agent and `launch-agent submit` use. */
export const CONTEXT_METADATA = {
  /** The namespace the uploader created its LaunchJob in. */
  namespace: 'launchagentnamespace',
  /** `sha256:<hex>` of the upload token the uploader's LaunchJob carries. */
  uploadTokenHash: 'launchagentuploadtoken',
} as const;

const METADATA_NAME = /^[a-z][a-z0-9]*$/;

/** Refuses metadata names some store would reject or rewrite. */
export function checkMetadata(metadata: Record<string, string> | undefined): void {
  for (const name of Object.keys(metadata ?? {})) {
    if (!METADATA_NAME.test(name)) {
      throw new Error(`context metadata name "${name}" is not lowercase letters and digits`);
    }
  }
}

/**
 * Where build contexts go: the kaniko builder uploads a context, hands kaniko `uri(key)` as its
 * `--context`, and deletes the object when the build is over; `launch-agent submit` uploads a
 * context that the agent later opens to build it. Keys are relative to the store's configured
 * prefix (`s3://bucket/<prefix>`), `/`-separated.
 */
export interface BuildContextStore {
  /** The store as configured (`s3://bucket/path`), for messages. */
  readonly location: string;
  /**
   * Writes the object once: the write is conditioned on no object existing under the key (S3
   * `If-None-Match: *`, GCS `ifGenerationMatch: 0`, Azure `If-None-Match: *`, a hard link on a
   * PVC), so a stored context is never overwritten. An existing key is a ContextExistsError.
   */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** The object's metadata and version, or undefined when there is none. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** Opens the object for reading; a missing object is a ContextNotFoundError. */
  open(key: string): Promise<Readable>;
  /**
   * Deletes the object; deleting a missing object is not an error. With `ifVersion`, only while
   * the object is that version (see StoredObject.version). Resolves whether an object was deleted.
   */
  delete(key: string, options?: DeleteOptions): Promise<boolean>;
  /** The URI kaniko reads the context from (`--context`). */
  uri(key: string): string;
}

/** A store call failed; `hint` says what the user can do about it. */
export class ContextStoreError extends Error {
  constructor(
    message: string,
    readonly location: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}. ${hint}`, options);
    this.name = 'ContextStoreError';
  }
}

export interface DeleteOptions {
  /** Delete only this version of the object (StoredObject.version). */
  ifVersion?: string;
}

/** `put` found an object under the key already; stored contexts are written once. */
export class ContextExistsError extends ContextStoreError {
  constructor(
    readonly uri: string,
    location: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${uri} exists already and is never overwritten`,
      location,
      'Stored contexts are written once; use the stored object (launch-agent submit checks it) or another key',
      options,
    );
    this.name = 'ContextExistsError';
  }
}

/** The object does not exist. */
export class ContextNotFoundError extends ContextStoreError {
  constructor(
    readonly uri: string,
    location: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${uri} does not exist`,
      location,
      'Submit the context again (launch-agent submit), or check builder.build-context-store',
      options,
    );
    this.name = 'ContextNotFoundError';
  }
}

const KEY = /^(?!\/)(?!.*\/\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[^\0\\]+$/;

/** Rejects keys that would escape the prefix or that object stores treat inconsistently. */
export function checkKey(key: string): string {
  if (!KEY.test(key)) {
    throw new Error(
      `"${key}" is not a valid context key: relative, "/"-separated, no "." or ".." segments`,
    );
  }
  return key;
}

/** `prefix/key`, or `key` when the store has no prefix. */
export function joinKey(prefix: string, key: string): string {
  checkKey(key);
  return prefix ? `${prefix}/${key}` : key;
}

/** Counts bytes as they pass, for stores whose SDK reports no progress of its own. */
export function countingStream(onProgress: ((bytes: number) => void) | undefined): Transform {
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      onProgress?.(sent);
      callback(null, chunk);
    },
  });
}

export function toReadable(body: Readable | Buffer): Readable {
  return Buffer.isBuffer(body) ? Readable.from([body]) : body;
}
