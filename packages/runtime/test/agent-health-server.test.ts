import { request } from 'node:http';
import { startHealthServer, type HealthServer } from '@launch-agent/runtime';

function get(port: number, path: string, method = 'GET') {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, method }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          type: String(response.headers['content-type']),
          body,
        }),
      );
    })
      .on('error', reject)
      .end();
  });
}

describe('health server', () => {
  let server: HealthServer;
  const state = { live: true, ready: false };
  beforeAll(async () => {
    server = await startHealthServer(
      {
        live: () => state.live,
        ready: () => state.ready,
        notReadyBecause: () => 'disconnected from the API server: connect ECONNREFUSED',
        metrics: () => 'launch_agent_x 1\n',
      },
      0,
      '127.0.0.1',
    );
  });
  afterAll(() => server.close());

  it('answers /healthz and /readyz from the agent state', async () => {
    expect((await get(server.port, '/healthz')).status).toBe(200);
    const notReady = await get(server.port, '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toBe(
      'not ready: disconnected from the API server: connect ECONNREFUSED\n',
    );
    state.ready = true;
    expect((await get(server.port, '/readyz?verbose')).status).toBe(200);
    state.live = false;
    expect((await get(server.port, '/healthz')).status).toBe(503);
  });

  it('serves metrics in the Prometheus text format', async () => {
    const metrics = await get(server.port, '/metrics');
    expect(metrics).toMatchObject({ status: 200, body: 'launch_agent_x 1\n' });
    expect(metrics.type).toContain('version=0.0.4');
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    expect((await get(server.port, '/')).status).toBe(404);
    expect((await get(server.port, '/healthz', 'POST')).status).toBe(405);
  });
});
