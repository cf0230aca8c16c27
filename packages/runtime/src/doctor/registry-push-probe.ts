import type { ECRClient } from '@aws-sdk/client-ecr';
import type { Destination } from '@launch-agent/config';
import { httpRequest, parseAuthenticate, type HttpResponse } from '../registries/http-request.js';
import {
  RegistryAuthError,
  RegistryError,
  type RegistryCredentials,
} from '../registries/registry.js';

export interface PushProbeOptions {
  env?: NodeJS.ProcessEnv;
  /** Registries reached over plain HTTP when HTTPS fails; default: loopback hosts, as Docker does. */
  allowHttp?: boolean;
  /** A prepared ECR client (tests). */
  ecrClient?: ECRClient;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** One request of the probe: the registries' HTTP helper, with the doctor's name and timeout. */
function request(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<HttpResponse> {
  return httpRequest({
    method,
    url,
    headers: { 'User-Agent': 'launch-agent-doctor', ...headers },
    ...(body !== undefined ? { body } : {}),
    timeoutMs: 15_000,
  });
}

/**
 * Proves that the identity may push, without pushing: starts a blob upload in the repository
 * (what every push does first) and cancels it. ECR is asked through its API (InitiateLayerUpload,
 * the action a push needs); an upload left incomplete there expires by itself.
 */
export async function probePush(
  destination: Destination,
  credentials: RegistryCredentials | undefined,
  options: PushProbeOptions = {},
): Promise<string> {
  if (destination.kind === 'ecr') return probeEcrPush(destination, options);
  return probeOciPush(destination, credentials, options);
}

async function probeEcrPush(destination: Destination, options: PushProbeOptions): Promise<string> {
  const { account, region } = destination.ecr!;
  // The ECR module and SDK load only for an ECR destination.
  const [{ ECRClient, InitiateLayerUploadCommand }, { ecrEndpoint }] = await Promise.all([
    import('@aws-sdk/client-ecr'),
    import('../registries/ecr-registry.js'),
  ]);
  const endpoint = ecrEndpoint({ env: options.env ?? process.env });
  const client = options.ecrClient ?? new ECRClient({ region, ...(endpoint ? { endpoint } : {}) });
  try {
    await client.send(
      new InitiateLayerUploadCommand({
        registryId: account,
        repositoryName: destination.repository,
      }),
    );
    return 'ECR accepted InitiateLayerUpload (the first step of a push)';
  } catch (error) {
    const name = (error as Error).name;
    const arn = `arn:aws:ecr:${region}:${account}:repository/${destination.repository}`;
    if (name === 'RepositoryNotFoundException') {
      throw new RegistryError(
        `ECR repository ${destination.repository} does not exist in account ${account}, region ${region}`,
        destination.host,
        `Create it (aws ecr create-repository --repository-name ${destination.repository} --region ${region}), or set builder.create-repository: true`,
        { cause: error },
      );
    }
    if (name === 'AccessDeniedException') {
      throw new RegistryAuthError(
        `AWS refused ecr:InitiateLayerUpload on ${arn}`,
        destination.host,
        'Attach the policy `launch-agent permissions` prints to the pushing identity',
        { cause: error },
      );
    }
    throw new RegistryError(
      `ECR failed InitiateLayerUpload: ${(error as Error).message}`,
      destination.host,
      'Check the region and account in builder.destination',
      { cause: error },
    );
  } finally {
    if (!options.ecrClient) client.destroy();
  }
}

async function probeOciPush(
  destination: Destination,
  credentials: RegistryCredentials | undefined,
  options: PushProbeOptions,
): Promise<string> {
  const hub = destination.host === 'docker.io';
  const host = hub ? 'registry-1.docker.io' : destination.host;
  const repository =
    hub && !destination.repository.includes('/')
      ? `library/${destination.repository}`
      : destination.repository;
  const allowHttp = options.allowHttp ?? isLoopback(host);
  const path = `/v2/${repository}/blobs/uploads/`;

  let base = `https://${host}`;
  let reply: HttpResponse;
  try {
    reply = await request('POST', `${base}${path}`, {});
  } catch (error) {
    if (!allowHttp) {
      throw new RegistryError(
        `registry ${host} is not reachable (${(error as Error).message})`,
        host,
        'Check the destination host and port, and that the registry serves HTTPS with a trusted certificate',
        { cause: error },
      );
    }
    base = `http://${host}`;
    try {
      reply = await request('POST', `${base}${path}`, {});
    } catch (second) {
      throw new RegistryError(
        `registry ${host} is not reachable (${(second as Error).message})`,
        host,
        'Check that the registry is running and the destination host and port are right',
        { cause: second },
      );
    }
  }

  let authorization: string | undefined;
  if (reply.status === 401) {
    const challenge = parseAuthenticate(reply.headers['www-authenticate'] as string | undefined);
    if (challenge?.scheme === 'basic') {
      authorization = credentials?.basicAuthorization();
    } else if (challenge?.scheme === 'bearer') {
      authorization = `Bearer ${await fetchPushToken(host, repository, challenge.params, credentials)}`;
    }
    if (!authorization) {
      throw new RegistryAuthError(
        `${host} requires credentials to push and none were found`,
        host,
        `Run docker login ${host} (or mount builder.docker-config-secret), with an account that may push to ${repository}`,
      );
    }
    reply = await request('POST', `${base}${path}`, { Authorization: authorization });
  }
  if (reply.status === 202) {
    const location = reply.headers.location;
    if (typeof location === 'string') {
      const url = new URL(location, base).toString();
      // Cancelling is a courtesy: registries expire abandoned uploads themselves.
      await request('DELETE', url, authorization ? { Authorization: authorization } : {}).catch(
        () => undefined,
      );
    }
    return `${host} accepted a blob upload to ${repository} (cancelled again)`;
  }
  if (reply.status === 401 || reply.status === 403) {
    throw new RegistryAuthError(
      `${host} refused a push to ${repository} (HTTP ${reply.status})`,
      host,
      `Give the identity push rights on ${repository} (see launch-agent permissions), or log in with an account that has them`,
    );
  }
  throw new RegistryError(
    `${host} answered HTTP ${reply.status} to the start of a push`,
    host,
    'Check that the destination names a registry that speaks the OCI distribution API',
  );
}

async function fetchPushToken(
  host: string,
  repository: string,
  params: Record<string, string>,
  credentials: RegistryCredentials | undefined,
): Promise<string> {
  const realm = params.realm;
  if (!realm)
    throw new RegistryAuthError(
      `${host} sent a bearer challenge without a realm`,
      host,
      'The registry is misconfigured',
    );
  const scope = `repository:${repository}:pull,push`;
  let reply: HttpResponse;
  if (credentials?.kind === 'identity-token') {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      service: params.service ?? host,
      scope,
      refresh_token: credentials.revealSecret(),
      client_id: 'launch-agent',
    });
    reply = await request(
      'POST',
      realm,
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      form.toString(),
    );
  } else {
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', scope);
    const basic = credentials?.basicAuthorization();
    reply = await request('GET', url.toString(), basic ? { Authorization: basic } : {});
  }
  if (reply.status !== 200) {
    throw new RegistryAuthError(
      `${host}'s token service refused push access to ${repository} (HTTP ${reply.status})`,
      host,
      `Give the identity push rights on ${repository}, or log in with an account that has them`,
    );
  }
  const body = JSON.parse(reply.body.toString('utf8')) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token)
    throw new RegistryAuthError(
      `${host}'s token service answered without a token`,
      host,
      'The registry is misconfigured',
    );
  return token;
}
