import { readFileSync } from 'node:fs';
import type { Destination } from '@launch-agent/config';
import { backoffDelay, pause } from '../kubernetes/backoff.js';
import { dockerCredentialsFor, type DockerCredentialOptions } from './docker-credentials.js';
import {
  HttpConnectionError,
  httpRequest,
  parseAuthenticate,
  type HttpResponse,
} from './http-request.js';
import {
  BaseRegistry,
  RegistryAuthError,
  RegistryError,
  type ImageLookup,
  type RegistryCredentials,
} from './registry.js';

/** Every manifest kind a tag can point at: OCI and Docker, single-platform and multi-platform. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface OciRegistryOptions extends DockerCredentialOptions {
  /** Where credentials come from; default: docker config.json and its credential helpers. */
  credentials?: () => Promise<RegistryCredentials | undefined>;
  /** Extra CA certificates; default: Docker's `/etc/docker/certs.d/<host>/ca.crt` when present. */
  ca?: string[];
  /** Registries reached over plain HTTP when HTTPS fails; default: loopback hosts only, as Docker does. */
  allowHttp?: boolean;
  /**
   * How long answers that say "try again" (429, 502, 503, 504) and lost connections are retried,
   * with capped backoff, before the request fails. Default 120 s: a registry restarting or
   * failing over is waited for, not mistaken for a missing image.
   */
  retryForMs?: number;
}

/** Registry answers that mean "not now": the same request may well succeed later. */
const TRANSIENT = new Set([429, 502, 503, 504]);

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function dockerCertsCa(host: string): string[] {
  try {
    return [readFileSync(`/etc/docker/certs.d/${host}/ca.crt`, 'utf8')];
  } catch {
    return [];
  }
}

/**
 * Any registry that speaks the OCI distribution API: existence is a HEAD on the manifest,
 * authentication follows the registry's `WWW-Authenticate` challenge (bearer token or basic)
 * with credentials from docker's config.json.
 */
export class OciRegistry extends BaseRegistry {
  private scheme: 'https' | 'http' | undefined;
  private authorization: string | undefined;
  private cachedCredentials: Promise<RegistryCredentials | undefined> | undefined;
  private readonly ca: string[];
  private readonly allowHttp: boolean;
  /** Where the API answers: Docker Hub's repositories are served by registry-1.docker.io. */
  private readonly apiHost: string;
  private readonly apiRepository: string;

  constructor(
    destination: Destination,
    private readonly options: OciRegistryOptions = {},
  ) {
    super(destination);
    this.ca = options.ca ?? dockerCertsCa(destination.host);
    this.allowHttp = options.allowHttp ?? isLoopback(destination.host);
    const hub = destination.host === 'docker.io';
    this.apiHost = hub ? 'registry-1.docker.io' : destination.host;
    this.apiRepository =
      hub && !destination.repository.includes('/')
        ? `library/${destination.repository}`
        : destination.repository;
  }

  credentials(): Promise<RegistryCredentials | undefined> {
    this.cachedCredentials ??= this.options.credentials
      ? this.options.credentials()
      : dockerCredentialsFor(this.destination.host, this.options);
    return this.cachedCredentials;
  }

  async exists(tag: string): Promise<ImageLookup> {
    const path = `/v2/${this.apiRepository}/manifests/${encodeURIComponent(tag)}`;
    const response = await this.send('HEAD', path, { Accept: MANIFEST_ACCEPT });
    if (response.status === 200) {
      const digest = response.headers['docker-content-digest'];
      return { exists: true, ...(typeof digest === 'string' ? { digest } : {}) };
    }
    if (response.status === 404) return { exists: false };
    throw this.statusError(response, `checking ${this.imageReference(tag)}`);
  }

  private statusError(response: HttpResponse, doing: string): RegistryError {
    const host = this.destination.host;
    if (response.status === 401 || response.status === 403) {
      return new RegistryAuthError(
        `${host} refused ${doing} (HTTP ${response.status})`,
        host,
        `Log in to ${host} (docker login ${host}) with an account that can pull and push ${this.destination.repository}`,
      );
    }
    return new RegistryError(
      `${host} answered HTTP ${response.status} when ${doing}`,
      host,
      'Check that the destination names a registry that speaks the OCI distribution API',
    );
  }

  /** rawSend, retried while the registry answers "not now" or cannot be reached, within retryForMs. */
  private async rawSend(
    method: 'HEAD' | 'GET',
    path: string,
    headers: Record<string, string>,
  ): Promise<HttpResponse> {
    const deadline = Date.now() + (this.options.retryForMs ?? 120_000);
    for (let attempt = 0; ; attempt += 1) {
      let waitMs = backoffDelay(attempt, { initialMs: 250, capMs: 5_000 });
      try {
        const response = await this.sendOnce(method, path, headers);
        if (!TRANSIENT.has(response.status)) return response;
        const after = Number(response.headers['retry-after']);
        if (Number.isFinite(after) && after > 0) waitMs = Math.min(after * 1000, 30_000);
        if (Date.now() + waitMs > deadline) return response;
      } catch (error) {
        // Before the scheme is known, unreachable means misconfigured: say so at once.
        if (!this.scheme || Date.now() + waitMs > deadline) throw error;
      }
      await pause(waitMs);
    }
  }

