// Faults for the agent's fault tests, made with the real programs of scripts/testenv: the
// kube-apiserver process killed and started again, etcd compacted through its own API, and a
// TCP relay in front of a service that can cut every connection and refuse new ones (a network
// partition between the agent and the API server; the server itself keeps running).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from './testenv.js';

const run = promisify(execFile);

function state(): string {
  const dir = process.env.TESTENV_STATE;
  if (!dir) throw new Error('TESTENV_STATE is not set: eval "$(scripts/testenv env)" first');
  return dir;
}

/** SIGKILLs kube-apiserver's process group (scripts/testenv starts each service in its own). */
export function killApiServer(): number {
  const pid = Number(readFileSync(join(state(), 'run', 'kube-apiserver.pid'), 'utf8').trim());
  process.kill(-pid, 'SIGKILL');
  return pid;
}

/** Starts what is not running (kube-apiserver after killApiServer) and waits until healthy. */
export async function startServices(): Promise<void> {
  await run(join(repoRoot, 'scripts', 'testenv'), ['up'], {
    env: { ...process.env, TESTENV_SKIP_INSTALL: '1' },
    timeout: 180_000,
  });
}

async function etcd(path: string, body: unknown): Promise<Record<string, unknown>> {
  const endpoint = process.env.TESTENV_ETCD;
  if (!endpoint) throw new Error('TESTENV_ETCD is not set: eval "$(scripts/testenv env)" first');
  const response = await fetch(`${endpoint}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Compacts etcd's history up to its current revision: older resourceVersions are gone. */
export async function compactEtcd(): Promise<number> {
  const range = await etcd('/v3/kv/range', { key: Buffer.from('compact').toString('base64') });
  const revision = Number((range.header as { revision: string }).revision);
  await etcd('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}

/** A TCP relay to `target` on a port of its own; `cut()` partitions, `restore()` heals. */
export class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(port = 0): Promise<this> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  /** Resets every connection and stops listening: the agent's requests are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}

/** A copy of `kubeConfig` whose server is reached through `relay` (same TLS name: 127.0.0.1). */
export function throughRelay(kubeConfig: KubeConfig, relay: Relay): KubeConfig {
  const copy = new (kubeConfig.constructor as new () => KubeConfig)();
  const cluster = kubeConfig.getCurrentCluster()!;
  const server = new URL(cluster.server);
  server.port = String(relay.port);
  copy.loadFromOptions({
    clusters: [{ ...cluster, server: server.toString().replace(/\/$/, '') }],
    users: kubeConfig.users,
    contexts: kubeConfig.contexts,
    currentContext: kubeConfig.currentContext,
  });
  return copy;
}

/** Host and port of the kubeconfig's API server. */
export function apiServerAddress(kubeConfig: KubeConfig): { host: string; port: number } {
  const url = new URL(kubeConfig.getCurrentCluster()!.server);
  return { host: url.hostname, port: Number(url.port) };
}

/**
 * An HTTP relay to a registry that answers 503 Service Unavailable (with no Retry-After) while
 * `unavailable` is set, and forwards every request unchanged otherwise.
 */
export class FlakyHttpRelay {
  unavailable = false;
  /** 503 answers given. */
  refused = 0;
  forwarded = 0;
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => {
      if (this.unavailable) {
        this.refused += 1;
        request.resume();
        response.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable\n');
        return;
      }
      this.forwarded += 1;
      const upstream = http.request(
        {
          ...this.target,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: `${this.target.host}:${this.target.port}` },
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
