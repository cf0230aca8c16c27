// The push probe's bearer-token exchange, against a local server that answers with the shape of
// the distribution token protocol (Artifact Registry and ACR speak it; neither has an emulator).
// Docker Hub style: 401 + `WWW-Authenticate: Bearer realm=...,service=...`, a token endpoint that
// wants `repository:<repo>:pull,push`, then 202 + Location for the upload, then DELETE.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Destination } from '../../packages/config/src/index.js';
import { probePush } from '../../packages/runtime/src/doctor/registry-push-probe.js';
import { RegistryCredentials } from '../../packages/runtime/src/registries/registry.js';

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  body: string;
}

let server: http.Server;
let host: string;
const seen: Seen[] = [];
const PUSHER = { user: 'pusher', password: 'push-secret' };
const READER = { user: 'reader', password: 'read-secret' };
const REFRESH = 'refresh-token-value';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url!, `http://${host}`);
      seen.push({
        method: req.method!,
        path: url.pathname,
        authorization: req.headers.authorization,
        body,
      });
      if (url.pathname === '/oauth2/token') {
        // GET with basic credentials, or POST with a refresh token (ACR's identity token).
        let user: string | undefined;
        let scope: string | null;
        if (req.method === 'POST') {
          const form = new URLSearchParams(body);
          user = form.get('refresh_token') === REFRESH ? PUSHER.user : undefined;
          scope = form.get('scope');
        } else {
          const basic = Buffer.from(
            (req.headers.authorization ?? '').replace(/^Basic /, ''),
            'base64',
          ).toString();
          user =
            basic === `${PUSHER.user}:${PUSHER.password}`
              ? PUSHER.user
              : basic === `${READER.user}:${READER.password}`
                ? READER.user
                : undefined;
          scope = url.searchParams.get('scope');
        }
        if (!user) return void res.writeHead(401).end();
        const actions = user === PUSHER.user ? (scope?.split(':')[2] ?? '') : 'pull';
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(
          JSON.stringify({ token: `token-for-${user}-${actions.replace(',', '+')}` }),
        );
      }
      if (url.pathname === '/v2/team/images/blobs/uploads/' && req.method === 'POST') {
        const auth = req.headers.authorization;
        if (!auth) {
          res.writeHead(401, {
            'WWW-Authenticate': `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:team/images:pull"`,
          });
          return void res.end();
        }
        if (!auth.includes('push')) return void res.writeHead(403).end();
        res.writeHead(202, { Location: '/v2/team/images/blobs/uploads/abc-123' });
        return void res.end();
      }
      if (url.pathname === '/v2/team/images/blobs/uploads/abc-123' && req.method === 'DELETE') {
        return void res.writeHead(204).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => (seen.length = 0));

function destination(): Destination {
  return { kind: 'oci', host, repository: 'team/images', reference: `${host}/team/images` };
}

test('password credentials: the token is asked for with pull,push scope, the upload is started and cancelled', async () => {
  const detail = await probePush(
    destination(),
    RegistryCredentials.password(host, PUSHER.user, PUSHER.password),
  );
  expect(detail).toBe(`${host} accepted a blob upload to team/images (cancelled again)`);
  const token = seen.find((s) => s.path === '/oauth2/token')!;
  expect(token.method).toBe('GET');
  expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
    'POST /v2/team/images/blobs/uploads/',
    'GET /oauth2/token',
    'POST /v2/team/images/blobs/uploads/',
    'DELETE /v2/team/images/blobs/uploads/abc-123',
  ]);
  expect(seen[2]!.authorization).toBe('Bearer token-for-pusher-pull+push');
});

test('an identity token (ACR refresh token) is exchanged by POST', async () => {
  await probePush(destination(), RegistryCredentials.identityToken(host, REFRESH));
  const token = seen.find((s) => s.path === '/oauth2/token')!;
  expect(token.method).toBe('POST');
  expect(new URLSearchParams(token.body).get('grant_type')).toBe('refresh_token');
  expect(new URLSearchParams(token.body).get('scope')).toBe('repository:team/images:pull,push');
});

test('an identity with read access only is refused with the fix, and the secret is not in the error', async () => {
  const error = await probePush(
    destination(),
    RegistryCredentials.password(host, READER.user, READER.password),
  ).catch((e: unknown) => e as Error);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).name).toBe('RegistryAuthError');
  expect((error as Error).message).toContain('refused a push to team/images (HTTP 403)');
  expect((error as Error).message).toContain('Give the identity push rights on team/images');
  expect((error as Error).message).not.toContain(READER.password);
});

test('wrong credentials: the token service refuses', async () => {
  const error = await probePush(
    destination(),
    RegistryCredentials.password(host, 'who', 'wrong'),
  ).catch((e: unknown) => e as Error);
  expect((error as Error).message).toContain(
    'token service refused push access to team/images (HTTP 401)',
  );
});
