// The run log on the job page, end to end through the dashboard's server: its event stream at
// /jobs/<ns>/<name>/log. No kubelet can run a pod here, so the API server's side is a local
// stand-in (plain HTTP on 127.0.0.1) that answers the three reads the log needs: the LaunchJob,
// the run Job's pods, and pods/log?follow=true, which it writes a line at a time. The browser test
// (test/integration/dashboard-browser.test.ts) covers the rest against the real API server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import * as runtime from '@launch-agent/runtime';
import { startDashboard, type RunningDashboard } from '../src/dashboard/server.js';

let apiServer: http.Server;
let dashboard: RunningDashboard;
let logAnswer: (response: http.ServerResponse) => void;
const logRequestClosed: Array<Promise<void>> = [];

const job = {
  apiVersion: 'launch-agent.dev/v1alpha1',
  kind: 'LaunchJob',
  metadata: { name: 'train', namespace: 'team-a', uid: 'u1' },
  spec: { queue: 'gpu', source: { image: 'img' } },
  status: { phase: 'Running', runJobName: 'train-run', runJobNamespace: 'team-a' },
};

beforeAll(async () => {
  apiServer = http.createServer((request, response) => {
    const url = new URL(request.url!, 'http://x');
    if (url.pathname === '/apis/launch-agent.dev/v1alpha1/namespaces/team-a/launchjobs/train') {
      response.end(JSON.stringify(job));
    } else if (url.pathname === '/api/v1/namespaces/team-a/pods') {
      expect(url.searchParams.get('labelSelector')).toBe('batch.kubernetes.io/job-name=train-run');
      response.end(
        JSON.stringify({
          items: [
            {
              metadata: { name: 'old', creationTimestamp: '2026-12-08T10:00:00Z' },
              spec: { nodeName: 'n' },
            },
            {
              metadata: { name: 'new', creationTimestamp: '2026-12-08T11:00:00Z' },
              spec: { nodeName: 'n' },
            },
          ],
        }),
      );
    } else if (url.pathname === '/api/v1/namespaces/team-a/pods/new/log') {
      expect(url.searchParams.get('follow')).toBe('true');
      logRequestClosed.push(new Promise((resolve) => response.on('close', () => resolve())));
      logAnswer(response);
    } else {
      response.writeHead(404).end('{"message":"not here"}');
    }
  });
  await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: 'stand-in',
        server: `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`,
        // client-node refuses plain HTTP unless told TLS is not checked; the stand-in has none.
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'stand-in', user: 'u' }],
    currentContext: 'c',
  });
  dashboard = await startDashboard({
    runtime,
    kubeConfig,
    scope: { allNamespaces: false, namespaces: ['team-a'] },
    host: '127.0.0.1',
    port: 0,
    allowCancel: false,
    checkHost: true,
  });
});

afterAll(async () => {
  await dashboard.close();
  apiServer.closeAllConnections();
  await new Promise((resolve) => apiServer.close(resolve));
});

/** Reads the event stream until `until` says stop; returns the events and the time each came. */
async function readEvents(
  path: string,
  until: (events: Array<{ event: string; data: unknown }>) => boolean,
): Promise<Array<{ event: string; data: unknown; at: number }>> {
  const stop = new AbortController();
  const response = await fetch(`${dashboard.url}${path.slice(1)}`, { signal: stop.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Array<{ event: string; data: unknown; at: number }> = [];
  const decoder = new TextDecoder();
  let pending = '';
  const reader = response.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end = pending.indexOf('\n\n');
    while (end >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event) events.push({ event, data: JSON.parse(data!), at: Date.now() });
      end = pending.indexOf('\n\n');
    }
    if (until(events)) break;
  }
  stop.abort();
  return events;
}

test('streams the newest pod’s log line by line as it is written', async () => {
  logAnswer = (response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.write('epoch 1 loss 0.9\nepoch 2 ');
    setTimeout(() => response.write('loss 0.5\n'), 300);
    setTimeout(() => response.end('done'), 600);
  };
  const started = Date.now();
  const events = await readEvents('/jobs/team-a/train/log', (all) =>
    all.some((e) => e.event === 'end'),
  );
  expect(events.map(({ event, data }) => [event, data])).toEqual([
    ['line', 'epoch 1 loss 0.9'],
    ['line', 'epoch 2 loss 0.5'],
    ['line', 'done'],
    ['end', {}],
  ]);
  // The first line arrived before the log ended: streamed, not read whole.
  expect(events[0]!.at - started).toBeLessThan(events[3]!.at - started - 200);
});

test('a refused log read shows the API server’s message', async () => {
  logAnswer = (response) => {
    response.writeHead(400, { 'Content-Type': 'application/json' });
    response.end(
      JSON.stringify({
        kind: 'Status',
        message: 'container "job" in pod "new" is waiting to start: ContainerCreating',
        code: 400,
      }),
    );
  };
  const events = await readEvents('/jobs/team-a/train/log', (all) => all.length > 0);
  expect(events[0]).toMatchObject({
    event: 'problem',
    data: {
      message: expect.stringContaining(
        'read the run log of team-a/train: GET /api/v1/namespaces/team-a/pods/new/log: HTTP 400: container \\"job\\" in pod \\"new\\" is waiting to start',
      ),
    },
  });
});

test('a page that goes away ends the follow request', async () => {
  logAnswer = (response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.write('still running\n');
  };
  const events = await readEvents('/jobs/team-a/train/log', (all) => all.length > 0);
  expect(events[0]).toMatchObject({ event: 'line', data: 'still running' });
  await logRequestClosed.at(-1);
});
