// Requests to the API server as plain JSON over Node's http/https, with the kubeconfig's
// credentials (KubeConfig.applyToHTTPSOptions: client certificates, tokens, exec plugins, the
// in-cluster ServiceAccount). What the agent does at steady state goes through here rather than
// @kubernetes/client-node's generated API classes because those classes and their model
// serializer are 1.9 MB of code to load, measured in docs/benchmarks.md ("Footprint"). The
// connections here are kept alive and shared, per kubeconfig. (When this was written, client-node
// also opened a new TLS connection for every call, a new https.Agent per request: thousands of
// handshakes in a burst of a thousand jobs. client-node fixed that upstream in July 2026; the
// load size is the reason that remains.)
import https from 'node:https';
import http from 'node:http';
import type * as k8s from '@kubernetes/client-node';

/** An API-server answer that is not 2xx, with its status where the typed client puts it. */
export class KubeRequestError extends Error {
  /** The Status object's reason (`Conflict`, `Expired`, `NotFound`…), when the body has one. */
  readonly reason: string | undefined;

  constructor(
    readonly code: number,
    readonly body: string,
    what: string,
  ) {
    const message = /"message":"((?:[^"\\]|\\.)*)"/.exec(body)?.[1] ?? body.slice(0, 300);
    super(`${what}: HTTP ${code}: ${message}`);
    this.name = 'KubeRequestError';
    this.reason = /"reason":"([A-Za-z]+)"/.exec(body)?.[1];
  }
}

export type KubeMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type QueryParams = Record<string, string | number | boolean | undefined>;

/** `path?query`, with the parameters that are set. */
export function withQuery(path: string, query: QueryParams = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Requests at once per kubeconfig; more wait for a free connection. Watches do not count. */
const MAX_CONNECTIONS = 16;

type TlsMaterial = Pick<
  https.AgentOptions,
  'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'
>;
const TLS_FIELDS = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
] as const satisfies ReadonlyArray<keyof TlsMaterial>;

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return TLS_FIELDS.every((field) => {
    const x = a[field] as unknown;
    const y = b[field] as unknown;
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) return x.equals(y);
    return x === y;
  });
}

interface Pool {
  material: TlsMaterial;
  requests: http.Agent;
  watches: http.Agent;
}

const pools = new WeakMap<k8s.KubeConfig, Pool>();

/**
 * Keep-alive agents for the kubeconfig's TLS material (the CA, a client certificate): made once,
 * and again only when the material changes (an exec plugin that hands out new certificates).
 */
function poolFor(kubeConfig: k8s.KubeConfig, options: https.RequestOptions, secure: boolean): Pool {
  const material: TlsMaterial = {};
  for (const field of TLS_FIELDS) {
    if (options[field] !== undefined) (material as Record<string, unknown>)[field] = options[field];
  }
  const known = pools.get(kubeConfig);
  if (known && sameMaterial(known.material, material)) return known;
  known?.requests.destroy();
  const make = (maxSockets: number) =>
    secure
      ? new https.Agent({ ...material, keepAlive: true, maxSockets, scheduling: 'lifo' })
      : new http.Agent({ keepAlive: true, maxSockets, scheduling: 'lifo' });
  // A watch holds its connection for minutes: watches get their own agent, so they never wait
  // behind requests nor keep requests waiting.
  const pool: Pool = { material, requests: make(MAX_CONNECTIONS), watches: make(Infinity) };
  pools.set(kubeConfig, pool);
  return pool;
}

interface Prepared {
  url: URL;
  options: https.RequestOptions;
  transport: typeof https | typeof http;
}

async function prepare(
  kubeConfig: k8s.KubeConfig,
  method: KubeMethod,
  path: string,
  watch: boolean,
): Promise<Prepared> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const options: https.RequestOptions = { method, headers: {} };
  // Headers (a token, read again each time: in-cluster tokens rotate) and TLS material. The
  // agent it makes per call is replaced by the shared one, except behind a proxy, whose agent
  // only client-node knows how to make.
  await kubeConfig.applyToHTTPSOptions(options);
  const secure = url.protocol === 'https:';
  if (!cluster.proxyUrl) {
    const pool = poolFor(kubeConfig, options, secure);
    options.agent = watch ? pool.watches : pool.requests;
  }
  const headers = options.headers as Record<string, string | number>;
  headers.Accept = 'application/json';
  return { url, options, transport: secure ? https : http };
}

