// The watch reader against a local HTTP server that answers as an API server's watch would (a
// real socket, not a mock of the client): events line by line, and a stream that never ends a line.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeWatch } from '../src/kubernetes/raw-request.js';

let server: Server;
let kubeConfig: KubeConfig;
let answer: (write: (text: string) => boolean, end: () => void, closed: () => boolean) => void;

beforeAll(async () => {
  server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    response.on('close', () => (closed = true));
    answer(
      (text) => response.write(text),
      () => response.end(),
      () => closed,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'nobody' }],
    currentContext: 'local',
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('hands on each event of the stream in order, across chunk boundaries', async () => {
  answer = (write, end) => {
    write('{"type":"ADDED","object":{"n":1}}\n{"type":"MOD');
    setTimeout(() => {
      write('IFIED","object":{"n":2}}\n');
      end();
    }, 20);
  };
  const events: Array<[string, unknown]> = [];
  await kubeWatch(kubeConfig, '/api/v1/pods?watch=true', {
    onEvent: (type, object) => events.push([type, object]),
    signal: new AbortController().signal,
    idleTimeoutMs: 5_000,
  });
  expect(events).toEqual([
    ['ADDED', { n: 1 }],
    ['MODIFIED', { n: 2 }],
  ]);
});

test('fails a stream whose line never ends instead of holding it all', async () => {
  const piece = 'x'.repeat(1 << 20);
  let sent = 0;
  answer = (write, _end, closed) => {
    write('{"type":"ADDED","object":"');
    const more = () => {
      if (closed()) return;
      // Far past any object the API server stores; the reader must give up before the end.
      while (sent < 64 && write(piece)) sent++;
      if (sent < 64) setTimeout(more, 1);
    };
    more();
  };
  await expect(
    kubeWatch(kubeConfig, '/api/v1/pods?watch=true', {
      onEvent: () => {},
      signal: new AbortController().signal,
      idleTimeoutMs: 5_000,
    }),
  ).rejects.toThrow(/an event longer than 16777216 characters/);
  expect(sent).toBeLessThan(64);
});
