import type { Readable } from 'node:stream';

/** One message of a Docker Engine API progress stream (`/build`, `/images/{name}/push`). */
export interface DockerStreamMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
  error?: string;
  errorDetail?: { code?: number; message?: string };
}

/**
 * Longest single message of an Engine API stream. The engine sends a RUN step's output in
 * messages of at most a few KiB; a longer one is not the engine talking, and it would otherwise
 * be buffered (and re-read) whole.
 */
export const MAX_ENGINE_MESSAGE_CHARS = 4 * 1024 * 1024;

/** The engine answered 200 and then reported a failure inside the stream. */
export class DockerStreamError extends Error {
  constructor(
    message: string,
    readonly detail: DockerStreamMessage,
  ) {
    super(message);
    this.name = 'DockerStreamError';
  }
}

/**
 * Splits a byte stream into JSON values. The Engine API writes one JSON object per line, but a
 * chunk can hold several objects or half of one, and some engines omit the newline between
 * objects; so values are delimited by tracking braces outside strings, like Go's json.Decoder.
 */
export class JsonStreamSplitter {
  /** `maxMessageChars`: one value longer than this fails the stream instead of growing a buffer. */
  constructor(private readonly maxMessageChars: number = MAX_ENGINE_MESSAGE_CHARS) {}

  private buffer = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  /** Feeds text; returns every complete JSON value it closes. Throws on text that is not JSON. */
  push(text: string): unknown[] {
    this.buffer += text;
    const values: unknown[] = [];
    let i = this.scanned;
    for (; i < this.buffer.length; i++) {
      const c = this.buffer[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === '{' || c === '[') {
          this.start = i;
          this.depth = 1;
        } else if (!/\s/.test(c)) {
          throw new SyntaxError(
            `unexpected ${JSON.stringify(c)} between JSON messages in the engine's stream`,
          );
        }
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth += 1;
      else if (c === '}' || c === ']') {
        this.depth -= 1;
        if (this.depth === 0) values.push(JSON.parse(this.buffer.slice(this.start, i + 1)));
      }
    }
    if (this.depth === 0) {
      this.buffer = '';
      this.scanned = 0;
    } else {
      this.buffer = this.buffer.slice(this.start);
      this.scanned = this.buffer.length;
      this.start = 0;
      if (this.buffer.length > this.maxMessageChars) {
        throw new SyntaxError(
          `a message of the engine's stream passes ${this.maxMessageChars} characters`,
        );
      }
    }
    return values;
  }

  /** True when the stream ended in the middle of a value. */
  get incomplete(): boolean {
    return this.depth > 0;
  }
}

/**
 * Reads every message of an Engine API stream, calling `onMessage` for each, and rejects on
 * the first message that carries `error`/`errorDetail` (Docker reports failures that way inside
 * an HTTP 200 response), on text that is not JSON, and on a stream cut off mid-message.
 */
export async function readDockerStream(
  stream: Readable | NodeJS.ReadableStream,
  onMessage: (message: DockerStreamMessage) => void,
): Promise<void> {
  const splitter = new JsonStreamSplitter();
  const decoder = new TextDecoder();
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (const value of splitter.push(text)) {
      const message = value as DockerStreamMessage;
      if (message.error !== undefined || message.errorDetail !== undefined) {
        onMessage(message);
        throw new DockerStreamError(
          message.errorDetail?.message ?? message.error ?? 'unknown error',
          message,
        );
      }
      onMessage(message);
    }
  }
  if (splitter.incomplete)
    throw new SyntaxError("the engine's stream ended in the middle of a message");
}
