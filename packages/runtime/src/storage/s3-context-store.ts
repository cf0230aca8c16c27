import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import {
  checkMetadata,
  ContextExistsError,
  ContextNotFoundError,
  ContextStoreError,
  joinKey,
  type BuildContextStore,
  type DeleteOptions,
  type PutOptions,
  type StoredObject,
} from './context-store.js';
import { s3Addressing, type S3AddressingOptions } from './s3-addressing.js';

export interface S3ContextStoreOptions extends S3AddressingOptions {
  bucket: string;
  prefix: string;
  /** Region of the bucket; default AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  env?: NodeJS.ProcessEnv;
  /** A prepared client (tests); otherwise one is made with the default credential chain. */
  client?: S3Client;
}

export { s3Addressing, type S3Addressing } from './s3-addressing.js';

/** The S3 client settings the store uses (exported so tests can add a request handler). */
export function s3ClientConfig(
  options: Pick<S3ContextStoreOptions, 'region' | 'endpoint' | 'addressingStyle'>,
  env: NodeJS.ProcessEnv = process.env,
): S3ClientConfig {
  const { endpoint, pathStyle } = s3Addressing(options, env);
  return {
    region: options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    followRegionRedirects: true,
    forcePathStyle: pathStyle,
    ...(endpoint ? { endpoint } : {}),
  };
}

/** Buffers up to this size go in one PutObject; larger bodies and streams go multipart. */
const SINGLE_PUT_LIMIT = 8 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * Amazon S3 or any S3 API (CoreWeave AI Object Storage, MinIO, moto) through the default
 * credential chain, at the endpoint and in the addressing style of s3Addressing.
 */
export class S3ContextStore implements BuildContextStore {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private connection:
    Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;

  constructor(private readonly options: S3ContextStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
  }

  /**
   * The SDK (about 10 MB of the agent's memory) loads with the first call, not with the store:
   * the agent makes its store at start, and may build nothing for hours.
   */
  private s3(): Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> {
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => ({
      sdk,
      client:
        this.options.client ??
        new sdk.S3Client(s3ClientConfig(this.options, this.options.env ?? process.env)),
    }));
    return this.connection;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${joinKey(this.prefix, key)}`;
  }

  private fail(error: unknown, doing: string, key: string): ContextStoreError {
    const name = (error as Error).name ?? '';
    const object = `arn:aws:s3:::${this.bucket}/${joinKey(this.prefix, key)}`;
    if (
      name === 'CredentialsProviderError' ||
      /Could not load credentials/i.test((error as Error).message)
    ) {
      return new ContextStoreError(
        `no AWS credentials were found for ${doing}`,
        this.location,
        'Provide credentials through the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA or an instance role',
        { cause: error },
      );
    }
    if (name === 'NoSuchBucket') {
      return new ContextStoreError(
        `bucket ${this.bucket} does not exist`,
        this.location,
        'Create it, or fix builder.build-context-store',
        { cause: error },
      );
    }
    if (name === 'AccessDenied' || status(error) === 403) {
      return new ContextStoreError(
        `S3 refused ${doing} on ${object}`,
        this.location,
        'Grant the agent the policy `launch-agent permissions` prints (s3:PutObject, s3:GetObject, s3:DeleteObject on the objects, s3:ListBucket on the bucket)',
        { cause: error },
      );
    }
    return new ContextStoreError(
      `S3 failed ${doing} on ${object}: ${(error as Error).message}`,
      this.location,
      'Check the bucket name and region, and AWS_ENDPOINT_URL when using an S3-compatible server',
      { cause: error },
    );
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const Key = joinKey(this.prefix, key);
    checkMetadata(options.metadata);
    // Written once: the PutObject, or the multipart upload's completion, fails (412) when an
    // object is there; S3 answers 409 when another conditional write to the key is under way.
    const once = {
      IfNoneMatch: '*',
      ...(options.metadata ? { Metadata: options.metadata } : {}),
    };
    try {
      const { client, sdk } = await this.s3();
      if (Buffer.isBuffer(body) && body.length <= SINGLE_PUT_LIMIT) {
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: body,
            ContentLength: body.length,
            ...once,
          }),
        );
        options.onProgress?.(body.length);
        return;
      }
      const { Upload } = await import('@aws-sdk/lib-storage');
      const upload = new Upload({
        client,
        params: { Bucket: this.bucket, Key, Body: body, ...once },
        partSize: PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      if (options.onProgress) {
        const onProgress = options.onProgress;
        upload.on('httpUploadProgress', (progress) => {
          if (progress.loaded !== undefined) onProgress(progress.loaded);
        });
      }
      await upload.done();
    } catch (error) {
      const code = status(error);
      if (code === 412 || code === 409 || (error as Error).name === 'PreconditionFailed') {
        throw new ContextExistsError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'uploading the build context', key);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const { client, sdk } = await this.s3();
      const head = await client.send(
        new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: joinKey(this.prefix, key) }),
      );
      return { metadata: head.Metadata ?? {}, version: head.ETag ?? '' };
    } catch (error) {
      if ((error as Error).name === 'NotFound' || status(error) === 404) return undefined;
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      const { client, sdk } = await this.s3();
      await client.send(
        new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: joinKey(this.prefix, key) }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'NotFound' || status(error) === 404) return false;
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async open(key: string): Promise<Readable> {
    try {
      const { client, sdk } = await this.s3();
      const got = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: joinKey(this.prefix, key) }),
      );
      // In Node the SDK's body is the HTTP response itself, a Readable.
      const body = got.Body as Readable | undefined;
      if (!(body instanceof Readable)) throw new Error('the response has no body stream');
      return body;
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey' || status(error) === 404) {
        throw new ContextNotFoundError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'downloading the build context', key);
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    try {
      const { client, sdk } = await this.s3();
      await client.send(
        new sdk.DeleteObjectCommand({
          Bucket: this.bucket,
          Key: joinKey(this.prefix, key),
          // S3's conditional delete: only while the object still has this ETag.
          ...(options.ifVersion !== undefined ? { IfMatch: options.ifVersion } : {}),
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey' || status(error) === 404) return false;
      if (status(error) === 412 && options.ifVersion !== undefined) return false;
      throw this.fail(error, 'deleting the build context', key);
    }
  }
}
