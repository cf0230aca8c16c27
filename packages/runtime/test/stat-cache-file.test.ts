import { endianness } from 'node:os';
import {
  decodeStatCache,
  encodeStatCache,
  SNAPSHOT_KIND_SHIFT,
  SnapshotKind,
  type StatCacheContents,
} from '../src/context/stat-cache-file.js';

const at = (kind: number, index: number) => ((kind << SNAPSHOT_KIND_SHIFT) | index) >>> 0;

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
    childStart: Uint32Array.of(0, 2, 5),
    childNames: ['a.txt', 'dir', 'line\nbreak', '😀.bin', 'link'],
    childKinds: Uint8Array.of(1, 3, 1, 1, 2),
    order: Uint32Array.of(
      at(SnapshotKind.file, 0),
      at(SnapshotKind.directory, 1),
      at(SnapshotKind.file, 1),
      at(SnapshotKind.file, 2),
      at(SnapshotKind.symlink, 0),
    ),
    linkPaths: ['dir/link'],
    linkTargets: ['../a.txt'],
    sourceHash: { head: '1'.repeat(64), hash: '2'.repeat(64) },
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

  it('reads back a cache without a snapshot', () => {
    const without = {
      ...contents(),
      order: undefined,
      linkPaths: [],
      linkTargets: [],
      sourceHash: undefined,
    };
    const decoded = decodeStatCache(encodeStatCache(without));
    expect(decoded?.order).toBeUndefined();
    expect(decoded?.sourceHash).toBeUndefined();
    expect(decoded?.filePaths).toEqual(without.filePaths);
    expect(decoded?.childNames).toEqual(without.childNames);
  });

  it.each([
    ['a file index past the files', at(SnapshotKind.file, 3)],
    ['a directory index past the directories', at(SnapshotKind.directory, 2)],
    ['a symlink index past the symlinks', at(SnapshotKind.symlink, 1)],
    ['an unknown kind', at(3, 0)],
  ])('treats a snapshot with %s as no cache', (_, wrong) => {
    const bad = contents();
    bad.order = Uint32Array.of(at(SnapshotKind.file, 0), wrong);
    expect(decodeStatCache(encodeStatCache(bad))).toBeUndefined();
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
      order: new Uint32Array(0),
      linkPaths: [],
      linkTargets: [],
      sourceHash: undefined,
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
    const format3 = Buffer.from(bytes);
    format3.write('3', format3.indexOf('"format":4') + 9, 'latin1');
    expect(decodeStatCache(format3)).toBeUndefined();
    expect(decodeStatCache(Buffer.from('{not json\n'))).toBeUndefined();
    const other = endianness() === 'LE' ? 'BE' : 'LE';
    const swapped = Buffer.from(bytes);
    swapped.write(other, swapped.indexOf(`"endian":"${endianness()}"`) + 10, 'latin1');
    expect(decodeStatCache(swapped)).toBeUndefined();
  });
});
