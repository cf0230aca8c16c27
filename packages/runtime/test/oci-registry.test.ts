import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDestination } from '@launch-agent/config';
import { MANIFEST_ACCEPT, OciRegistry } from '../src/registries/oci-registry.js';
import {
  RegistryAuthError,
  RegistryCredentials,
  RegistryError,
} from '../src/registries/registry.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PASSWORD = 'pa55-word-not-for-logs';

type Handler = (req: IncomingMessage, res: ServerResponse, base: string) => void;

async function serve(
  handler: Handler,
): Promise<{ server: Server; host: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  let base = '';
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, base);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = `http://${host}`;
  return { server, host, requests };
}

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

function registryFor(
  host: string,
  repository: string,
  credentials?: RegistryCredentials,
): OciRegistry {
  const destination = parseDestination(`${host}/${repository}`).value!;
  return new OciRegistry(destination, { credentials: async () => credentials });
}

/** A manifest endpoint holding one tag, `present`, in repository `team/sub/app`. */
function manifests(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'HEAD' && req.url === '/v2/team/sub/app/manifests/present') {
    res.writeHead(200, {
      'Docker-Content-Digest': DIGEST,
      'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
    });
  } else {
    res.writeHead(404, { 'Content-Type': 'application/json' });
  }
  res.end();
}

describe('OCI distribution registry', () => {
  it('HEADs the manifest of a nested repository on a registry with a port, asking for OCI and Docker manifests and indexes', async () => {
    const { server, host, requests } = await serve((req, res) => manifests(req, res));
    servers.push(server);
    const registry = registryFor(host, 'team/sub/app');
    expect(registry.imageReference('present')).toBe(`${host}/team/sub/app:present`);
    expect(await registry.exists('present')).toEqual({ exists: true, digest: DIGEST });
    expect(await registry.exists('absent')).toEqual({ exists: false });
    const accept = String(requests[0]!.headers.accept);
    for (const type of [
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ]) {
      expect(accept).toContain(type);
    }
    expect(accept).toBe(MANIFEST_ACCEPT);
  });

  it('answers a Basic challenge with the credentials, and reuses them', async () => {
    const good = `Basic ${Buffer.from(`ann:${PASSWORD}`).toString('base64')}`;
    const { server, host, requests } = await serve((req, res) => {
      if (req.headers.authorization !== good) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Registry Realm"' });
        res.end();
        return;
      }
      manifests(req, res);
    });
    servers.push(server);
    const registry = registryFor(
      host,
      'team/sub/app',
      RegistryCredentials.password(host, 'ann', PASSWORD),
    );
    expect((await registry.exists('present')).exists).toBe(true);
    expect((await registry.exists('absent')).exists).toBe(false);
    expect(requests.filter((r) => r.headers.authorization === undefined)).toHaveLength(1);
  });

  it('says to log in, without any secret, when a Basic registry gets no or wrong credentials', async () => {
    const { server, host } = await serve((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Registry Realm"' });
      res.end();
    });
    servers.push(server);
    await expect(registryFor(host, 'team/sub/app').exists('x')).rejects.toThrow(/docker login/);
    const wrong = registryFor(
      host,
      'team/sub/app',
      RegistryCredentials.password(host, 'ann', PASSWORD),
    );
    const error = await wrong.exists('x').catch((e: Error) => e);
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(String((error as Error).message)).not.toContain(PASSWORD);
  });

  it('follows a Bearer challenge: token from the realm with service and pull scope, basic-authenticated', async () => {
    const seenTokenRequests: URL[] = [];
    const { server, host } = await serve((req, res, base) => {
      const url = new URL(req.url!, base);
      if (url.pathname === '/token') {
        seenTokenRequests.push(url);
        const ok =
          req.headers.authorization ===
          `Basic ${Buffer.from(`ann:${PASSWORD}`).toString('base64')}`;
        res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
        res.end(ok ? JSON.stringify({ token: 'tok-1' }) : '{}');
        return;
      }
      if (req.headers.authorization !== 'Bearer tok-1') {
        res.writeHead(401, {
          'WWW-Authenticate': `Bearer realm="${base}/token",service="test-registry",scope="repository:team/sub/app:pull"`,
        });
        res.end();
        return;
      }
      manifests(req, res);
    });
    servers.push(server);
    const registry = registryFor(
      host,
      'team/sub/app',
      RegistryCredentials.password(host, 'ann', PASSWORD),
    );
    expect(await registry.exists('present')).toEqual({ exists: true, digest: DIGEST });
    expect(seenTokenRequests[0]!.searchParams.get('service')).toBe('test-registry');
    expect(seenTokenRequests[0]!.searchParams.get('scope')).toBe('repository:team/sub/app:pull');
  });

  it('never sends credentials to a token realm on another host over plain http', async () => {
    const stolen: IncomingMessage[] = [];
    const elsewhere = await serve((req, res) => {
      stolen.push(req);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'tok-evil' }));
    });
    servers.push(elsewhere.server);
    const { server, host } = await serve((_req, res) => {
      res.writeHead(401, {
        'WWW-Authenticate': `Bearer realm="http://${elsewhere.host}/token",service="x"`,
      });
      res.end();
    });
    servers.push(server);
    const registry = registryFor(
      host,
      'team/sub/app',
      RegistryCredentials.password(host, 'ann', PASSWORD),
    );
    const error = await registry.exists('present').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as Error).message).toContain(
      `asks for credentials at http://${elsewhere.host} over http; they are sent only over https or to the registry itself`,
    );
    expect((error as Error).message).not.toContain(PASSWORD);
    expect(stolen).toHaveLength(0);
  });

  it('treats a registry error status as an error, not as "missing"', async () => {
    const { server, host } = await serve((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    servers.push(server);
    await expect(registryFor(host, 'team/sub/app').exists('x')).rejects.toBeInstanceOf(
      RegistryError,
    );
  });

  it('says the registry is unreachable when nothing listens', async () => {
    const { server, host } = await serve(() => {});
    await new Promise((resolve) => server.close(resolve));
    await expect(registryFor(host, 'team/app').exists('x')).rejects.toThrow(/not reachable/);
  });
});
