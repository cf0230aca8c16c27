import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDestination } from '@launch-agent/config';
import { EcrRegistry, ecrEndpoint } from '../src/registries/ecr-registry.js';
import { RegistryAuthError, RegistryError } from '../src/registries/registry.js';

/**
 * A local server speaking the ECR API's JSON protocol (X-Amz-Target, application/x-amz-json-1.1)
 * for the calls the registry makes. The same calls run against moto in test/integration.
 */
interface Call {
  target: string;
  body: Record<string, unknown>;
}

async function fakeEcr(state: {
  repositories: Set<string>;
  tags: Map<string, string>;
}): Promise<{ url: string; calls: Call[]; server: Server }> {
  const calls: Call[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target']).split('.').pop()!;
      const body = JSON.parse(text || '{}') as Record<string, unknown>;
      calls.push({ target, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      const repo = body.repositoryName as string | undefined;
      if (target === 'GetAuthorizationToken') {
        send(200, {
          authorizationData: [
            {
              authorizationToken: Buffer.from('AWS:ecr-password').toString('base64'),
              proxyEndpoint: 'https://x',
              expiresAt: 1,
            },
          ],
        });
      } else if (target === 'DescribeImages') {
        if (!state.repositories.has(repo!))
          return send(400, { __type: 'RepositoryNotFoundException', message: 'no repo' });
        const tag = (body.imageIds as Array<{ imageTag: string }>)[0]!.imageTag;
        const digest = state.tags.get(`${repo}:${tag}`);
        if (!digest) return send(400, { __type: 'ImageNotFoundException', message: 'no image' });
        send(200, {
          imageDetails: [{ imageDigest: digest, imageTags: [tag], repositoryName: repo }],
        });
      } else if (target === 'DescribeRepositories') {
        const name = (body.repositoryNames as string[])[0]!;
        if (!state.repositories.has(name))
          return send(400, { __type: 'RepositoryNotFoundException', message: 'no repo' });
        send(200, { repositories: [{ repositoryName: name }] });
      } else if (target === 'CreateRepository') {
        state.repositories.add(repo!);
        send(200, { repository: { repositoryName: repo } });
      } else {
        send(400, { __type: 'UnknownOperationException' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

const servers: Server[] = [];
const savedEnv = { ...process.env };
beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
});
afterAll(() => {
  servers.forEach((s) => s.close());
  process.env = savedEnv;
});

const destination = parseDestination(
  '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/launch-images',
).value!;

describe('ECR registry', () => {
  it('takes its endpoint from the option, then AWS_ENDPOINT_URL_ECR, then AWS_ENDPOINT_URL', () => {
    expect(ecrEndpoint({ env: {} })).toBeUndefined();
    expect(ecrEndpoint({ env: { AWS_ENDPOINT_URL: 'http://a' } })).toBe('http://a');
    expect(
      ecrEndpoint({ env: { AWS_ENDPOINT_URL: 'http://a', AWS_ENDPOINT_URL_ECR: 'http://b' } }),
    ).toBe('http://b');
    expect(ecrEndpoint({ endpoint: 'http://c', env: { AWS_ENDPOINT_URL_ECR: 'http://b' } })).toBe(
      'http://c',
    );
  });

  it('checks the tag with DescribeImages in the account and nested repository of the destination', async () => {
    const state = {
      repositories: new Set(['team/launch-images']),
      tags: new Map([['team/launch-images:abc', 'sha256:1']]),
    };
    const { url, calls, server } = await fakeEcr(state);
    servers.push(server);
    const registry = new EcrRegistry(destination, { env: { AWS_ENDPOINT_URL: url } });
    expect(await registry.exists('abc')).toEqual({ exists: true, digest: 'sha256:1' });
    expect(await registry.exists('other')).toEqual({ exists: false });
    expect(calls[0]).toEqual({
      target: 'DescribeImages',
      body: {
        registryId: '123456789012',
        repositoryName: 'team/launch-images',
        imageIds: [{ imageTag: 'abc' }],
      },
    });
  });

  it('reads GetAuthorizationToken into push credentials for the destination host', async () => {
    const { url, server } = await fakeEcr({ repositories: new Set(), tags: new Map() });
    servers.push(server);
    const credentials = await new EcrRegistry(destination, { endpoint: url }).credentials();
    expect(credentials.toDockerAuthConfig()).toEqual({
      username: 'AWS',
      password: 'ecr-password',
      serveraddress: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
    });
  });

  it('reports a missing repository as "no image", and refuses to push into it unless create-repository is set', async () => {
    const state = { repositories: new Set<string>(), tags: new Map<string, string>() };
    const { url, calls, server } = await fakeEcr(state);
    servers.push(server);
    expect(await new EcrRegistry(destination, { endpoint: url }).exists('abc')).toEqual({
      exists: false,
    });
    await expect(new EcrRegistry(destination, { endpoint: url }).prepareForPush()).rejects.toThrow(
      /builder.create-repository/,
    );
    expect(calls.some((c) => c.target === 'CreateRepository')).toBe(false);
    await new EcrRegistry(destination, { endpoint: url, createRepository: true }).prepareForPush();
    expect(state.repositories.has('team/launch-images')).toBe(true);
    await new EcrRegistry(destination, { endpoint: url, createRepository: true }).prepareForPush();
    expect(calls.filter((c) => c.target === 'CreateRepository')).toHaveLength(1);
  });

  it('turns an access denial into an auth error that names the permissions', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'denied' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const registry = new EcrRegistry(destination, {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    const error = await registry.exists('abc').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as RegistryError).message).toMatch(/ecr:DescribeImages/);
  });
});
