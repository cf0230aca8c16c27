import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  dockerCredentialsFor,
  type CredentialHelperRunner,
} from '../src/registries/docker-credentials.js';
import { RegistryAuthError, RegistryCredentials } from '../src/registries/registry.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function configDir(config: unknown): NodeJS.ProcessEnv {
  const d = mkdtempSync(join(tmpdir(), 'docker-config-'));
  roots.push(d);
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return { DOCKER_CONFIG: d };
}
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker config.json credentials', () => {
  it('reads auths entries by host, with or without a scheme and path, ports included', async () => {
    const env = configDir({
      auths: { 'https://registry.example.com:5000/v1/': { auth: b64('ann:s3cret:with:colons') } },
    });
    const creds = await dockerCredentialsFor('registry.example.com:5000', { env });
    expect(creds?.toDockerAuthConfig()).toEqual({
      username: 'ann',
      password: 's3cret:with:colons',
      serveraddress: 'registry.example.com:5000',
    });
    expect(await dockerCredentialsFor('registry.example.com', { env })).toBeUndefined();
  });

  it('returns identity tokens as such', async () => {
    const env = configDir({ auths: { 'r.example.com': { identitytoken: 'refresh-123' } } });
    const creds = await dockerCredentialsFor('r.example.com', { env });
    expect(creds?.kind).toBe('identity-token');
    expect(creds?.toDockerAuthConfig()).toEqual({
      identitytoken: 'refresh-123',
      serveraddress: 'r.example.com',
    });
  });

  it('asks the credHelpers helper for the host, passing the host on stdin, before credsStore and auths', async () => {
    const env = configDir({
      credHelpers: { 'r.example.com': 'ecr-login' },
      credsStore: 'desktop',
      auths: { 'r.example.com': { auth: b64('x:y') } },
    });
    const calls: Array<[string, string]> = [];
    const runHelper: CredentialHelperRunner = async (helper, server) => {
      calls.push([helper, server]);
      return {
        exitCode: 0,
        stdout: JSON.stringify({ ServerURL: server, Username: 'AWS', Secret: 'pw' }),
        stderr: '',
      };
    };
    const creds = await dockerCredentialsFor('r.example.com', { env, runHelper });
    expect(calls).toEqual([['ecr-login', 'r.example.com']]);
    expect(creds?.toDockerAuthConfig()).toMatchObject({ username: 'AWS', password: 'pw' });
  });

  it('uses credsStore for hosts without a helper; "<token>" means an identity token; not found means none', async () => {
    const env = configDir({ credsStore: 'pass' });
    const token: CredentialHelperRunner = async () => ({
      exitCode: 0,
      stdout: '{"Username":"<token>","Secret":"rt"}',
      stderr: '',
    });
    expect((await dockerCredentialsFor('h.example.com', { env, runHelper: token }))?.kind).toBe(
      'identity-token',
    );
    const missing: CredentialHelperRunner = async () => ({
      exitCode: 1,
      stdout: 'credentials not found in native keychain\n',
      stderr: '',
    });
    expect(
      await dockerCredentialsFor('h.example.com', { env, runHelper: missing }),
    ).toBeUndefined();
    const broken: CredentialHelperRunner = async () => ({
      exitCode: 2,
      stdout: '',
      stderr: 'gpg: decryption failed\n',
    });
    await expect(
      dockerCredentialsFor('h.example.com', { env, runHelper: broken }),
    ).rejects.toBeInstanceOf(RegistryAuthError);
  });

  it('runs a real helper program from PATH', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'helper-bin-'));
    roots.push(bin);
    // The helper echoes the server it was asked about, proving stdin carried it.
    writeFileSync(
      join(bin, 'docker-credential-fake'),
      '#!/bin/sh\n[ "$1" = get ] || exit 3\nread server\nprintf \'{"ServerURL":"%s","Username":"u-%s","Secret":"pw"}\' "$server" "$server"\n',
      { mode: 0o755 },
    );
    const env = {
      ...configDir({ credHelpers: { 'h.example.com': 'fake' } }),
      PATH: `${bin}:${process.env.PATH}`,
    };
    const creds = await dockerCredentialsFor('h.example.com', { env });
    expect(creds?.username).toBe('u-h.example.com');
  });

  it('is undefined without a config file', async () => {
    expect(
      await dockerCredentialsFor('h.example.com', { env: { DOCKER_CONFIG: '/nonexistent-dir' } }),
    ).toBeUndefined();
  });

  it('never shows the secret when credentials are printed, logged or serialized', () => {
    const creds = RegistryCredentials.password('h.example.com', 'ann', 'TOPSECRET');
    const shown = [
      String(creds),
      JSON.stringify(creds),
      inspect(creds),
      `${creds}`,
      inspect({ nested: creds }),
    ].join('\n');
    expect(shown).not.toContain('TOPSECRET');
    expect(creds.toDockerAuthConfig().password).toBe('TOPSECRET');
  });
});
