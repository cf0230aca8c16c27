import { endianness } from 'node:os';
import {
  decodeStatCache,
  encodeStatCache,
  type StatCacheContents,
} from '../src/build/stat-cache-file.js';

function contents(): StatCacheContents {
  const digest = (c: string) => c.repeat(64);
  return {
    context: '/srv/ctx "quoted"',
    ignore: 'f'.repeat(64),
    // Names may hold anything but '/' and NUL, newlines and non-BMP characters included.
    filePaths: ['a.txt', 'dir/line\nbreak', 'dir/😀.bin'],
    dirPaths: ['', 'dir'],
    stats: Float64Array.from({ length: 5 * 6 }, (_, i) => i * 1_000_000.125),
    digests: digest('a') + digest('b') + digest('c'),
    childStart: Uint32Array.of(0, 2, 4),
    childNames: ['a.txt', 'dir', 'line\nbreak', '😀.bin'],
    childKinds: Uint8Array.of(1, 3, 1, 1),
  };
}

describe('stat cache file', () => {
  it('reads back what it wrote', () => {
    const decoded = decodeStatCache(encodeStatCache(contents()));
    expect(decoded).toBeDefined();
    const { childKinds, ...rest } = decoded!;
    const { childKinds: expectedKinds, ...expected } = contents();
    expect(rest).toEqual(expected);
    expect([...childKinds]).toEqual([...expectedKinds]);
  });

  it('reads back an empty cache', () => {
    const empty: StatCacheContents = {
      context: '/ctx',
      ignore: undefined,
      filePaths: [],
      dirPaths: [],
      stats: new Float64Array(0),
      digests: '',
      childStart: Uint32Array.of(0),
      childNames: [],
      childKinds: new Uint8Array(0),
    };
    expect(decodeStatCache(encodeStatCache(empty))).toMatchObject({
      context: '/ctx',
      filePaths: [],
    });
  });

  it('keeps the binary blocks 8-byte aligned after the header', () => {
    const bytes = encodeStatCache(contents());
    expect((bytes.indexOf(0x0a) + 1) % 8).toBe(0);
  });

  it('treats a truncated, extended or foreign file as no cache', () => {
    const bytes = encodeStatCache(contents());
    expect(decodeStatCache(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
    expect(decodeStatCache(bytes.subarray(0, 40))).toBeUndefined();
    expect(decodeStatCache(Buffer.concat([bytes, Buffer.from('x\0')]))).toBeUndefined();
    expect(decodeStatCache(Buffer.from('{"format":2,"entries":[]}'))).toBeUndefined();
    expect(decodeStatCache(Buffer.from('{not json\n'))).toBeUndefined();
    const other = endianness() === 'LE' ? 'BE' : 'LE';
    const swapped = Buffer.from(bytes);
    swapped.write(other, swapped.indexOf(`"endian":"${endianness()}"`) + 10, 'latin1');
    expect(decodeStatCache(swapped)).toBeUndefined();
  });
});
