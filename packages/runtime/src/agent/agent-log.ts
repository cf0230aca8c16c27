// The agent's log: one JSON object per line in the cluster (LAUNCH_AGENT_LOG_FORMAT=json, what
// the chart sets), a readable line on a terminal. Values under secret-looking keys and the
// password part of URLs are replaced before anything is written (redactText, shared with the
// CLI and config errors).

import { redactText, redactValue } from '@launch-agent/config';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface AgentLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export { REDACTED, redactText } from '@launch-agent/config';

/** A deep copy of `value` with secret-looking keys' values and URL passwords replaced. */
export function redact(value: unknown): unknown {
  return redactValue(value);
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
