// The integration tests' view of the local test environment (scripts/testenv).
//
// loadTestEnv() reads the environment that `eval "$(scripts/testenv env)"` sets. When it is not
// set (a plain `pnpm test:integration`), it runs `scripts/testenv env` itself and copies the
// values into process.env, so every SDK's own environment lookup (AWS_ENDPOINT_URL,
// STORAGE_EMULATOR_HOST, DOCKER_HOST, KUBECONFIG, ...) points at the test services.
// requireServices() fails fast, with "run scripts/testenv up", when a service is down.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1ResourceAttributes,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from '@kubernetes/client-node';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Variables `scripts/testenv env` exports; all must be present for the environment to count as loaded. */
const REQUIRED = [
  'TESTENV_STATE',
  'KUBECONFIG',
  'DOCKER_HOST',
  'TESTENV_REGISTRY',
  'TESTENV_AUTH_REGISTRY',
  'TESTENV_AUTH_REGISTRY_USER',
  'TESTENV_AUTH_REGISTRY_PASSWORD',
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
  'STORAGE_EMULATOR_HOST',
  'AZURE_STORAGE_CONNECTION_STRING',
] as const;

export interface TestEnv {
  /** The state directory (data, logs, credentials). */
  state: string;
  kubeconfig: string;
  /** unix:///.../podman.sock */
  dockerHost: string;
  /** The socket path of dockerHost. */
  dockerSocket: string;
  /** host:port of the registry without auth. */
  registry: string;
  /** host:port of the registry with htpasswd auth. */
  authRegistry: string;
  authRegistryUser: string;
  authRegistryPassword: string;
  /** moto: S3, ECR and the other AWS APIs. */
  awsEndpoint: string;
  awsRegion: string;
  /** fake-gcs-server, http://127.0.0.1:PORT */
  gcsEndpoint: string;
  azureConnectionString: string;
  /** The Azurite blob endpoint, http://127.0.0.1:PORT/devstoreaccount1 */
  azureBlobEndpoint: string;
}

/** Parses the `export NAME='value'` lines that scripts/testenv env prints. */
export function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = unquote(m[2]);
  }
  return out;
}

function unquote(raw: string): string {
  // Shell words made of '...' runs and \' escapes (what scripts/testenv prints), or bare words.
  let out = '';
  for (let i = 0; i < raw.length;) {
    if (raw[i] === "'") {
      const end = raw.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${raw}`);
      out += raw.slice(i + 1, end);
      i = end + 1;
    } else if (raw[i] === '\\' && i + 1 < raw.length) {
      out += raw[i + 1];
      i += 2;
    } else {
      out += raw[i];
      i += 1;
    }
  }
  return out;
}

let cached: TestEnv | undefined;

/** The test environment's coordinates; also makes sure process.env carries them. */
export function loadTestEnv(): TestEnv {
  if (cached) return cached;
  const missing = REQUIRED.filter((k) => !process.env[k]);
  if (missing.length > 0) {
    let text: string;
    try {
      text = execFileSync(path.join(repoRoot, 'scripts/testenv'), ['env'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw new Error(
        `testenv: ${missing.join(', ')} not set and "scripts/testenv env" failed: ${(err as Error).message}\n` +
          'Run scripts/testenv up, then eval "$(scripts/testenv env)".',
        { cause: err },
      );
    }
    // All or nothing: never mix a developer's own KUBECONFIG with the test services.
    Object.assign(process.env, parseExports(text));
  }
  const still = REQUIRED.filter((k) => !process.env[k]);
  if (still.length > 0) {
    throw new Error(
      `testenv: scripts/testenv env did not set ${still.join(', ')}; run scripts/testenv up`,
    );
  }
  const e = process.env as Record<(typeof REQUIRED)[number], string>;
  const dockerHost = e.DOCKER_HOST;
  if (!dockerHost.startsWith('unix://')) {
    throw new Error(
      `testenv: DOCKER_HOST must be a unix:// socket (scripts/testenv env), got ${dockerHost}`,
    );
  }
  const blob = /BlobEndpoint=([^;]+)/.exec(e.AZURE_STORAGE_CONNECTION_STRING);
  cached = {
    state: e.TESTENV_STATE,
    kubeconfig: e.KUBECONFIG,
    dockerHost,
    dockerSocket: dockerHost.slice('unix://'.length),
    registry: e.TESTENV_REGISTRY,
    authRegistry: e.TESTENV_AUTH_REGISTRY,
    authRegistryUser: e.TESTENV_AUTH_REGISTRY_USER,
    authRegistryPassword: e.TESTENV_AUTH_REGISTRY_PASSWORD,
    awsEndpoint: e.AWS_ENDPOINT_URL,
    awsRegion: e.AWS_REGION,
    gcsEndpoint: e.STORAGE_EMULATOR_HOST,
    azureConnectionString: e.AZURE_STORAGE_CONNECTION_STRING,
    azureBlobEndpoint: blob?.[1] ?? '',
  };
  return cached;
}

