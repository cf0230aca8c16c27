import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DEFAULT_MAX_SOURCE_BYTES, DEFAULT_MAX_SOURCE_ENTRIES } from '@launch-agent/config';
import tar from 'tar-stream';
import type { BuildPlan } from '../context/build-plan.js';
import { digestSourceManifest } from '../context/source-hash.js';
import {
  ContextNotFoundError,
  ContextStoreError,
  type BuildContextStore,
} from '../storage/context-store.js';

/** A LaunchJob's build context cannot be read; `reason` is the status condition's reason. */
export class BuildContextUnavailableError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BuildContextUnavailableError';
  }
}

export interface LocalBuildContext {
  directory: string;
  cleanup(): Promise<void>;
}

const unsafe = (message: string) => new BuildContextUnavailableError('UnsafeBuildContext', message);

/** How much of a stored context the agent unpacks (launchjobs.max-source-bytes / -entries). */
export interface SourceLimits {
  maxBytes: number;
  maxEntries: number;
}

export const DEFAULT_SOURCE_LIMITS: SourceLimits = {
  maxBytes: DEFAULT_MAX_SOURCE_BYTES,
  maxEntries: DEFAULT_MAX_SOURCE_ENTRIES,
};

export interface ExtractOptions {
  /** false: the archive is a plain tar (git archive's output); default gzip. */
  gzip?: boolean;
  /** The temporary directory's name prefix; default `launch-agent-context-`. */
  directoryPrefix?: string;
  /** Where the directory is made; default the system's temporary directory. */
  parentDir?: string;
  /** Names the cap in messages; default the stored context's. */
  capName?: string;
  /** `sha256:<hex>` the archive's bytes must have (`spec.source.context.digest`). */
  expectedDigest?: string;
}

/** Links followed while resolving one path before it counts as a loop (Linux's limit). */
const MAX_LINK_HOPS = 40;

/**
 * Where `target`, read from a link in directory `fromDir` (both relative to `root`), leads, as
 * the kernel would resolve it against what is on disk now: every link met on the way is read
 * and followed. A component not there yet is taken as a plain name. Returns the path inside the
 * root as components, or `undefined` when it leaves the root, is absolute, or loops.
 */
async function resolveLinkTarget(
  root: string,
  fromDir: string[],
  target: string,
): Promise<string[] | undefined> {
  const stack = [...fromDir];
  const pending = target.split('/');
  let hops = 0;
  if (posix.isAbsolute(target)) return undefined;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return undefined;
      stack.pop();
      continue;
    }
    stack.push(part);
    const stat = await lstat(join(root, ...stack)).catch(() => undefined);
    if (!stat?.isSymbolicLink()) continue;
    if (++hops > MAX_LINK_HOPS) return undefined;
    const next = await readlink(join(root, ...stack));
    if (posix.isAbsolute(next)) return undefined;
    stack.pop();
    pending.unshift(...next.split('/'));
  }
  return stack;
}

/** Counts the unpacked bytes and fails the stream past the cap, so nothing more is written. */
function byteBudget(limits: SourceLimits, capName: string): { meter(): Transform } {
  let total = 0;
  return {
    meter: () =>
      new Transform({
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          total += chunk.length;
          if (total > limits.maxBytes) {
            callback(
              unsafe(
                `the context archive unpacks to more than ${limits.maxBytes} bytes (${capName})`,
              ),
            );
          } else callback(null, chunk);
        },
      }),
  };
}

/**
 * The entry's path inside the root, `/`-separated, or an error when it would land outside it.
 * Tar names are POSIX paths whatever the agent's platform.
 */
function entryPath(name: string): string {
  const normalized = posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  if (
    normalized === '' ||
    normalized === '.' ||
    isAbsolute(normalized) ||
    posix.isAbsolute(normalized) ||
    normalized === '..' ||
    normalized.startsWith('../')
  ) {
    throw unsafe(`the context archive has an entry outside its root: ${name}`);
  }
  return normalized;
}

/**
 * Unpacks a context tar.gz stream into a new temporary directory, one file at a time and never
 * whole in memory. The archive comes from whoever could write to the store, so:
 * entries outside the root (absolute paths, `..`) are refused; symbolic links are kept only
 * when their target is relative and stays inside the root (contexts may carry them, and the
 * source hash covers them); nothing is ever written through a link (an entry below a link, or
 * a second entry of the same name, is refused); hard links and devices are refused. Each link
 * is resolved against what is already on disk (and all of them again at the end), so a chain of
 * links cannot lead out of the root. At most `limits.maxBytes` are written and
 * `limits.maxEntries` entries unpacked: past either the stream stops and the directory is removed.
 */
