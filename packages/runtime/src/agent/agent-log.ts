// The agent's log: one JSON object per line in the cluster (LAUNCH_AGENT_LOG_FORMAT=json, what
// the chart sets), a readable line on a terminal. Values under secret-looking keys and the
// password part of URLs are replaced before anything is written.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface AgentLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const REDACTED = '[redacted]';

const SECRET_KEY = /pass(word)?|secret|token|credential|authorization|api[-_]?key|private[-_]?key/i;
// user:password@ in any scheme://, and well-known secret query parameters.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@\s/]+@/gi;
const QUERY_SECRET =
  /([?&](?:sig|signature|token|access_token|X-Amz-Signature|X-Amz-Credential)=)[^&\s]+/gi;

/** A string with URL passwords and signed-URL secrets replaced. */
export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(QUERY_SECRET, `$1${REDACTED}`);
}

/** A deep copy of `value` with secret-looking keys' values and URL passwords replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactText(value.message);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    // Kubernetes EnvVar objects: {name: "API_TOKEN", value: "..."}.
    const isEnvVar = key === 'value' && typeof (value as { name?: unknown }).name === 'string';
    const secretName = isEnvVar && SECRET_KEY.test((value as { name: string }).name);
    out[key] = SECRET_KEY.test(key) || secretName ? REDACTED : redact(item, depth + 1);
  }
  return out;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LoggerOptions {
  format: 'json' | 'text';
  level?: LogLevel;
  stream?: NodeJS.WritableStream;
  now?: () => Date;
}

/** JSON when asked or when the stream is not a terminal; text on a terminal. */
export function logFormatFor(
  env: NodeJS.ProcessEnv,
  stream: { isTTY?: boolean } = process.stderr,
): 'json' | 'text' {
  const asked = env.LAUNCH_AGENT_LOG_FORMAT;
  if (asked === 'json' || asked === 'text') return asked;
  return stream.isTTY ? 'text' : 'json';
}

export function createLogger(options: LoggerOptions): AgentLogger {
  const stream = options.stream ?? process.stderr;
  const min = ORDER[options.level ?? 'info'];
  const now = options.now ?? (() => new Date());
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    const clean = redact(fields) as LogFields;
    const text = redactText(message);
    if (options.format === 'json') {
      stream.write(
        `${JSON.stringify({ time: now().toISOString(), level, msg: text, ...clean })}\n`,
      );
      return;
    }
    const extras = Object.entries(clean)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    stream.write(
      `${now().toISOString().slice(11, 19)} ${level.toUpperCase().padEnd(5)} ${text}${extras ? ` ${extras}` : ''}\n`,
    );
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

export const silentLogger: AgentLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
