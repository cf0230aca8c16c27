import { DefaultAzureCredential } from '@azure/identity';
import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
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

export interface AzureBlobContextStoreOptions {
  account: string;
  container: string;
  prefix: string;
  /** `https://<account>.blob.core.windows.net`, from the configured store URI. */
  endpoint: string;
  env?: NodeJS.ProcessEnv;
  /** A prepared client (tests). */
  service?: BlobServiceClient;
}

const BLOCK_SIZE = 8 * 1024 * 1024;
const CONCURRENCY = 4;

/**
 * How the agent signs in, strongest configuration first: AZURE_STORAGE_CONNECTION_STRING (also
 * how Azurite is reached), an account key in AZURE_STORAGE_KEY / AZURE_STORAGE_ACCESS_KEY (the
 * chart's azureStorageAccessKey), else DefaultAzureCredential (workload identity on AKS).
 */
export function azureBlobServiceClient(
  options: Pick<AzureBlobContextStoreOptions, 'account' | 'endpoint' | 'env'>,
): {
  service: BlobServiceClient;
  auth: 'connection-string' | 'account-key' | 'default-credential';
} {
  const env = options.env ?? process.env;
  if (env.AZURE_STORAGE_CONNECTION_STRING) {
    return {
      service: BlobServiceClient.fromConnectionString(env.AZURE_STORAGE_CONNECTION_STRING),
      auth: 'connection-string',
    };
  }
  const key = env.AZURE_STORAGE_KEY || env.AZURE_STORAGE_ACCESS_KEY;
  if (key) {
    return {
      service: new BlobServiceClient(
        options.endpoint,
        new StorageSharedKeyCredential(options.account, key),
      ),
      auth: 'account-key',
    };
  }
  return {
    service: new BlobServiceClient(options.endpoint, new DefaultAzureCredential()),
    auth: 'default-credential',
  };
}

/** Azure Blob Storage: block blobs, uploaded in parallel blocks. */
export class AzureBlobContextStore implements BuildContextStore {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly endpoint: string;
  private readonly containerName: string;
  private readonly auth: string;

  constructor(options: AzureBlobContextStoreOptions) {
    this.prefix = options.prefix;
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.containerName = options.container;
    this.location = `${this.endpoint}/${options.container}${options.prefix ? `/${options.prefix}` : ''}`;
    if (options.service) {
      this.container = options.service.getContainerClient(options.container);
      this.auth = 'client';
    } else {
      const { service, auth } = azureBlobServiceClient(options);
      this.container = service.getContainerClient(options.container);
      this.auth = auth;
    }
  }

  uri(key: string): string {
    return `${this.endpoint}/${this.containerName}/${joinKey(this.prefix, key)}`;
  }

  private fail(error: unknown, doing: string, key: string): ContextStoreError {
    const statusCode = (error as { statusCode?: number }).statusCode;
    const errorCode = (error as { code?: string }).code;
    const blob = `${this.containerName}/${joinKey(this.prefix, key)}`;
    if (
      (error as Error).name === 'CredentialUnavailableError' ||
      (error as Error).name === 'AggregateAuthenticationError'
    ) {
      return new ContextStoreError(
        `no Azure credentials were found for ${doing}`,
        this.location,
        'Use workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), or set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY',
        { cause: error },
      );
    }
    if (errorCode === 'ContainerNotFound') {
      return new ContextStoreError(
        `container ${this.containerName} does not exist`,
        this.location,
        'Create it, or fix builder.build-context-store',
        { cause: error },
      );
    }
    if (statusCode === 403 || statusCode === 401) {
      return new ContextStoreError(
        `Azure Blob Storage refused ${doing} on ${blob} (signed in with ${this.auth})`,
        this.location,
        'Assign the agent\'s identity "Storage Blob Data Contributor" on the container (see `launch-agent permissions`)',
        { cause: error },
      );
    }
    return new ContextStoreError(
      `Azure Blob Storage failed ${doing} on ${blob}: ${(error as Error).message}`,
      this.location,
      'Check the storage account and container in builder.build-context-store',
      { cause: error },
    );
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const blob = this.container.getBlockBlobClient(joinKey(this.prefix, key));
    const onProgress = options.onProgress
      ? (event: { loadedBytes: number }) => options.onProgress!(event.loadedBytes)
      : undefined;
    checkMetadata(options.metadata);
    // Written once: the upload (or the commit of its block list) fails with 409 BlobAlreadyExists
    // or 412 when a blob is there.
    const once = {
      conditions: { ifNoneMatch: '*' },
      ...(options.metadata ? { metadata: options.metadata } : {}),
      ...(onProgress ? { onProgress } : {}),
    };
    try {
      if (Buffer.isBuffer(body)) {
        await blob.uploadData(body, { blockSize: BLOCK_SIZE, concurrency: CONCURRENCY, ...once });
      } else {
        await blob.uploadStream(body, BLOCK_SIZE, CONCURRENCY, once);
      }
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      if (statusCode === 409 || statusCode === 412) {
        throw new ContextExistsError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'uploading the build context', key);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const properties = await this.container
        .getBlockBlobClient(joinKey(this.prefix, key))
        .getProperties();
      return { metadata: properties.metadata ?? {}, version: properties.etag ?? '' };
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      const errorCode = (error as { code?: string }).code;
      if (statusCode === 404 && errorCode !== 'ContainerNotFound') return undefined;
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return await this.container.getBlockBlobClient(joinKey(this.prefix, key)).exists();
    } catch (error) {
      throw this.fail(error, 'checking for the build context', key);
    }
  }

  async open(key: string): Promise<Readable> {
    try {
      const downloaded = await this.container
        .getBlockBlobClient(joinKey(this.prefix, key))
        .download();
      const body = downloaded.readableStreamBody;
      if (!body) throw new Error('the response has no body stream');
      // The SDK's type is the DOM-less NodeJS.ReadableStream; in Node it is a Readable.
      return body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      const errorCode = (error as { code?: string }).code;
      if (
        errorCode === 'BlobNotFound' ||
        (statusCode === 404 && errorCode !== 'ContainerNotFound')
      ) {
        throw new ContextNotFoundError(this.uri(key), this.location, { cause: error });
      }
      throw this.fail(error, 'downloading the build context', key);
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    try {
      const result = await this.container
        .getBlockBlobClient(joinKey(this.prefix, key))
        // Only this ETag: a blob written under the name since is left alone.
        .deleteIfExists(
          options.ifVersion !== undefined ? { conditions: { ifMatch: options.ifVersion } } : {},
        );
      return result.succeeded;
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      if (statusCode === 412 && options.ifVersion !== undefined) return false;
      throw this.fail(error, 'deleting the build context', key);
    }
  }
}
