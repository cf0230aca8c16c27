import { Readable, Transform } from 'node:stream';

export interface PutOptions {
  /** Total bytes, when known; lets a store pick single-request or multipart/resumable uploads. */
  size?: number;
  /** Called with the running count of bytes sent. */
  onProgress?: (bytesSent: number) => void;
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
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Opens the object for reading; a missing object is a ContextNotFoundError. */
  open(key: string): Promise<Readable>;
  /** Deletes the object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
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
