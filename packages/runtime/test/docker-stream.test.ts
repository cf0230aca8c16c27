import { Readable } from 'node:stream';
import {
  DockerStreamError,
  JsonStreamSplitter,
  readDockerStream,
  type DockerStreamMessage,
} from '../src/builders/docker-stream.js';

function chunks(...parts: string[]): Readable {
  return Readable.from(parts.map((p) => Buffer.from(p)));
}

describe('Docker Engine API streams', () => {
  it('parses one object per line, objects split across chunks, and objects with no newline between them', async () => {
    const seen: DockerStreamMessage[] = [];
    await readDockerStream(
      chunks(
        '{"stream":"Step 1/2 : FROM scratch\\n"}\n{"str',
        'eam":"a {brace} \\"quoted\\"\\n"}{"aux":{"ID":"sha256:abc"}}\r\n',
        '\n',
      ),
      (m) => seen.push(m),
    );
    expect(seen).toEqual([
      { stream: 'Step 1/2 : FROM scratch\n' },
      { stream: 'a {brace} "quoted"\n' },
      { aux: { ID: 'sha256:abc' } },
    ]);
  });

  it('rejects on an error line inside an otherwise successful stream, after passing it on', async () => {
    const seen: DockerStreamMessage[] = [];
    const stream = chunks(
      '{"stream":"ok\\n"}\n',
      '{"errorDetail":{"code":1,"message":"RUN failed"},"error":"RUN failed"}\n',
      '{"stream":"never"}\n',
    );
    const failure = readDockerStream(stream, (m) => seen.push(m));
    await expect(failure).rejects.toBeInstanceOf(DockerStreamError);
    await expect(failure).rejects.toThrow('RUN failed');
    expect(seen).toHaveLength(2);
  });

  it('rejects an errorDetail without error, and error without errorDetail', async () => {
    await expect(
      readDockerStream(chunks('{"errorDetail":{"message":"x"}}'), () => {}),
    ).rejects.toThrow('x');
    await expect(readDockerStream(chunks('{"error":"y"}'), () => {})).rejects.toThrow('y');
  });

  it('rejects text that is not JSON and a stream cut off mid-message', async () => {
    await expect(readDockerStream(chunks('{"stream":"a"}\nnot json\n'), () => {})).rejects.toThrow(
      SyntaxError,
    );
    await expect(readDockerStream(chunks('{"stream":"a'), () => {})).rejects.toThrow(
      /middle of a message/,
    );
  });

  it('keeps multi-byte characters intact across chunk boundaries', async () => {
    const bytes = Buffer.from('{"stream":"héllo ✓"}\n');
    const seen: DockerStreamMessage[] = [];
    await readDockerStream(Readable.from([bytes.subarray(0, 14), bytes.subarray(14)]), (m) =>
      seen.push(m),
    );
    expect(seen[0]!.stream).toBe('héllo ✓');
  });

  it('splitter reports incomplete values', () => {
    const s = new JsonStreamSplitter();
    expect(s.push('{"a":[1,2')).toEqual([]);
    expect(s.incomplete).toBe(true);
    expect(s.push(']}')).toEqual([{ a: [1, 2] }]);
    expect(s.incomplete).toBe(false);
  });
});
