import { inspect } from 'node:util';
import type { Destination } from '@launch-agent/config';

/** Whether an image tag is in the registry, and its manifest digest when the registry says. */
export interface ImageLookup {
  exists: boolean;
  digest?: string;
}

/**
 * Credentials for pushing to one registry host. The secret is kept out of `JSON.stringify`,
 * `util.inspect`, string conversion and error messages: only `toDockerAuthConfig` hands it out.
 */
export class RegistryCredentials {
  readonly #secret: string;
  readonly #kind: 'password' | 'identity-token';

  private constructor(
    readonly serverAddress: string,
    readonly username: string | undefined,
    kind: 'password' | 'identity-token',
    secret: string,
  ) {
    this.#kind = kind;
    this.#secret = secret;
  }

  static password(serverAddress: string, username: string, password: string): RegistryCredentials {
    return new RegistryCredentials(serverAddress, username, 'password', password);
  }

  /** An OAuth2 refresh token, as docker's `identitytoken`. */
  static identityToken(serverAddress: string, token: string): RegistryCredentials {
    return new RegistryCredentials(serverAddress, undefined, 'identity-token', token);
  }

  get kind(): 'password' | 'identity-token' {
    return this.#kind;
  }

  /** The body of Docker's `X-Registry-Auth` header. */
  toDockerAuthConfig(): {
    username?: string;
    password?: string;
    identitytoken?: string;
    serveraddress: string;
  } {
    if (this.#kind === 'identity-token')
      return { identitytoken: this.#secret, serveraddress: this.serverAddress };
    return { username: this.username!, password: this.#secret, serveraddress: this.serverAddress };
  }

  /** `Basic` authorization for registries that accept it directly. */
  basicAuthorization(): string | undefined {
    if (this.#kind !== 'password') return undefined;
    return `Basic ${Buffer.from(`${this.username}:${this.#secret}`).toString('base64')}`;
  }

  /** The secret itself, for token exchanges that need it in a request body. */
  revealSecret(): string {
    return this.#secret;
  }

  toJSON(): Record<string, string | undefined> {
    return {
      serverAddress: this.serverAddress,
      username: this.username,
      kind: this.#kind,
      secret: '[redacted]',
    };
  }

  toString(): string {
    return `RegistryCredentials(${this.serverAddress}, ${this.username ?? this.#kind})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * One registry API behind the build engine. Implementations: ECR, Artifact Registry, ACR and
 * any OCI distribution registry; `createRegistry` picks one from the parsed destination.
 */
export interface Registry {
  /** The destination as `@launch-agent/config` parsed it. */
  readonly destination: Destination;
  /** `host[:port]/repository`: the name every image tag is appended to. */
  readonly repositoryUri: string;
  /** `repositoryUri:tag`. */
  imageReference(tag: string): string;
  /** Asks the registry whether `tag` exists in the destination repository. */
  exists(tag: string): Promise<ImageLookup>;
  /** Credentials a builder pushes with, or undefined when the registry needs none. */
  credentials(): Promise<RegistryCredentials | undefined>;
  /** Makes the repository ready for a push (for example creates a missing ECR repository when configured to). */
  prepareForPush(): Promise<void>;
  /**
   * Whether the repository lets a pushed tag be overwritten, for registries whose API says so
   * (ECR's imageTagMutability); undefined when this registry cannot tell.
   */
  tagMutability?(): Promise<TagMutability | undefined>;
}

/** A repository's tag rule, as its registry reports it. */
export interface TagMutability {
  /** Whether a tag can be moved to another image (some tags may be exempt: see `setting`). */
  mutable: boolean;
  /** The registry's own name for the setting, e.g. `MUTABLE`. */
  setting: string;
}

/** A registry call failed; `hint` says what the user can do about it. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly registry: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}. ${hint}`, options);
    this.name = 'RegistryError';
  }
}

/** The registry refused our identity or we found none. */
export class RegistryAuthError extends RegistryError {
  constructor(message: string, registry: string, hint: string, options?: { cause?: unknown }) {
    super(message, registry, hint, options);
    this.name = 'RegistryAuthError';
  }
}

/** Shared by every implementation: `host/repository` and `host/repository:tag`. */
export abstract class BaseRegistry implements Registry {
  readonly repositoryUri: string;

  constructor(readonly destination: Destination) {
    this.repositoryUri = destination.reference;
  }

  imageReference(tag: string): string {
    return `${this.repositoryUri}:${tag}`;
  }

  abstract exists(tag: string): Promise<ImageLookup>;
  abstract credentials(): Promise<RegistryCredentials | undefined>;

  async prepareForPush(): Promise<void> {
    // Most registries create repositories on first push.
  }
}
