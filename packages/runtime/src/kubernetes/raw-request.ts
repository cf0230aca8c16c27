import https from 'node:https';
import http from 'node:http';
import type * as k8s from '@kubernetes/client-node';

/** An API-server answer that is not 2xx, with its status where the typed client puts it. */
export class KubeRequestError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    what: string,
  ) {
    const message = /"message":"([^"]*)"/.exec(body)?.[1] ?? body.slice(0, 300);
    super(`${what}: HTTP ${code}: ${message}`);
    this.name = 'KubeRequestError';
  }
}

/**
 * One JSON request to the API server with the kubeconfig's credentials. For the few calls whose
 * body the typed client would serialise wrongly: events.k8s.io/v1 `eventTime` is a MicroTime,
 * which the API server parses only with six fractional digits.
 */
export async function kubeJsonRequest(
  kubeConfig: k8s.KubeConfig,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<unknown> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const options: https.RequestOptions = { method, headers: {}, timeout: timeoutMs };
  await kubeConfig.applyToHTTPSOptions(options);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = options.headers as Record<string, string | number>;
  headers.Accept = 'application/json';
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  const transport = url.protocol === 'https:' ? https : http;
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
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

/** A MicroTime (events.k8s.io eventTime, Lease renewTime): RFC 3339 with six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
