import { endianness } from 'node:os';

/**
 * The bytes of one stat cache file (format 4). Loading the cache is part of every warm hash, so
 * the file is laid out to be decoded with a handful of bulk operations instead of a parse per
 * record: a JSON header line, then fixed-size binary blocks, then one text block of every name.
 *
 * ```text
 * header    {"format":4,...}, padded with spaces to a multiple of 8 bytes, then "\n"; with a
 *           snapshot it also holds the source hash that scan computed
 * stats     float64 × 6 per record, files then directories: size, mtimeMs, ctimeMs, ino, mode, dev
 * counts    uint32 per directory: how many children its listing has
 * order     uint32 per entry of the snapshot (absent without one): kind << 30 | record index
 * kinds     uint8 per listed child (the walk's ListedKind)
 * digests   32 bytes of SHA-256 per file
 * text      UTF-8, each followed by NUL: file paths, directory paths, child names, then the
 *           snapshot's symlink paths and their targets
 * ```
 *
 * NUL cannot occur in a file name, so it separates names whatever they contain. Numbers are in
 * the writing machine's byte order, recorded in the header; a file from a machine of the other
 * order is treated as empty.
 */
export const STAT_CACHE_FORMAT = 4;

/** Numbers per stat record (`StatKey`'s fields, in the order above). */
export const STAT_FIELDS = 6;
const DIGEST_BYTES = 32;

/** The kind of an entry of the snapshot's `order`, in its top two bits. */
export const SnapshotKind = { directory: 0, file: 1, symlink: 2 } as const;
export const SNAPSHOT_KIND_SHIFT = 30;
export const SNAPSHOT_INDEX_MASK = (1 << SNAPSHOT_KIND_SHIFT) - 1;

interface Header {
  format: number;
  context: string;
  ignore?: string;
  endian: string;
  files: number;
  directories: number;
  children: number;
  links: number;
  /** Entries in the snapshot's order; absent when the file holds no snapshot. */
  snapshot?: number;
  sourceHash?: RememberedSourceHash;
}

/** The source hash of the snapshot's entries, and the digest of the manifest head it had. */
export interface RememberedSourceHash {
  head: string;
  hash: string;
}

/** A decoded cache file, or what `save` is about to write. */
export interface StatCacheContents {
  /** The context directory the records belong to. */
  context: string;
  /** Fingerprint of the .dockerignore rules the listings were made under. */
  ignore: string | undefined;
  filePaths: readonly string[];
  dirPaths: readonly string[];
  /** STAT_FIELDS numbers per record: files first, then directories. */
  stats: Float64Array;
  /** Hex SHA-256 of every file, 64 characters each, concatenated in file order. */
  digests: string;
  /** Directory i's children are `childNames[childStart[i]]` up to `childStart[i + 1]`. */
  childStart: Uint32Array;
  childNames: readonly string[];
  childKinds: Uint8Array;
  /**
   * The whole last scan, when every part of it was remembered: the file records are then its
   * files, the directory records every directory it walked, and `order` lists its entries in
   * their sorted order (`SnapshotKind` << 30 | index into files, directories or links).
   */
  order: Uint32Array | undefined;
  /** The snapshot's symlinks and their targets (empty without a snapshot). */
  linkPaths: readonly string[];
  linkTargets: readonly string[];
  /** With a snapshot: the source hash its scan computed. */
  sourceHash: RememberedSourceHash | undefined;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const isRememberedHash = (v: unknown): v is RememberedSourceHash =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as RememberedSourceHash).head === 'string' &&
  typeof (v as RememberedSourceHash).hash === 'string';

