import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryAuthError, RegistryCredentials } from './registry.js';

/** The parts of docker's `config.json` that hold registry credentials. */
interface DockerConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Runs `docker-credential-<helper> get` with the server on stdin; returns its stdout. */
export type CredentialHelperRunner = (
  helper: string,
  serverAddress: string,
  env: NodeJS.ProcessEnv,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface DockerCredentialOptions {
  env?: NodeJS.ProcessEnv;
  /** Replaces running the helper program (tests). */
  runHelper?: CredentialHelperRunner;
}

const DOCKER_HUB_KEYS = [
  'https://index.docker.io/v1/',
  'index.docker.io',
  'docker.io',
  'registry-1.docker.io',
];

/** `DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** Docker's `ConvertToHostname`: `https://host:5000/v1/` and `host:5000` name the same registry. */
function hostnameOf(key: string): string {
  return key
    .replace(/^https?:\/\//, '')
    .split('/')[0]!
    .toLowerCase();
}

const runHelperProgram: CredentialHelperRunner = (helper, serverAddress, env) =>
  new Promise((resolve, reject) => {
    // The server address goes on stdin, the secret comes back on stdout: neither is ever an argument.
    const child = spawn(`docker-credential-${helper}`, ['get'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
    child.stdin.end(serverAddress);
  });

async function fromHelper(
  helper: string,
  host: string,
  run: CredentialHelperRunner,
  env: NodeJS.ProcessEnv,
): Promise<RegistryCredentials | undefined> {
  let result;
  try {
    result = await run(helper, host, env);
  } catch (error) {
    throw new RegistryAuthError(
      `credential helper docker-credential-${helper} for ${host} could not be run (${(error as Error).message})`,
      host,
      `Install docker-credential-${helper} on the PATH, or remove it from credHelpers/credsStore in ${dockerConfigPath(env)}`,
    );
  }
  if (result.exitCode !== 0) {
    if (/credentials not found/i.test(result.stdout + result.stderr)) return undefined;
    const reason = (result.stderr || result.stdout).trim().split('\n')[0] ?? '';
    throw new RegistryAuthError(
      `credential helper docker-credential-${helper} failed for ${host} (exit ${result.exitCode}: ${reason})`,
      host,
      `Log in again with the helper's own tool, or check docker-credential-${helper} get`,
    );
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(result.stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new RegistryAuthError(
      `credential helper docker-credential-${helper} returned something that is not JSON for ${host}`,
      host,
      `Check that docker-credential-${helper} get prints {"Username": ..., "Secret": ...}`,
    );
  }
  if (!parsed.Secret) return undefined;
  // Docker's convention: the username "<token>" marks an identity (refresh) token.
  if (parsed.Username === '<token>') return RegistryCredentials.identityToken(host, parsed.Secret);
  return RegistryCredentials.password(host, parsed.Username ?? '', parsed.Secret);
}

/**
 * Finds push credentials for `host` the way the docker CLI does: a `credHelpers` entry for the
 * host, else the `credsStore`, else the `auths` entry in config.json. Undefined when there are none.
 */
export async function dockerCredentialsFor(
  host: string,
  options: DockerCredentialOptions = {},
): Promise<RegistryCredentials | undefined> {
  const env = options.env ?? process.env;
  const path = dockerConfigPath(env);
  let config: DockerConfigFile;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfigFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryAuthError(
      `cannot read docker config ${path}: ${(error as Error).message}`,
      host,
      'Fix or remove that file',
    );
  }
  const wanted = host.toLowerCase();
  const isHub = DOCKER_HUB_KEYS.includes(wanted);
  const matches = (key: string) =>
    hostnameOf(key) === wanted || (isHub && DOCKER_HUB_KEYS.includes(hostnameOf(key)));
  const run = options.runHelper ?? runHelperProgram;
  // Docker Hub's credentials are stored under its v1 URL.
  const serverAddress = isHub ? 'https://index.docker.io/v1/' : host;

  const helperKey = Object.keys(config.credHelpers ?? {}).find(matches);
  if (helperKey !== undefined)
    return fromHelper(config.credHelpers![helperKey]!, serverAddress, run, env);
  if (config.credsStore) return fromHelper(config.credsStore, serverAddress, run, env);

  const authKey = Object.keys(config.auths ?? {}).find(matches);
  if (authKey === undefined) return undefined;
  const entry = config.auths![authKey]!;
  if (entry.identitytoken)
    return RegistryCredentials.identityToken(serverAddress, entry.identitytoken);
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) {
      throw new RegistryAuthError(
        `the auths entry for ${authKey} in ${path} is not base64 of "user:password"`,
        host,
        `Log in again (docker login ${host})`,
      );
    }
    return RegistryCredentials.password(
      serverAddress,
      decoded.slice(0, colon),
      decoded.slice(colon + 1),
    );
  }
  if (entry.username && entry.password)
    return RegistryCredentials.password(serverAddress, entry.username, entry.password);
  return undefined;
}
