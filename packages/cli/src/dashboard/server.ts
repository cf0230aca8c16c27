// The dashboard's HTTP server. Loaded only by `launch-agent dashboard` (an `await import()`), so
// no other command parses it. It has no login of its own: on a workstation it listens on
// 127.0.0.1 and reads with the caller's kubeconfig; in a cluster it sits behind the operator's
// authenticating proxy (docs/dashboard.md) and reads with its ServiceAccount.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { Runtime } from '../runtime.js';
import {
  DashboardKube,
  explainKubeError,
  launchJobsPaths,
  scopeLabel,
  type Scope,
} from './kube.js';
import { errorBlock, jobBody, jobRowHtml, jobsBody, layout, queuesBody } from './pages.js';
import {
  jobRow,
  matchesFilter,
  notRunningReason,
  summarizeQueues,
  type RowFilter,
} from './summary.js';

export interface DashboardOptions {
  runtime: Runtime;
  kubeConfig: k8s.KubeConfig;
  scope: Scope;
  /** 127.0.0.1 on a workstation; 0.0.0.0 only in a cluster. */
  host: string;
  port: number;
  /** Whether the Cancel button may be offered at all (a SelfSubjectAccessReview decides too). */
  allowCancel: boolean;
  /**
   * Accept only the Host headers 127.0.0.1:<port> and localhost:<port>: a page on another site
   * that resolves its own name to 127.0.0.1 (DNS rebinding) is refused. Off behind a proxy.
   */
  checkHost: boolean;
}

export interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

const SAFE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function send(response: http.ServerResponse, status: number, html: string): void {
  response.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    // Only this page's own inline style and script; nothing is fetched from anywhere else.
    'Content-Security-Policy':
      "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  });
  response.end(html);
}

function startEvents(response: http.ServerResponse): (event: string, data: unknown) => void {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  response.write(': connected\n\n');
  return (event, data) => response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function readForm(request: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 10_000) request.destroy(new Error('form too large'));
    });
    request.on('end', () => resolve(new URLSearchParams(body)));
    request.on('error', reject);
  });
}

/** The row keys a collection covers: `<namespace>/` for one namespace, '' for all of them. */
function collectionPrefix(path: string): string {
  const namespace = /\/namespaces\/([^/]+)\//.exec(path)?.[1];
  return namespace ? `${decodeURIComponent(namespace)}/` : '';
}