export async function extractContextArchive(
  archive: Readable,
  what: string,
  limits: SourceLimits = DEFAULT_SOURCE_LIMITS,
  options: ExtractOptions = {},
): Promise<LocalBuildContext> {
  const directory = await mkdtemp(
    join(options.parentDir ?? tmpdir(), options.directoryPrefix ?? 'launch-agent-context-'),
  );
  const cleanup = () => rm(directory, { recursive: true, force: true });
  const links = new Set<string>();
  const seen = new Set<string>();
  const extract = tar.extract();
  const budget = byteBudget(limits, options.capName ?? 'launchjobs.max-source-bytes');
  let entries = 0;

  const check = (name: string): string => {
    const path = entryPath(name);
    for (let parent = posix.dirname(path); parent !== '.'; parent = posix.dirname(parent)) {
      if (links.has(parent)) {
        throw unsafe(`the context archive writes ${name} through the symbolic link ${parent}`);
      }
    }
    if (seen.has(path)) {
      throw unsafe(`the context archive has ${name} twice`);
    }
    return path;
  };

  extract.on('entry', (header, stream, next) => {
    void (async () => {
      if (header.type === 'directory' && /^(\.\/)*\.?\/?$/.test(header.name)) {
        stream.resume(); // the root itself, as `tar -C dir .` writes it
        return;
      }
      if (++entries > limits.maxEntries) {
        throw unsafe(
          `the context archive has more than ${limits.maxEntries} entries (launchjobs.max-source-entries)`,
        );
      }
      const path = check(header.name);
      const target = join(directory, ...path.split('/'));
      if (header.type === 'directory') {
        await mkdir(target, { recursive: true });
        stream.resume();
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        seen.add(path);
        await mkdir(dirname(target), { recursive: true });
        // 'wx' never follows or replaces what is already there.
        // The cap's error reaches us through pipeline's rejection; tar-stream re-emits it on
        // the entry stream too, where it would otherwise count as unhandled.
        stream.on('error', () => undefined);
        await pipeline(
          stream,
          budget.meter(),
          createWriteStream(target, { flags: 'wx', mode: (header.mode ?? 0o644) & 0o755 }),
        );
      } else if (header.type === 'symlink') {
        const link = header.linkname ?? '';
        const parent = posix.dirname(path);
        // Resolved against what is on disk, so a chain (l1 -> ., l2 -> l1/..) is seen for
        // where it really leads, not for what its text says.
        const resolved =
          link === ''
            ? undefined
            : await resolveLinkTarget(directory, parent === '.' ? [] : parent.split('/'), link);
        if (resolved === undefined) {
          throw unsafe(
            `the context archive has a symbolic link ${header.name} -> ${link} that leaves the context`,
          );
        }
        seen.add(path);
        links.add(path);
        await mkdir(dirname(target), { recursive: true });
        await symlink(link, target);
        stream.resume();
      } else {
        throw unsafe(
          `the context archive has a ${header.type} entry (${header.name}); only files, directories and symbolic links inside the context are allowed`,
        );
      }
    })().then(
      () => next(),
      (error: unknown) => {
        stream.resume();
        next(error as Error);
      },
    );
  });
  const digest = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      digest.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    // Hashed as it streams in: the archive is read once, and nothing unpacked is used before
    // its digest is known to match.
    if (options.gzip === false) await pipeline(archive, hashing, extract);
    else await pipeline(archive, hashing, createGunzip(), extract);
    const expectedDigest = options.expectedDigest;
    if (expectedDigest !== undefined) {
      const actual = `sha256:${digest.digest('hex')}`;
      if (actual !== expectedDigest) {
        throw new BuildContextUnavailableError(
          'BuildContextMismatch',
          `archive digest: the stored context ${what} is ${actual}, but spec.source.context.digest is ${expectedDigest}; it changed after it was submitted`,
        );
      }
    }
    // A link checked early may lead elsewhere once later links exist: check them all again.
    for (const link of links) {
      const parent = posix.dirname(link);
      const text = await readlink(join(directory, ...link.split('/')));
      const at = await resolveLinkTarget(directory, parent === '.' ? [] : parent.split('/'), text);
      if (at === undefined) {
        throw unsafe(
          `the context archive has a symbolic link ${link} -> ${text} that leaves the context`,
        );
      }
    }
  } catch (error) {
    await cleanup();
    if (error instanceof BuildContextUnavailableError) throw error;
    throw new BuildContextUnavailableError(
      'BuildContextUnreadable',
      `cannot read the build context ${what}: ${(error as Error).message}`,
    );
  }
  return { directory, cleanup };
}

