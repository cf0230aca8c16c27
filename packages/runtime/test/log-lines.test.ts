import { TextDecoder } from 'node:util';
import { JsonStreamSplitter } from '../src/builders/docker-stream.js';
import {
  BoundedTail,
  cutMarker,
  LineSplitter,
  LOG_TAIL_LINES,
  MAX_LOG_LINE_CHARS,
  MAX_LOG_TAIL_CHARS,
  splitChunk,
} from '../src/builders/log-lines.js';

function split(pieces: string[], max?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), max);
  for (const piece of pieces) splitter.write(piece);
  splitter.end();
  return lines;
}

/** Milliseconds to split one line of `chars` characters that arrives in 64 KiB pieces. */
function timeOneLine(chars: number): number {
  const piece = 'y'.repeat(64 * 1024);
  const splitter = new LineSplitter(() => undefined);
  const started = performance.now();
  for (let sent = 0; sent < chars; sent += piece.length) splitter.write(piece);
  splitter.write('\n');
  return performance.now() - started;
}

describe('LineSplitter', () => {
  it('splits lines across pieces, and hands on a last line without newline', () => {
    expect(split(['a\nb', 'c\n\nd'])).toEqual(['a', 'bc', '', 'd']);
    expect(split(['a\n'])).toEqual(['a']);
    expect(split([])).toEqual([]);
  });

  it('keeps the start of a long line and says how much was cut', () => {
    const lines = split(['0123456789', 'abcdef', '\nnext\n'], 8);
    expect(lines).toEqual([`01234567${cutMarker(8)}`, 'next']);
    expect(split(['x'.repeat(MAX_LOG_LINE_CHARS + 5)])).toEqual([
      `${'x'.repeat(MAX_LOG_LINE_CHARS)}${cutMarker(5)}`,
    ]);
  });

  it('splits a 16 MiB line in linear time (well under a second, and 4x the line costs about 4x)', () => {
    timeOneLine(1 << 20); // warm up
    const small = timeOneLine(8 << 20);
    const large = timeOneLine(32 << 20);
    expect(timeOneLine(16 << 20)).toBeLessThan(1000);
    expect(large).toBeLessThan(Math.max(small, 5) * 10);
  });
});

describe('splitChunk', () => {
  it('lets the event loop run while one 16 MiB chunk is split', async () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    const chunk = Buffer.alloc(16 << 20, 'z'.charCodeAt(0));
    let turns = 0;
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      turns += 1;
    }, 1);
    last = performance.now();
    await splitChunk(splitter, new TextDecoder(), chunk);
    clearInterval(timer);
    splitter.end();
    expect(turns).toBeGreaterThan(0);
    expect(longest).toBeLessThan(200);
    expect(lines).toEqual([
      `${'z'.repeat(MAX_LOG_LINE_CHARS)}${cutMarker((16 << 20) - MAX_LOG_LINE_CHARS)}`,
    ]);
  });

  it('decodes a character split between two chunks', async () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    const decoder = new TextDecoder();
    const bytes = Buffer.from('é\n');
    await splitChunk(splitter, decoder, bytes.subarray(0, 1));
    await splitChunk(splitter, decoder, bytes.subarray(1));
    expect(lines).toEqual(['é']);
  });
});

describe('BoundedTail', () => {
  it('keeps the last lines, at most LOG_TAIL_LINES, and says how many came before', () => {
    const tail = new BoundedTail();
    for (let i = 0; i < 100; i++) tail.push(`line ${i}`);
    expect(tail.lines).toHaveLength(LOG_TAIL_LINES);
    expect(tail.text().split('\n')[0]).toBe(`[... ${100 - LOG_TAIL_LINES} earlier lines not kept]`);
    expect(tail.text().endsWith('line 99')).toBe(true);
  });

  it('keeps at most MAX_LOG_TAIL_CHARS characters of lines together', () => {
    const tail = new BoundedTail();
    for (let i = 0; i < 10; i++) tail.push(`${i}`.repeat(MAX_LOG_LINE_CHARS));
    expect(tail.lines.join('').length).toBeLessThanOrEqual(MAX_LOG_TAIL_CHARS);
    expect(tail.lines.at(-1)![0]).toBe('9');
    const one = new BoundedTail(40, 100);
    one.push('a'.repeat(1000));
    expect(one.text().length).toBeLessThanOrEqual(100);
    expect(one.text().length).toBeGreaterThan(90);
    expect(one.text()).toMatch(/^a+ \[\.\.\. \d+ more characters of this line cut\]$/);
  });
});

describe('JsonStreamSplitter', () => {
  it('refuses one message longer than its cap instead of buffering it', () => {
    const splitter = new JsonStreamSplitter(1000);
    expect(splitter.push('{"stream":"')).toEqual([]);
    expect(() => splitter.push('x'.repeat(2000))).toThrow(/passes 1000 characters/);
    expect(new JsonStreamSplitter(1000).push(`{"stream":"${'x'.repeat(900)}"}`)).toHaveLength(1);
  });
});