function filterFrom(url: URL): RowFilter {
  const filter: RowFilter = {};
  for (const key of ['queue', 'namespace', 'phase', 'reason'] as const) {
    const value = url.searchParams.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const kube = new DashboardKube(options.runtime, options.kubeConfig, options.scope);
  const csrfToken = randomBytes(24).toString('base64url');
  const page = (title: string, body: string) =>
    layout({ title, body, csrfToken, scopeLabel: scopeLabel(options.scope) });
  const explain = (error: unknown, what: string) => explainKubeError(options.runtime, error, what);
  const listWhat = `list launchjobs in ${scopeLabel(options.scope)}`;
  const open = new Set<http.ServerResponse>();
  let allowedHosts: string[] = [];

  async function queues(response: http.ServerResponse): Promise<void> {
    try {
      const jobs = await kube.listJobs();
      send(response, 200, page('Queues', queuesBody(summarizeQueues(jobs, new Date()))));
    } catch (error) {
      send(response, 200, page('Queues', `<h1>Queues</h1>${errorBlock(explain(error, listWhat))}`));
    }
  }

  async function jobs(url: URL, response: http.ServerResponse): Promise<void> {
    try {
      const items = await kube.listJobs();
      send(response, 200, page('Jobs', jobsBody(items, filterFrom(url))));
    } catch (error) {
      send(response, 200, page('Jobs', `<h1>Jobs</h1>${errorBlock(explain(error, listWhat))}`));
    }
  }

  /** The jobs table's live feed: list, then watch from that resourceVersion; again on expiry. */
  async function jobStream(
    url: URL,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const filter = filterFrom(url);
    const emit = startEvents(response);
    const stop = new AbortController();
    request.on('close', () => stop.abort());
    const push = (type: string, row: ReturnType<typeof jobRow>) =>
      emit('job', {
        type,
        key: row.key,
        html: type !== 'DELETED' && matchesFilter(row, filter) ? jobRowHtml(row) : '',
      });
    const follow = async (path: string) => {
      while (!stop.signal.aborted) {
        try {
          const { jobs: items, resourceVersion } = await kube.listCollection(path);
          const rows = items.map(jobRow);
          for (const row of rows) push('MODIFIED', row);
          // Rows of this collection that the list no longer has were deleted meanwhile.
          emit('sync', { prefix: collectionPrefix(path), keys: rows.map((row) => row.key) });
          await kube.watchCollection(path, resourceVersion, stop.signal, (type, job) =>
            push(type, jobRow(job)),
          );
        } catch (error) {
          if (stop.signal.aborted) break;
          emit('problem', { message: explain(error, `watch ${listWhat}`) });
          await new Promise((resolve) => setTimeout(resolve, 5000));
        }
      }
    };
    await Promise.all(launchJobsPaths(options.scope).map(follow));
    response.end();
  }

  async function jobPage(
    namespace: string,
    name: string,
    response: http.ServerResponse,
  ): Promise<void> {
    const title = `${namespace}/${name}`;
    let job;
    try {
      job = await kube.getJob(namespace, name);
    } catch (error) {
      send(response, 200, page(title, errorBlock(explain(error, `get launchjob ${title}`))));
      return;
    }
    const [events, position, mayCancel] = await Promise.all([
      kube
        .jobEvents(job)
        .catch((error: unknown) => explain(error, `list events in namespace ${namespace}`)),
      kube
        .listJobs()
        .then((all) =>
          summarizeQueues(all, new Date())
            .find((q) => q.queue === job.spec.queue)
            ?.waiting.findIndex((w) => w.namespace === namespace && w.name === name),
        )
        .catch(() => undefined),
      options.allowCancel ? kube.mayPatch(namespace).catch(() => false) : false,
    ]);
    const notRunning = notRunningReason(
      job,
      position !== undefined && position >= 0 ? position + 1 : undefined,
    );
    send(response, 200, page(title, jobBody({ job, events, notRunning, mayCancel, csrfToken })));
  }

  async function logStream(
    namespace: string,
    name: string,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const emit = startEvents(response);
    const stop = new AbortController();
    request.on('close', () => stop.abort());
    try {
      const where = await kube.runPod(await kube.getJob(namespace, name));
      if (typeof where === 'string') {
        emit('problem', { message: where });
      } else {
        let partial = '';
        await kube.followLog(where, stop.signal, (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) emit('line', line);
        });
        if (partial) emit('line', partial);
        emit('end', {});
      }
    } catch (error) {
      emit('problem', {
        message: explain(error, `read the run log of ${namespace}/${name}`),
      });
    }
    response.end();
  }

  async function cancel(
    namespace: string,
    name: string,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const form = await readForm(request);
    const token = Buffer.from(form.get('csrf') ?? '');
    const expected = Buffer.from(csrfToken);
    if (token.length !== expected.length || !timingSafeEqual(token, expected)) {
      send(
        response,
        403,
        page('Refused', errorBlock('Refused: the form is not from this dashboard.')),
      );
      return;
    }
    if (!options.allowCancel) {
      send(response, 403, page('Refused', errorBlock('This dashboard is read-only.')));
      return;
    }
    const reason = (form.get('reason') ?? '').slice(0, 200) || 'cancelled from the dashboard';
    try {
      await kube.requestCancel(namespace, name, reason);
    } catch (error) {
      const message = explain(error, `patch launchjob ${namespace}/${name}`);
      send(response, 200, page('Cancel', errorBlock(message)));
      return;
    }
    response.writeHead(303, {
      Location: `/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`,
    });
    response.end();
  }

  async function route(request: http.IncomingMessage, response: http.ServerResponse) {
    // The kubelet's probes: the process serves; nothing is read from the API server.
    if (request.url === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (options.checkHost && !allowedHosts.includes(request.headers.host ?? '')) {
      send(response, 421, 'Unknown host');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://dashboard.invalid');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const jobPath = parts[0] === 'jobs' && parts.length >= 3;
    if (jobPath && (!SAFE_NAME.test(parts[1]!) || !SAFE_NAME.test(parts[2]!))) {
      send(response, 400, page('Bad request', errorBlock('Not a namespace/name.')));
      return;
    }
    if (jobPath && !kube.inScope(parts[1]!)) {
      const message = `${parts[1]} is not served here (${scopeLabel(options.scope)}).`;
      send(response, 404, page('Not here', errorBlock(message)));
      return;
    }
    if (request.method === 'POST' && jobPath && parts[3] === 'cancel' && parts.length === 4) {
      return cancel(parts[1]!, parts[2]!, request, response);
    }
    if (request.method !== 'GET') {
      send(response, 405, page('Not allowed', errorBlock('Method not allowed.')));
      return;
    }
    if (url.pathname === '/') return queues(response);
    if (url.pathname === '/jobs') return jobs(url, response);
    if (url.pathname === '/api/jobs/stream') return jobStream(url, request, response);
    if (jobPath && parts.length === 3) return jobPage(parts[1]!, parts[2]!, response);
    if (jobPath && parts.length === 4 && parts[3] === 'log') {
      return logStream(parts[1]!, parts[2]!, request, response);
    }
    send(response, 404, page('Not found', errorBlock('No such page.')));
  }

  const server = http.createServer((request, response) => {
    open.add(response);
    response.on('close', () => open.delete(response));
    route(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, errorBlock(String(error)));
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}/`,
    close: async () => {
      for (const response of open) response.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
