import { ArtifactRegistryClient } from '@google-cloud/artifact-registry';
import type { Destination } from '@launch-agent/config';
import { GoogleAuth, type AuthClient } from 'google-auth-library';
import {
  BaseRegistry,
  RegistryAuthError,
  RegistryCredentials,
  RegistryError,
  type ImageLookup,
} from './registry.js';

const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** gRPC status NOT_FOUND, which the REST transport also reports as `code`. */
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

export interface ArtifactRegistryOptions {
  /** Replaces Application Default Credentials (tests, or a key loaded elsewhere). */
  authClient?: AuthClient;
  /** API host, port and protocol; default: artifactregistry.googleapis.com:443 over HTTPS. */
  apiEndpoint?: string;
  port?: number;
  protocol?: 'http' | 'https';
}

/**
 * Google Artifact Registry: existence is `GetTag` on the destination's own image (package) and
 * tag, so a tag on another image in the same repository never counts; push credentials are an
 * OAuth2 access token from Application Default Credentials (`google-auth-library`).
 */
export class ArtifactRegistry extends BaseRegistry {
  private clientInstance: ArtifactRegistryClient | undefined;
  private authInstance: GoogleAuth | undefined;
  private readonly ar: NonNullable<Destination['artifactRegistry']>;

  constructor(
    destination: Destination,
    private readonly options: ArtifactRegistryOptions = {},
  ) {
    super(destination);
    if (!destination.artifactRegistry)
      throw new Error(`${destination.reference} is not an Artifact Registry destination`);
    this.ar = destination.artifactRegistry;
  }

  /** Application Default Credentials, made on first use: looking them up may probe the metadata server. */
  private get auth(): GoogleAuth {
    this.authInstance ??= new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
    return this.authInstance;
  }

  private get client(): ArtifactRegistryClient {
    if (!this.clientInstance) {
      // The HTTP/1.1 REST transport: one code path for production and for the local test server.
      const clientOptions: Record<string, unknown> = { fallback: true };
      if (this.options.authClient) clientOptions.authClient = this.options.authClient;
      else clientOptions.auth = this.auth;
      if (this.options.apiEndpoint) clientOptions.apiEndpoint = this.options.apiEndpoint;
      if (this.options.port !== undefined) clientOptions.port = this.options.port;
      if (this.options.protocol) clientOptions.protocol = this.options.protocol;
      // `protocol` is read by google-gax's REST transport but missing from its typings.
      this.clientInstance = new ArtifactRegistryClient(
        clientOptions as ConstructorParameters<typeof ArtifactRegistryClient>[0],
      );
    }
    return this.clientInstance;
  }

  /** `projects/P/locations/L/repositories/R/packages/IMAGE/tags/TAG`, the image's slashes escaped as %2F. */
  tagName(tag: string): string {
    const { project, location, repository, image } = this.ar;
    return `projects/${project}/locations/${location}/repositories/${repository}/packages/${encodeURIComponent(image)}/tags/${tag}`;
  }

  private translate(error: unknown, doing: string): RegistryError {
    const code = (error as { code?: number }).code;
    const host = this.destination.host;
    const message = (error as Error).message ?? String(error);
    if (
      code === PERMISSION_DENIED ||
      code === UNAUTHENTICATED ||
      /default credentials|Could not load the default credentials/i.test(message)
    ) {
      return new RegistryAuthError(
        `Google Cloud refused ${doing}: ${message}`,
        host,
        `Give the agent's identity artifactregistry.dockerimages.list, artifactregistry.repositories.downloadArtifacts and uploadArtifacts on ${this.ar.repository} (roles/artifactregistry.writer), through workload identity, GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login`,
        { cause: error },
      );
    }
    return new RegistryError(
      `Artifact Registry failed ${doing}: ${message}`,
      host,
      'Check the project, location and repository in builder.destination',
      {
        cause: error,
      },
    );
  }

  async exists(tag: string): Promise<ImageLookup> {
    try {
      const [found] = await this.client.getTag({ name: this.tagName(tag) });
      // `version` is `.../versions/sha256:...`: the manifest digest.
      const digest = found.version?.split('/').pop();
      return { exists: true, ...(digest?.startsWith('sha256:') ? { digest } : {}) };
    } catch (error) {
      if ((error as { code?: number }).code === NOT_FOUND) return { exists: false };
      throw this.translate(error, `checking ${this.imageReference(tag)}`);
    }
  }

  async credentials(): Promise<RegistryCredentials> {
    let token: string | null | undefined;
    try {
      const client = this.options.authClient ?? (await this.auth.getClient());
      token = (await client.getAccessToken()).token;
    } catch (error) {
      throw this.translate(error, 'getting an access token');
    }
    if (!token) {
      throw new RegistryAuthError(
        'Application Default Credentials gave no access token',
        this.destination.host,
        'Check GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding',
      );
    }
    // Artifact Registry's documented docker login: user `oauth2accesstoken`, password the token.
    return RegistryCredentials.password(this.destination.host, 'oauth2accesstoken', token);
  }

  async close(): Promise<void> {
    await this.clientInstance?.close();
  }
}
