// Artifact Registry and ACR have no emulator, so these tests run the real SDK clients
// (@google-cloud/artifact-registry over its REST transport, @azure/container-registry) against a
// local node:http(s) server on 127.0.0.1 that speaks the same REST shape: the same paths,
// challenges, token exchanges and JSON bodies as the real services. They check the HTTP exchange,
// not the services themselves, and need no scripts/testenv.
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDestination } from '@launch-agent/config';
import { RegistryAuthError } from '@launch-agent/runtime';
import {
  AcrRegistry,
  ACR_TOKEN_USERNAME,
} from '../../packages/runtime/src/registries/acr-registry.js';
import { pushDockerConfigJson } from '../../packages/runtime/src/builders/kaniko/kaniko-credentials.js';
import { ArtifactRegistry } from '../../packages/runtime/src/registries/artifact-registry.js';
import { createRequire } from 'node:module';
import { loopbackCertificate } from '../../packages/runtime/test/loopback-tls.js';

// google-auth-library is the runtime package's dependency; load the same copy it uses.
const { OAuth2Client } = createRequire(
  new URL('../../packages/runtime/package.json', import.meta.url),
)('google-auth-library') as typeof import('google-auth-library');

const servers: Server[] = [];
const dirs: string[] = [];
afterAll(() => {
  servers.forEach((s) => s.close());
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => resolve(text));
  });
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

describe('Artifact Registry (local server with the REST shape of artifactregistry.googleapis.com)', () => {
  const DIGEST = `sha256:${'12'.repeat(32)}`;
  // projects/P/locations/L/repositories/R/packages/<image, %2F-escaped>/tags/<tag> → version
  const tags = new Map([
    [
      'projects/ml-proj/locations/us-central1/repositories/launch/packages/team%2Ftrainer/tags/present',
      DIGEST,
    ],
    [
      'projects/ml-proj/locations/us-central1/repositories/launch/packages/other-image/tags/elsewhere',
      DIGEST,
    ],
  ]);
  const seen: Array<{ path: string; authorization?: string }> = [];
  let port = 0;

  beforeAll(async () => {
    port = await listen(
      createHttpServer((req, res) => {
        const url = new URL(req.url!, 'http://x');
        seen.push({
          path: url.pathname,
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        });
        if (req.headers.authorization !== 'Bearer ya29.test-token') {
          return json(res, 401, {
            error: {
              code: 401,
              message: 'Request had invalid authentication credentials.',
              status: 'UNAUTHENTICATED',
            },
          });
        }
        // The name travels as one path; the image's %2F arrives encoded once more (%252F).
        const name = decodeURIComponent(url.pathname.replace(/^\/v1\//, ''));
        const digest = tags.get(name);
        if (req.method !== 'GET' || !digest) {
          return json(res, 404, {
            error: { code: 404, message: `Requested entity was not found.`, status: 'NOT_FOUND' },
          });
        }
        const version = name.replace(/\/tags\/[^/]+$/, `/versions/${digest}`);
        json(res, 200, { name, version });
      }),
    );
  });

  const client = () => {
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: 'ya29.test-token', expiry_date: Date.now() + 3600_000 });
    return auth;
  };
  const registry = (destination: string) =>
    new ArtifactRegistry(parseDestination(destination).value!, {
      authClient: client(),
      apiEndpoint: '127.0.0.1',
      port,
      protocol: 'http',
    });

  it('finds a tag of the destination image with GetTag, and returns its digest', async () => {
    const found = await registry('us-central1-docker.pkg.dev/ml-proj/launch/team/trainer').exists(
      'present',
    );
    expect(found).toEqual({ exists: true, digest: DIGEST });
    expect(seen.at(-1)!.path).toBe(
      '/v1/projects/ml-proj/locations/us-central1/repositories/launch/packages/team%252Ftrainer/tags/present',
    );
  });

  it('does not count a tag that only another image in the same repository has (the reference agent did)', async () => {
    expect(
      await registry('us-central1-docker.pkg.dev/ml-proj/launch/team/trainer').exists('elsewhere'),
    ).toEqual({ exists: false });
    expect(
      await registry('us-central1-docker.pkg.dev/ml-proj/launch/other-image').exists('elsewhere'),
    ).toMatchObject({ exists: true });
  });

  it('pushes as oauth2accesstoken with the access token', async () => {
    const credentials = await registry(
      'us-central1-docker.pkg.dev/ml-proj/launch/team/trainer',
    ).credentials();
    expect(credentials.toDockerAuthConfig()).toEqual({
      username: 'oauth2accesstoken',
      password: 'ya29.test-token',
      serveraddress: 'us-central1-docker.pkg.dev',
    });
    // What the kaniko push container gets in its per-build Secret.
    expect(JSON.parse(pushDockerConfigJson(credentials))).toEqual({
      auths: {
        'us-central1-docker.pkg.dev': {
          auth: Buffer.from('oauth2accesstoken:ya29.test-token').toString('base64'),
        },
      },
    });
  });

  it('turns UNAUTHENTICATED into an auth error that names the permissions', async () => {
    const bad = new OAuth2Client();
    bad.setCredentials({ access_token: 'wrong', expiry_date: Date.now() + 3600_000 });
    const r = new ArtifactRegistry(
      parseDestination('us-central1-docker.pkg.dev/ml-proj/launch/team/trainer').value!,
      {
        authClient: bad,
        apiEndpoint: '127.0.0.1',
        port,
        protocol: 'http',
      },
    );
    const error = await r.exists('present').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as Error).message).toMatch(/artifactregistry/);
  });
});