/**
 * Makes a stored context readable as a directory for the build engine: it is downloaded from
 * the store (or read from the mounted claim) and unpacked into a temporary directory, which
 * `cleanup` removes. Whichever builder runs then sends the context on as usual.
 */
export async function localBuildContext(
  store: BuildContextStore | undefined,
  context: StoredContextReference,
  limits: SourceLimits = DEFAULT_SOURCE_LIMITS,
  /** Where the context is unpacked; default the system's temporary directory. */
  parentDir?: string,
): Promise<LocalBuildContext> {
  const { key, digest } = context;
  if (digest === undefined && sourceHashInKey(key) === undefined) {
    throw new BuildContextUnavailableError(
      'BuildContextUnverified',
      `the build context ${key} can be checked against nothing: spec.source.context has no digest and its key names no source hash (contexts/<source hash>.tar.gz); submit it with launch-agent submit, or set digest to the sha256 of the archive`,
    );
  }
  if (!store) {
    throw new BuildContextUnavailableError(
      'NoBuildContextStore',
      'the job has source.context but the agent has no builder.build-context-store',
    );
  }
  let archive: Readable;
  try {
    archive = await store.open(key);
  } catch (error) {
    if (error instanceof ContextNotFoundError) {
      throw new BuildContextUnavailableError(
        'BuildContextNotFound',
        `the build context ${error.uri} does not exist in the store`,
      );
    }
    if (error instanceof ContextStoreError) {
      throw new BuildContextUnavailableError('BuildContextUnreadable', error.message);
    }
    throw error;
  }
  return extractContextArchive(archive, store.uri(key), limits, {
    ...(parentDir ? { parentDir } : {}),
    ...(digest !== undefined ? { expectedDigest: digest } : {}),
  });
}

/** A LaunchJob's `spec.source.context`. */
export interface StoredContextReference {
  key: string;
  /** `sha256:<hex>` of the archive bytes, as `launch-agent submit` uploaded them. */
  digest?: string;
}

/**
 * The source hash a context key names: `launch-agent submit` stores a context as
 * `contexts/<source hash>.tar.gz`, the hash's first 32 hex characters (the image tag) or all 64.
 */
export function sourceHashInKey(key: string): string | undefined {
  return /(?:^|\/)([0-9a-f]{64}|[0-9a-f]{32})\.tar\.gz$/.exec(key)?.[1];
}

/**
 * Refuses an unpacked context whose source hash is not the one its key names. The hash is the
 * submitter's: `launch-agent submit` adds a Dockerfile from outside the context to the archive
 * as `.launch-agent-dockerfile-<tag>`, which its own hash counted only as the Dockerfile, so that
 * entry is left out here too. A key that names no hash is not checked here (the digest is).
 */
export function checkContextSourceHash(
  key: string,
  plan: Pick<
    BuildPlan,
    | 'entries'
    | 'fileDigests'
    | 'dockerfile'
    | 'dockerfileInContext'
    | 'buildArgs'
    | 'target'
    | 'platform'
  >,
): void {
  const named = sourceHashInKey(key);
  if (named === undefined) return;
  const added = plan.dockerfileInContext;
  const addedByTar =
    added !== undefined &&
    new RegExp(`^\\.launch-agent-dockerfile-${named.slice(0, 12)}_*$`).test(added);
  const hash = digestSourceManifest(
    {
      entries: addedByTar ? plan.entries.filter((entry) => entry.path !== added) : plan.entries,
      dockerfile: plan.dockerfile,
      buildArgs: plan.buildArgs,
      ...(plan.target !== undefined ? { target: plan.target } : {}),
      ...(plan.platform !== undefined ? { platform: plan.platform } : {}),
    },
    plan.fileDigests,
  );
  if (!hash.startsWith(named)) {
    throw new BuildContextUnavailableError(
      'BuildContextMismatch',
      `source hash: the build context ${key} unpacks to source ${hash.slice(0, named.length)} (with this job's Dockerfile and build args), not the ${named} its key names`,
    );
  }
}
