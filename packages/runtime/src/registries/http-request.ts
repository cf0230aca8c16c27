import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Extra CA certificates (PEM), trusted in addition to Node's bundled roots. */
  ca?: string[];
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Connection-level failure (refused, reset, TLS handshake), as opposed to an HTTP status. */
export class HttpConnectionError extends Error {
  constructor(
    readonly url: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(`cannot reach ${url}: ${message}`);
    this.name = 'HttpConnectionError';
  }
}

/**
 * A minimal HTTP(S) client for registry APIs (the registries and `launch-agent doctor`'s push
 * probe): node's own modules so that extra CAs (Docker's `/etc/docker/certs.d/<host>/ca.crt`) can
 * be trusted per request. Bodies are small JSON or forms. The API server has its own transport
 * (kubernetes/raw-request.ts): shared connections, streamed watches.
 */
export function httpRequest(request: HttpRequest): Promise<HttpResponse> {
  const url = new URL(request.url);
  const secure = url.protocol === 'https:';
  const transport = secure ? https : http;
  const options: https.RequestOptions = {
    method: request.method,
    headers: { 'User-Agent': 'launch-agent', ...request.headers },
    timeout: request.timeoutMs ?? 30_000,
  };
  if (secure && request.ca && request.ca.length > 0)
    options.ca = [...rootCertificates, ...request.ca];
  if (request.body !== undefined) {
    (options.headers as Record<string, string | number>)['Content-Length'] = Buffer.byteLength(
      request.body,
    );
  }
  return new Promise((resolve, reject) => {
    const req = transport.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', (error: NodeJS.ErrnoException) =>
        reject(new HttpConnectionError(request.url, error.code, error.message)),
      );
    });
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`no answer within ${options.timeout} ms`), { code: 'ETIMEDOUT' }),
      ),
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(new HttpConnectionError(request.url, error.code, error.message)),
    );
    if (request.body !== undefined) req.write(request.body);
    req.end();
  });
}

/** Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`. */
export function parseAuthenticate(
  header: string | undefined,
): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const m of match[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return { scheme: match[1]!.toLowerCase(), params };
}
