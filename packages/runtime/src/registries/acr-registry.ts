import { ContainerRegistryClient, KnownContainerRegistryAudience } from '@azure/container-registry';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { Destination } from '@launch-agent/config';
import { httpRequest } from './http-request.js';
import {
  BaseRegistry,
  RegistryAuthError,
  RegistryCredentials,
  RegistryError,
  type ImageLookup,
} from './registry.js';

/** The user name ACR expects with a refresh token, as `az acr login --expose-token` prints it. */
export const ACR_TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

export interface AcrRegistryOptions {
  /** Default: `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI). */
  credential?: TokenCredential;
  /** Token audience; default: Azure public cloud. */
  audience?: string;
  /** Registry endpoint; default `https://<host>`. */
  endpoint?: string;
  /** Extra CA certificates (PEM) for the endpoint. */
  ca?: string[];
}

/**
 * Azure Container Registry: existence through `@azure/container-registry`
 * `getManifestProperties`, push credentials by exchanging the Entra ID token for an ACR
 * refresh token (`/oauth2/exchange`), which docker accepts as a password.
 */
export class AcrRegistry extends BaseRegistry {
  private readonly client: ContainerRegistryClient;
  private readonly credential: TokenCredential;
  private readonly endpoint: string;
  private readonly audience: string;

  constructor(
    destination: Destination,
    private readonly options: AcrRegistryOptions = {},
  ) {
    super(destination);
    this.endpoint = (options.endpoint ?? `https://${destination.host}`).replace(/\/+$/, '');
    this.audience =
      options.audience ?? KnownContainerRegistryAudience.AzureResourceManagerPublicCloud;
    this.credential = options.credential ?? new DefaultAzureCredential();
    this.client = new ContainerRegistryClient(this.endpoint, this.credential, {
      audience: this.audience,
      ...(options.ca ? { tlsOptions: { ca: options.ca.join('\n') } } : {}),
    });
  }

  private translate(error: unknown, doing: string): RegistryError {
    const status = (error as { statusCode?: number }).statusCode;
    const host = this.destination.host;
    const message = (error as Error).message ?? String(error);
    if (
      status === 401 ||
      status === 403 ||
      (error as Error).name === 'CredentialUnavailableError' ||
      (error as Error).name === 'AuthenticationError'
    ) {
      return new RegistryAuthError(
        `Azure refused ${doing}: ${message}`,
        host,
        `Give the agent's identity the AcrPush role on ${host} (workload identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity, or az login)`,
        { cause: error },
      );
    }
    return new RegistryError(
      `ACR failed ${doing}: ${message}`,
      host,
      'Check the registry name in builder.destination',
      { cause: error },
    );
  }

  async exists(tag: string): Promise<ImageLookup> {
    try {
      const properties = await this.client
        .getArtifact(this.destination.repository, tag)
        .getManifestProperties();
      return { exists: true, ...(properties.digest ? { digest: properties.digest } : {}) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return { exists: false };
      throw this.translate(error, `checking ${this.imageReference(tag)}`);
    }
  }

  async credentials(): Promise<RegistryCredentials> {
    let aadToken: string | undefined;
    try {
      aadToken = (await this.credential.getToken(`${this.audience}/.default`))?.token;
    } catch (error) {
      throw this.translate(error, 'getting an Entra ID token');
    }
    if (!aadToken)
      throw new RegistryAuthError(
        'Azure gave no access token',
        this.destination.host,
        'Check the agent identity configuration',
      );
    const body = new URLSearchParams({
      grant_type: 'access_token',
      service: new URL(this.endpoint).host,
      access_token: aadToken,
    }).toString();
    let response;
    try {
      response = await httpRequest({
        method: 'POST',
        url: `${this.endpoint}/oauth2/exchange`,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
        ...(this.options.ca ? { ca: this.options.ca } : {}),
      });
    } catch (error) {
      throw new RegistryError(
        `ACR ${this.destination.host} is not reachable (${(error as Error).message})`,
        this.destination.host,
        'Check the registry name',
        {
          cause: error,
        },
      );
    }
    if (response.status !== 200) {
      throw this.translate(
        Object.assign(new Error(`token exchange answered HTTP ${response.status}`), {
          statusCode: response.status,
        }),
        'exchanging the Entra ID token for an ACR refresh token',
      );
    }
    const refreshToken = (JSON.parse(response.body.toString('utf8')) as { refresh_token?: string })
      .refresh_token;
    if (!refreshToken)
      throw new RegistryAuthError(
        'ACR returned no refresh token',
        this.destination.host,
        'Check the AcrPush role assignment',
      );
    return RegistryCredentials.password(this.destination.host, ACR_TOKEN_USERNAME, refreshToken);
  }
}