/** Decodes a cache file; undefined when it is not a complete format-3 file of this machine. */
export function decodeStatCache(bytes: Buffer): StatCacheContents | undefined {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) return undefined;
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 0, newline)) as Header;
  } catch {
    return undefined;
  }
  const { files, directories, children, links } = header;
  const snapshot = header.snapshot ?? 0;
  if (
    header.format !== STAT_CACHE_FORMAT ||
    header.endian !== endianness() ||
    typeof header.context !== 'string' ||
    !isCount(files) ||
    !isCount(directories) ||
    !isCount(children) ||
    !isCount(links) ||
    !isCount(snapshot)
  ) {
    return undefined;
  }
  const records = files + directories;
  let offset = newline + 1;
  const textStart =
    offset +
    records * STAT_FIELDS * 8 +
    (directories + snapshot) * 4 +
    children +
    files * DIGEST_BYTES;
  if (textStart > bytes.length) return undefined;

  // Copied into fresh arrays: the file's blocks need not be aligned for a typed-array view.
  const stats = new Float64Array(records * STAT_FIELDS);
  offset = copyInto(stats, bytes, offset);
  const counts = new Uint32Array(directories);
  offset = copyInto(counts, bytes, offset);
  const order = header.snapshot === undefined ? undefined : new Uint32Array(snapshot);
  if (order) {
    offset = copyInto(order, bytes, offset);
    const counts = [directories, files, links];
    for (let i = 0; i < order.length; i++) {
      const index = order[i]! & SNAPSHOT_INDEX_MASK;
      if (!(index < (counts[order[i]! >>> SNAPSHOT_KIND_SHIFT] ?? 0))) return undefined;
    }
  }
  const childKinds = bytes.subarray(offset, offset + children);
  offset += children;
  const digests = bytes.toString('hex', offset, offset + files * DIGEST_BYTES);

  const names = bytes.toString('utf8', textStart).split('\0');
  const named = records + children;
  if (names.length !== named + 2 * links + 1 || names[names.length - 1] !== '') return undefined;
  const childStart = new Uint32Array(directories + 1);
  for (let i = 0; i < directories; i++) childStart[i + 1] = childStart[i]! + counts[i]!;
  if (childStart[directories] !== children) return undefined;

  return {
    context: header.context,
    ignore: header.ignore,
    filePaths: names.slice(0, files),
    dirPaths: names.slice(files, records),
    stats,
    digests,
    childStart,
    childNames: names.slice(records, named),
    childKinds,
    order,
    linkPaths: names.slice(named, named + links),
    linkTargets: names.slice(named + links, named + 2 * links),
    sourceHash: isRememberedHash(header.sourceHash) && order ? header.sourceHash : undefined,
  };
}

function copyInto(target: Float64Array | Uint32Array, bytes: Buffer, offset: number): number {
  const end = offset + target.byteLength;
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(
    bytes.subarray(offset, end),
  );
  return end;
}

/** The file `decodeStatCache` reads back as `contents`. */
export function encodeStatCache(contents: StatCacheContents): Buffer {
  const files = contents.filePaths.length;
  const directories = contents.dirPaths.length;
  const children = contents.childNames.length;
  const links = contents.linkPaths.length;
  if (contents.linkTargets.length !== links) throw new Error('stat cache: malformed links');
  const header: Header = {
    format: STAT_CACHE_FORMAT,
    context: contents.context,
    ...(contents.ignore !== undefined ? { ignore: contents.ignore } : {}),
    endian: endianness(),
    files,
    directories,
    children,
    links,
    ...(contents.order !== undefined ? { snapshot: contents.order.length } : {}),
    ...(contents.sourceHash !== undefined ? { sourceHash: contents.sourceHash } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Padding keeps the blocks after the header 8-byte aligned in the file, for readers that map it.
  const headerBytes = Buffer.alloc(Math.ceil((json.length + 1) / 8) * 8, ' ');
  json.copy(headerBytes);
  headerBytes[headerBytes.length - 1] = 0x0a;
  const counts = new Uint32Array(directories);
  for (let i = 0; i < directories; i++)
    counts[i] = contents.childStart[i + 1]! - contents.childStart[i]!;
  const digests = Buffer.from(contents.digests, 'hex');
  if (digests.length !== files * DIGEST_BYTES) throw new Error('stat cache: malformed digest');
  const text = [
    ...contents.filePaths,
    ...contents.dirPaths,
    ...contents.childNames,
    ...contents.linkPaths,
    ...contents.linkTargets,
    '',
  ].join('\0');
  return Buffer.concat([
    headerBytes,
    bytesOf(contents.stats),
    bytesOf(counts),
    ...(contents.order !== undefined ? [bytesOf(contents.order)] : []),
    contents.childKinds,
    digests,
    Buffer.from(text, 'utf8'),
  ]);
}

function bytesOf(array: Float64Array | Uint32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}