/**
 * One JSON request to the API server with the kubeconfig's credentials; resolves with the parsed
 * answer (undefined for an empty one), rejects with KubeRequestError for a non-2xx answer.
 */
export async function kubeJsonRequest(
  kubeConfig: k8s.KubeConfig,
  method: KubeMethod,
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<unknown> {
  const { url, options, transport } = await prepare(kubeConfig, method, path, false);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = options.headers as Record<string, string | number>;
  if (payload !== undefined) {
    // A PATCH is a JSON merge patch (RFC 7386): the fields it names, nothing else.
    headers['Content-Type'] =
      method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299) {
          reject(new KubeRequestError(status, text, `${method} ${url.pathname}`));
          return;
        }
        try {
          resolve(text === '' ? undefined : JSON.parse(text));
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    request.setTimeout(timeoutMs, () =>
      request.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)),
    );
    request.on('error', reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

export interface WatchOptions {
  /** Called for each event, in order. */
  onEvent: (type: string, object: unknown) => void;
  /** Ends the watch; the promise then resolves. */
  signal: AbortSignal;
  /** Called once the API server has answered 200. */
  onOpen?: () => void;
  /**
   * Nothing received for this long means the connection is dead (the server sends bookmarks and
   * ends the watch at its timeoutSeconds): the watch fails, to be resumed.
   */
  idleTimeoutMs: number;
}

/**
 * The longest watch event (one line) read before the watch fails: far above any object the API
 * server stores (etcd refuses requests over 1.5 MiB by default), so only a broken stream hits it.
 */
const MAX_WATCH_EVENT_CHARS = 16 << 20;

/**
 * A watch (`path` with `watch=true` in its query): one JSON event per line. Resolves when the
 * server ends the stream or the signal aborts it; rejects on a non-200 answer (KubeRequestError)
 * or a lost connection.
 */
export async function kubeWatch(
  kubeConfig: k8s.KubeConfig,
  path: string,
  watch: WatchOptions,
): Promise<void> {
  const { url, options, transport } = await prepare(kubeConfig, 'GET', path, true);
  if (watch.signal.aborted) return;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      watch.signal.removeEventListener('abort', onAbort);
      if (error && !watch.signal.aborted) reject(error);
      else resolve();
    };
    const request = transport.request(url, options, (response) => {
      const status = response.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          finish(
            new KubeRequestError(
              status,
              Buffer.concat(chunks).toString('utf8'),
              `watch ${url.pathname}`,
            ),
          ),
        );
        response.on('error', finish);
        return;
      }
      watch.onOpen?.();
      response.setEncoding('utf8');
      let pending = '';
      response.on('data', (chunk: string) => {
        pending += chunk;
        if (pending.length > MAX_WATCH_EVENT_CHARS) {
          request.destroy(
            new Error(
              `watch ${url.pathname}: an event longer than ${MAX_WATCH_EVENT_CHARS} characters`,
            ),
          );
          return;
        }
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line.trim() !== '') {
            let event: { type?: string; object?: unknown };
            try {
              event = JSON.parse(line) as typeof event;
            } catch {
              request.destroy(new Error(`watch ${url.pathname}: a line that is not JSON`));
              return;
            }
            if (settled) return;
            try {
              watch.onEvent(event.type ?? '', event.object);
            } catch (error) {
              request.destroy(error as Error);
              return;
            }
          }
          newline = pending.indexOf('\n');
        }
      });
      response.on('error', finish);
      response.on('close', () =>
        finish(response.complete ? undefined : new Error(`watch ${url.pathname}: connection lost`)),
      );
    });
    const onAbort = () => {
      request.destroy();
      finish();
    };
    watch.signal.addEventListener('abort', onAbort, { once: true });
    request.setTimeout(watch.idleTimeoutMs, () =>
      request.destroy(
        new Error(`watch ${url.pathname}: nothing received for ${watch.idleTimeoutMs} ms`),
      ),
    );
    request.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
    request.on('error', finish);
    request.end();
  });
}

/** A MicroTime (events.k8s.io eventTime, Lease renewTime): RFC 3339 with six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
