// Build logs are written by the job's own Dockerfile: a RUN step can print a line of any length,
// or gigabytes of lines. What the agent keeps of a log (each line it forwards, the tail it puts in
// a failure message) is bounded here, with a marker saying what was cut, and splitting is linear in
// what arrives: a line is never re-scanned or re-joined as more of it comes in.
import type { TextDecoder } from 'node:util';

/** Characters of one log line kept; the rest is counted and replaced by a marker. */
export const MAX_LOG_LINE_CHARS = 8 * 1024;
/** Lines of the build log kept for a failure report. */
export const LOG_TAIL_LINES = 40;
/** Characters of all the kept lines together. */
export const MAX_LOG_TAIL_CHARS = 16 * 1024;
/** How much text is split in one go before the event loop gets a turn. */
export const LOG_SLICE_CHARS = 64 * 1024;

export const cutMarker = (chars: number) => ` [... ${chars} more characters of this line cut]`;

/**
 * Splits text into lines as it arrives; each line handed to `onLine` has at most `maxLineChars`
 * characters and, when longer, the marker saying how many were cut. Memory is bounded by
 * `maxLineChars` whatever the input, and each character is looked at once.
 */
export class LineSplitter {
  private head = '';
  private cut = 0;
  private pending = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars: number = MAX_LOG_LINE_CHARS,
  ) {}

  write(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      const end = newline === -1 ? text.length : newline;
      if (end > start) this.append(text, start, end);
      if (newline === -1) return;
      this.pending = true;
      this.flush();
      start = newline + 1;
    }
  }

  /** Hands on the last line when it had no newline. */
  end(): void {
    if (this.pending) this.flush();
  }

  private append(text: string, start: number, end: number): void {
    this.pending = true;
    const room = this.maxLineChars - this.head.length;
    const take = Math.max(0, Math.min(room, end - start));
    if (take > 0) this.head += text.slice(start, start + take);
    this.cut += end - start - take;
  }

  private flush(): void {
    const line = this.cut > 0 ? `${this.head}${cutMarker(this.cut)}` : this.head;
    this.head = '';
    this.cut = 0;
    this.pending = false;
    this.onLine(line);
  }
}

/**
 * The last lines of a log, at most `maxLines` of them and `maxChars` characters together; says
 * how many earlier lines were dropped. Lines are expected capped already (LineSplitter).
 */
export class BoundedTail {
  private readonly kept: string[] = [];
  private chars = 0;
  private dropped = 0;

  constructor(
    private readonly maxLines: number = LOG_TAIL_LINES,
    private readonly maxChars: number = MAX_LOG_TAIL_CHARS,
  ) {}

  push(line: string): void {
    const capped = line.length > this.maxChars ? capLine(line, this.maxChars) : line;
    this.kept.push(capped);
    this.chars += capped.length;
    while (this.kept.length > this.maxLines || this.chars > this.maxChars) {
      this.chars -= this.kept.shift()!.length;
      this.dropped += 1;
    }
  }

  /** The kept lines, oldest first. */
  get lines(): readonly string[] {
    return this.kept;
  }

  /** The kept lines joined, after a line saying how many came before them, if any. */
  text(): string {
    if (this.kept.length === 0) return '';
    const before = this.dropped > 0 ? `[... ${this.dropped} earlier lines not kept]\n` : '';
    return `${before}${this.kept.join('\n')}`;
  }
}

/** `line` cut to `max` characters, the marker counting what was cut included. */
function capLine(line: string, max: number): string {
  const marker = cutMarker(line.length);
  const keep = Math.max(0, max - marker.length);
  return `${line.slice(0, keep)}${cutMarker(line.length - keep)}`.slice(0, max);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Feeds a chunk of a byte stream to `splitter` in slices of LOG_SLICE_CHARS, letting the event
 * loop run between slices, so one huge chunk does not hold the agent.
 */
export async function splitChunk(
  splitter: LineSplitter,
  decoder: TextDecoder,
  chunk: Buffer,
): Promise<void> {
  for (let offset = 0; offset < chunk.length; offset += LOG_SLICE_CHARS) {
    const slice = chunk.subarray(offset, offset + LOG_SLICE_CHARS);
    splitter.write(decoder.decode(slice, { stream: true }));
    if (offset + LOG_SLICE_CHARS < chunk.length) await nextTurn();
  }
}
