import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthSources {
  /** The process works: its watches are alive. False makes the kubelet restart the pod. */
  live: () => boolean;
  /** The agent has listed its queues and takes jobs. False while starting and shutting down. */
  ready: () => boolean;
  /** Why the agent is not ready, for the /readyz body (e.g. "disconnected from the API server: ..."). */
  notReadyBecause?: () => string | undefined;
  /** The exposition text (AgentMetrics.render). */
  metrics: () => string | Promise<string>;
}

export interface HealthServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** GET /healthz, /readyz and /metrics on `port` (the chart's container port `http`, 8080). */
export async function startHealthServer(
  sources: HealthSources,
  port: number,
  host = '0.0.0.0',
): Promise<HealthServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const answer = (ok: boolean, why?: string) => {
      response
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(ok ? 'ok\n' : `${why ?? 'not ready'}\n`);
    };
    if (path === '/healthz' || path === '/livez') return answer(sources.live(), 'wedged');
    if (path === '/readyz') {
      const ready = sources.ready();
      return answer(
        ready,
        ready ? undefined : `not ready: ${sources.notReadyBecause?.() ?? 'starting'}`,
      );
    }
    if (path === '/metrics') {
      Promise.resolve()
        .then(() => sources.metrics())
        .then(
          (text) =>
            response
              .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
              .end(text),
          (error: Error) =>
            response
              .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
              .end(`metrics failed: ${error.message}\n`),
        );
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