export type Service =
  'kubernetes' | 'docker' | 'registry' | 'auth-registry' | 'aws' | 'gcs' | 'azure';

function hostPort(url: string): { host: string; port: number } {
  try {
    const u = new URL(url.includes('://') ? url : `tcp://${url}`);
    return { host: u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
  } catch {
    return { host: '127.0.0.1', port: 1 }; // unparsable: report it as unreachable
  }
}

/** The API server URL in the kubeconfig scripts/testenv writes (one cluster). */
function kubeServer(kubeconfig: string): string {
  let text: string;
  try {
    text = readFileSync(kubeconfig, 'utf8');
  } catch {
    return `(no kubeconfig at ${kubeconfig})`;
  }
  const m = /^\s*server:\s*(\S+)/m.exec(text);
  return m?.[1] ?? `(no server in ${kubeconfig})`;
}

function address(env: TestEnv, s: Service): { label: string; connect: net.NetConnectOpts } {
  switch (s) {
    case 'kubernetes': {
      const server = kubeServer(env.kubeconfig);
      return { label: server, connect: hostPort(server) };
    }
    case 'docker':
      return { label: env.dockerHost, connect: { path: env.dockerSocket } };
    case 'registry':
      return { label: env.registry, connect: hostPort(env.registry) };
    case 'auth-registry':
      return { label: env.authRegistry, connect: hostPort(env.authRegistry) };
    case 'aws':
      return { label: env.awsEndpoint, connect: hostPort(env.awsEndpoint) };
    case 'gcs':
      return { label: env.gcsEndpoint, connect: hostPort(env.gcsEndpoint) };
    case 'azure':
      return { label: env.azureBlobEndpoint, connect: hostPort(env.azureBlobEndpoint) };
  }
}

function probe(opts: net.NetConnectOpts): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect(opts);
    const done = (why?: string) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(2000, () => done('timed out'));
    sock.once('connect', () => done(undefined));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/**
 * Throws one clear error naming every service that is not reachable. Call it in beforeAll:
 *   beforeAll(() => requireServices('kubernetes'));
 */
export async function requireServices(...services: Service[]): Promise<TestEnv> {
  const env = loadTestEnv();
  const problems: string[] = [];
  await Promise.all(
    services.map(async (s) => {
      const { label, connect } = address(env, s);
      const why = await probe(connect);
      if (why) problems.push(`${s} at ${label}: ${why}`);
    }),
  );
  if (problems.length > 0) {
    throw new Error(
      `testenv: not reachable: ${problems.sort().join('; ')}.\n` +
        `Run scripts/testenv up (and scripts/testenv status to see what is running; state ${env.state}).`,
    );
  }
  return env;
}

/** A DNS-1123 name unique to this run: prefix-<8 hex>. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * A kubeconfig that acts as a ServiceAccount: a TokenRequest token for it, on the admin
 * kubeconfig's cluster. RBAC then decides what the test may do, as it would for a pod.
 */
export async function serviceAccountKubeConfig(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
  expirationSeconds = 1200,
): Promise<KubeConfig> {
  const token = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'testenv', server: cluster.server, caData: cluster.caData }],
    users: [{ name: serviceAccount, token: token.status!.token }],
    contexts: [{ name: serviceAccount, cluster: 'testenv', user: serviceAccount, namespace }],
    currentContext: serviceAccount,
  });
  return kubeConfig;
}

/**
 * One raw HTTPS request to the API server with the kubeconfig's credentials, for what the typed
 * client cannot send as is (server-side apply of raw YAML, dryRun with strict field validation).
 */
export async function kubeRequest(
  kubeConfig: KubeConfig,
  method: string,
  path: string,
  body: string | Buffer,
  contentType: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(path, kubeConfig.getCurrentCluster()!.server);
  const options: https.RequestOptions = {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const request = https.request(url, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Waits until RBAC allows the kubeconfig's user an action: the authorizer learns of a new
 * RoleBinding through a watch, so the first requests after creating one may still be denied.
 */
export async function waitUntilAllowed(
  kubeConfig: KubeConfig,
  resourceAttributes: V1ResourceAttributes,
): Promise<void> {
  const authz = kubeConfig.makeApiClient(AuthorizationV1Api);
  for (let i = 0; i < 40; i++) {
    const review = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes } },
    });
    if (review.status?.allowed) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`RBAC still denies ${JSON.stringify(resourceAttributes)} after 10 s`);
}

/** A Role with these rules in `namespace`, bound to the ServiceAccounts named. */
export async function grantRole(
  admin: KubeConfig,
  role: { namespace: string; name: string; rules: V1PolicyRule[] },
  serviceAccounts: Array<{ namespace: string; name: string }>,
): Promise<void> {
  const { namespace, name, rules } = role;
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: serviceAccounts.map((account) => ({ kind: 'ServiceAccount', ...account })),
    },
  });
}