describe('ACR (local HTTPS server with the REST shape of <name>.azurecr.io)', () => {
  const DIGEST = `sha256:${'34'.repeat(32)}`;
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const refreshToken = `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
  const calls: string[] = [];
  let endpoint = '';
  let ca = '';

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-tls-'));
    dirs.push(dir);
    const certificate = loopbackCertificate(dir);
    ca = certificate.cert.toString('utf8');
    let service = '';
    const server = createHttpsServer({ key: certificate.key, cert: ca }, async (req, res) => {
      const url = new URL(req.url!, 'https://x');
      const body = new URLSearchParams(await readBody(req));
      calls.push(`${req.method} ${url.pathname}`);
      if (url.pathname === '/oauth2/exchange') {
        // Entra ID access token → ACR refresh token.
        if (
          body.get('grant_type') !== 'access_token' ||
          body.get('access_token') !== 'entra-token' ||
          body.get('service') !== service
        ) {
          return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
        }
        return json(res, 200, { refresh_token: refreshToken });
      }
      if (url.pathname === '/oauth2/token') {
        if (body.get('refresh_token') !== refreshToken)
          return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
        return json(res, 200, { access_token: 'acr-access' });
      }
      if (req.headers.authorization !== 'Bearer acr-access') {
        const repo = decodeURIComponent(url.pathname.split('/')[3] ?? '');
        return json(
          res,
          401,
          { errors: [{ code: 'UNAUTHORIZED' }] },
          {
            'WWW-Authenticate': `Bearer realm="https://${service}/oauth2/token",service="${service}",scope="repository:${repo}:metadata_read"`,
          },
        );
      }
      const tagMatch = /^\/acr\/v1\/([^/]+)\/_tags\/([^/]+)$/.exec(url.pathname);
      if (tagMatch) {
        const [repo, tag] = [decodeURIComponent(tagMatch[1]!), decodeURIComponent(tagMatch[2]!)];
        if (repo !== 'team/trainer' || tag !== 'present')
          return json(res, 404, {
            errors: [{ code: 'TAG_UNKNOWN', message: 'the specified tag does not exist' }],
          });
        return json(res, 200, {
          registry: service,
          imageName: repo,
          tag: {
            name: tag,
            digest: DIGEST,
            createdTime: '2025-01-01T00:00:00Z',
            lastUpdateTime: '2025-01-01T00:00:00Z',
            signed: false,
            changeableAttributes: {
              deleteEnabled: true,
              writeEnabled: true,
              readEnabled: true,
              listEnabled: true,
            },
          },
        });
      }
      const manifestMatch = /^\/acr\/v1\/([^/]+)\/_manifests\/([^/]+)$/.exec(url.pathname);
      if (manifestMatch && decodeURIComponent(manifestMatch[2]!) === DIGEST) {
        return json(res, 200, {
          registry: service,
          imageName: decodeURIComponent(manifestMatch[1]!),
          manifest: {
            digest: DIGEST,
            imageSize: 1234,
            createdTime: '2025-01-01T00:00:00Z',
            lastUpdateTime: '2025-01-01T00:00:00Z',
            architecture: 'amd64',
            os: 'linux',
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            tags: ['present'],
            changeableAttributes: {
              deleteEnabled: true,
              writeEnabled: true,
              readEnabled: true,
              listEnabled: true,
            },
          },
        });
      }
      json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    });
    const port = await listen(server);
    service = `127.0.0.1:${port}`;
    endpoint = `https://${service}`;
  });

  const credential = {
    getToken: async () => ({ token: 'entra-token', expiresOnTimestamp: Date.now() + 3600_000 }),
  };
  const registry = () =>
    new AcrRegistry(parseDestination('myregistry.azurecr.io/team/trainer').value!, {
      credential,
      endpoint,
      ca: [ca],
    });

  it('answers the challenge (exchange, token) and reads the manifest properties of a tag in a nested repository', async () => {
    calls.length = 0;
    expect(await registry().exists('present')).toEqual({ exists: true, digest: DIGEST });
    expect(calls).toEqual([
      'GET /acr/v1/team%2Ftrainer/_tags/present',
      'POST /oauth2/exchange',
      'POST /oauth2/token',
      'GET /acr/v1/team%2Ftrainer/_tags/present',
      `GET /acr/v1/team%2Ftrainer/_manifests/${DIGEST.replace(':', '%3A')}`,
    ]);
  });

  it('reports a missing tag as not existing', async () => {
    expect(await registry().exists('absent')).toEqual({ exists: false });
  });

  it('pushes with the ACR refresh token under the all-zero user name', async () => {
    const credentials = await registry().credentials();
    expect(credentials.toDockerAuthConfig()).toEqual({
      username: ACR_TOKEN_USERNAME,
      password: refreshToken,
      serveraddress: 'myregistry.azurecr.io',
    });
    // What the kaniko push container gets in its per-build Secret: docker login's own form.
    expect(JSON.parse(pushDockerConfigJson(credentials))).toEqual({
      auths: {
        'myregistry.azurecr.io': {
          auth: Buffer.from(`${ACR_TOKEN_USERNAME}:${refreshToken}`).toString('base64'),
        },
      },
    });
  });
});