  private async sendOnce(
    method: 'HEAD' | 'GET',
    path: string,
    headers: Record<string, string>,
  ): Promise<HttpResponse> {
    const host = this.apiHost;
    const attempt = (scheme: 'https' | 'http') =>
      httpRequest({ method, url: `${scheme}://${host}${path}`, headers, ca: this.ca });
    if (this.scheme) return attempt(this.scheme);
    try {
      const response = await attempt('https');
      this.scheme = 'https';
      return response;
    } catch (error) {
      // Docker's rule for insecure registries: try HTTPS first, then plain HTTP.
      if (!(error instanceof HttpConnectionError) || !this.allowHttp) throw this.unreachable(error);
      try {
        const response = await attempt('http');
        this.scheme = 'http';
        return response;
      } catch (second) {
        throw this.unreachable(second);
      }
    }
  }

  private unreachable(error: unknown): RegistryError {
    const host = this.destination.host;
    return new RegistryError(
      `registry ${host} is not reachable (${(error as Error).message})`,
      host,
      this.allowHttp
        ? 'Check that the registry is running and the destination host and port are right'
        : 'Check the destination host and port; registries other than localhost must serve HTTPS with a trusted certificate (extra CAs: /etc/docker/certs.d/<host>/ca.crt)',
      { cause: error },
    );
  }

  /** Sends a request, answering one authentication challenge if the registry poses it. */
  private async send(
    method: 'HEAD' | 'GET',
    path: string,
    headers: Record<string, string>,
  ): Promise<HttpResponse> {
    const withAuth = () =>
      this.authorization ? { ...headers, Authorization: this.authorization } : headers;
    let response = await this.rawSend(method, path, withAuth());
    if (response.status !== 401) return response;
    const challenge = parseAuthenticate(response.headers['www-authenticate'] as string | undefined);
    if (!challenge) return response;
    const credentials = await this.credentials();
    if (challenge.scheme === 'basic') {
      const basic = credentials?.basicAuthorization();
      if (!basic) throw this.needsLogin();
      this.authorization = basic;
    } else if (challenge.scheme === 'bearer') {
      this.authorization = `Bearer ${await this.fetchToken(challenge.params, credentials)}`;
    } else {
      return response;
    }
    response = await this.rawSend(method, path, withAuth());
    return response;
  }

  private needsLogin(): RegistryAuthError {
    const host = this.destination.host;
    return new RegistryAuthError(
      `${host} requires credentials and none were found in ${process.env.DOCKER_CONFIG ? '$DOCKER_CONFIG' : '~/.docker'}/config.json`,
      host,
      `Run docker login ${host}, or add a credHelpers entry for it`,
    );
  }

  /**
   * The realm is whatever URL the registry's challenge names, so credentials go to it only over
   * HTTPS, or to the registry's own scheme, host and port (a local plain-HTTP registry with its
   * own token endpoint): never in clear text to another host.
   */
  private checkRealm(realm: string): void {
    const host = this.destination.host;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryAuthError(
        `${host} named a token realm that is not a URL`,
        host,
        'The registry is misconfigured',
      );
    }
    const own = new URL(`${this.scheme ?? 'https'}://${host}`);
    if (url.username || url.password) {
      throw new RegistryAuthError(
        `${host} named a token realm with credentials in it`,
        host,
        'The registry is misconfigured',
      );
    }
    if (url.protocol === 'https:' || url.origin === own.origin) return;
    throw new RegistryAuthError(
      `${host} asks for credentials at ${url.origin} over ${url.protocol.replace(':', '')}; they are sent only over https or to the registry itself`,
      host,
      'Serve the registry token service over HTTPS (or from the registry host itself)',
    );
  }

  /** The distribution token protocol: GET the realm with service and scope, or POST a refresh token. */
  private async fetchToken(
    params: Record<string, string>,
    credentials: RegistryCredentials | undefined,
  ): Promise<string> {
    const host = this.destination.host;
    const realm = params.realm;
    if (!realm)
      throw new RegistryAuthError(
        `${host} sent a bearer challenge without a realm`,
        host,
        'The registry is misconfigured',
      );
    this.checkRealm(realm);
    const scope = params.scope ?? `repository:${this.apiRepository}:pull`;
    let response: HttpResponse;
    try {
      if (credentials?.kind === 'identity-token') {
        const body = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: credentials.revealSecret(),
          service: params.service ?? host,
          scope,
          client_id: 'launch-agent',
        }).toString();
        response = await httpRequest({
          method: 'POST',
          url: realm,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body,
          ca: this.ca,
        });
      } else {
        const url = new URL(realm);
        if (params.service) url.searchParams.set('service', params.service);
        url.searchParams.set('scope', scope);
        const basic = credentials?.basicAuthorization();
        response = await httpRequest({
          method: 'GET',
          url: url.toString(),
          headers: basic ? { Authorization: basic } : {},
          ca: this.ca,
        });
      }
    } catch (error) {
      throw new RegistryError(
        `the token service of ${host} is not reachable (${(error as Error).message})`,
        host,
        'Check the network path to the registry',
        {
          cause: error,
        },
      );
    }
    if (response.status !== 200) {
      if (!credentials && (response.status === 401 || response.status === 403))
        throw this.needsLogin();
      throw new RegistryAuthError(
        `the token service of ${host} refused the request (HTTP ${response.status})`,
        host,
        `Log in again (docker login ${host}) with an account that can pull and push ${this.destination.repository}`,
      );
    }
    const body = JSON.parse(response.body.toString('utf8')) as {
      token?: string;
      access_token?: string;
    };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new RegistryAuthError(
        `the token service of ${host} returned no token`,
        host,
        'The registry is misconfigured',
      );
    return token;
  }
}
