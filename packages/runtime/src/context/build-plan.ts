import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import {
  CONTEXT_TEXT_FILE_MAX_BYTES,
  ContextFileError,
  isInside,
  readContextFile,
} from './contained-file.js';
import { walkContext, type ContextEntry } from './walk.js';
import { DockerIgnore, DockerIgnoreError } from './dockerignore.js';
import { computeSourceHash, SOURCE_HASH_VERSION } from './source-hash.js';
import { defaultCacheDir, StatCache } from './stat-cache.js';

/** Image label that records the full source hash; the tag holds its first 32 hex characters. */
export const SOURCE_HASH_LABEL = 'dev.launch-agent.source-hash';
export const SOURCE_HASH_VERSION_LABEL = 'dev.launch-agent.source-hash.version';

export interface BuildPlanOptions {
  /** The build context directory. */
  contextDir: string;
  /** Dockerfile path, relative to `cwd` like `docker build -f`; default `Dockerfile` in the context. */
  dockerfile?: string;
  /**
   * Dockerfile path relative to the context root (a LaunchJob's `spec.dockerfile`): it must
   * resolve inside the context, or the plan fails with `UnsafeContextFileError`. Wins over
   * `dockerfile`.
   */
  contextDockerfile?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: string;
  /** Where the stat cache lives; `false` turns it off. Default: see `defaultCacheDir`. */
  cacheDir?: string | false;
  /** Hashing threads; default one per core. */
  threads?: number;
  /** When the scan starts (ms since the epoch), for the stat cache's racy-file rule; default now. */
  now?: number;
  cwd?: string;
}

/** Everything a builder needs, decided before anything is built. */
export interface BuildPlan {
  /** Absolute, symlink-resolved context directory. */
  contextDir: string;
  /** Absolute Dockerfile path. */
  dockerfilePath: string;
  dockerfile: Buffer;
  /** The Dockerfile's path inside the context when it is an included file of it. */
  dockerfileInContext?: string;
  /** The ignore file that was applied, if any. */
  ignoreFile?: string;
  /** Included entries, sorted by path. */
  entries: ContextEntry[];
  /** SHA-256 of each included file, by relative path: what the context tar is checked against. */
  fileDigests: Map<string, string>;
  buildArgs: Record<string, string>;
  target?: string;
  platform?: string;
  /** Full source hash (64 hex). */
  sourceHash: string;
  /** Image tag (first 32 hex of the source hash). */
  tag: string;
  labels: Record<string, string>;
  stats: {
    files: number;
    bytes: number;
    hashedFiles: number;
    hashedBytes: number;
    cachedFiles: number;
    planMs: number;
  };
}

/** The plan cannot be made: the message says what to fix. */
export class BuildPlanError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(`${message}. ${hint}`);
    this.name = 'BuildPlanError';
  }
}

/**
 * The Dockerfile or `.dockerignore` of a build cannot be used: it resolves outside the build
 * context (a link out of it), is not a regular file, or is too large. `path` is the path as the
 * user gave it.
 */
export class UnsafeContextFileError extends BuildPlanError {
  constructor(
    readonly path: string,
    readonly problem: ContextFileError['problem'],
    message: string,
    hint: string,
  ) {
    super(message, hint);
    this.name = 'UnsafeContextFileError';
  }
}

function unsafeFile(error: unknown, shown: string, what: string): unknown {
  if (!(error instanceof ContextFileError)) return error;
  const problems = {
    'outside-context': `${what} ${shown} resolves outside the build context`,
    'not-a-file': `${what} ${shown} is not a regular file`,
    'too-large': `${what} ${shown} is larger than ${CONTEXT_TEXT_FILE_MAX_BYTES} bytes`,
    missing: `${what} ${shown} does not exist`,
  };
  const hints = {
    'outside-context': 'Keep it inside the context as a file, not a link to a path outside it',
    'not-a-file': 'Make it a plain file (not a link to a device, pipe or directory)',
    'too-large': `Keep it under ${CONTEXT_TEXT_FILE_MAX_BYTES} bytes`,
    missing: 'Add the file',
  };
  return new UnsafeContextFileError(
    shown,
    error.problem,
    problems[error.problem],
    hints[error.problem],
  );
}

/** The Dockerfile's text and where it really is, and whether it lies inside the context. */
interface ResolvedDockerfile {
  path: string;
  bytes: Buffer;
  inside: boolean;
}

/** A path as given, relative to the context, that must stay inside it: refused lexically first. */
function contextRelativeDockerfile(contextDir: string, given: string): string {
  const normalized = posix.normalize(given.split(sep).join('/'));
  if (isAbsolute(given) || normalized === '..' || normalized.startsWith('../')) {
    throw new UnsafeContextFileError(
      given,
      'outside-context',
      `Dockerfile ${given} is outside the build context`,
      'Give the Dockerfile as a path relative to the context root, inside it',
    );
  }
  return join(contextDir, ...normalized.split('/'));
}

async function readDockerfile(
  root: string,
  path: string,
  shown: string,
  missingHint: string,
): Promise<{ path: string; bytes: Buffer }> {
  let read;
  try {
    read = await readContextFile(root, path);
  } catch (error) {
    throw unsafeFile(error, shown, 'Dockerfile');
  }
  if (!read) throw new BuildPlanError(`Dockerfile ${shown} does not exist`, missingHint);
  return { path: read.realPath, bytes: read.bytes };
}

/**
 * Finds and reads the Dockerfile. One inside the context (by default, by `contextDockerfile`,
 * or a `dockerfile` path that names a file below the context) must resolve inside it: a link
 * out of the context is refused, so a job's source cannot make the plan read the agent's files.
 * Only an explicit `dockerfile` path outside the context (`docker build -f ../Dockerfile`) is
 * read from where it is.
 */
async function resolveDockerfile(
  requestedDir: string,
  contextDir: string,
  options: Pick<BuildPlanOptions, 'dockerfile' | 'contextDockerfile'>,
  cwd: string,
): Promise<ResolvedDockerfile> {
  if (options.contextDockerfile !== undefined) {
    const path = contextRelativeDockerfile(contextDir, options.contextDockerfile);
    const read = await readDockerfile(
      contextDir,
      path,
      options.contextDockerfile,
      'Add the Dockerfile to the context or name one that is in it',
    );
    return { ...read, inside: true };
  }
  if (options.dockerfile !== undefined) {
    const path = isAbsolute(options.dockerfile)
      ? options.dockerfile
      : resolve(cwd, options.dockerfile);
    const lexicallyInside = isInside(requestedDir, path) || isInside(contextDir, path);
    const hint = 'Pass --dockerfile a path to a file (relative to the current directory)';
    if (lexicallyInside) {
      const inContext = isInside(contextDir, path)
        ? path
        : join(contextDir, relative(requestedDir, path));
      return { ...(await readDockerfile(contextDir, inContext, path, hint)), inside: true };
    }
    return { ...(await readDockerfile(sep, path, path, hint)), inside: false };
  }
  // As the docker CLI does, fall back to a lowercase `dockerfile`.
  for (const name of ['Dockerfile', 'dockerfile']) {
    let read;
    try {
      read = await readContextFile(contextDir, join(contextDir, name));
    } catch (error) {
      throw unsafeFile(error, name, 'Dockerfile');
    }
    if (read) return { path: read.realPath, bytes: read.bytes, inside: true };
  }
  throw new BuildPlanError(
    `no Dockerfile in ${contextDir}`,
    'Add a Dockerfile to the context or pass --dockerfile PATH',
  );
}

/**
 * Makes the build plan: resolves the context and the Dockerfile, applies `.dockerignore`, and
 * computes the source hash from which the image tag comes.
 */
export async function createBuildPlan(options: BuildPlanOptions): Promise<BuildPlan> {
  const started = performance.now();
  const cwd = options.cwd ?? process.cwd();
  const requested = resolve(cwd, options.contextDir);
  if (!existsSync(requested) || !statSync(requested).isDirectory()) {
    throw new BuildPlanError(
      `build context ${requested} is not a directory`,
      'Pass the directory that holds your source and Dockerfile',
    );
  }
  const contextDir = realpathSync(requested);
  const resolved = await resolveDockerfile(requested, contextDir, options, cwd);
  const dockerfilePath = resolved.path;
  const dockerfile = resolved.bytes;
  let ignore: DockerIgnore;
  try {
    ignore = await DockerIgnore.load(contextDir, dockerfilePath, resolved.inside);
  } catch (error) {
    if (error instanceof DockerIgnoreError) {
      throw new BuildPlanError(error.message, 'Fix the .dockerignore file');
    }
    throw unsafeFile(error, error instanceof ContextFileError ? error.path : '', '.dockerignore');
  }

  const buildArgs: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.buildArgs ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
      throw new BuildPlanError(
        `build arg name "${key}" is not valid`,
        'Use --build-arg NAME=VALUE with a name of letters, digits and underscores',
      );
    }
    buildArgs[key] = value;
  }

  const cache =
    options.cacheDir === false
      ? undefined
      : StatCache.open(contextDir, options.cacheDir ?? defaultCacheDir(), options.now);
  const entries = walkContext(contextDir, ignore);
  const inputs = {
    entries,
    dockerfile,
    buildArgs,
    ...(options.target ? { target: options.target } : {}),
    ...(options.platform ? { platform: options.platform } : {}),
  };
  const hashed = await computeSourceHash(inputs, {
    ...(cache ? { cache } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
  });

  const relativeDockerfile = relative(contextDir, dockerfilePath).split(sep).join('/');
  const inContext =
    !relativeDockerfile.startsWith('../') &&
    !isAbsolute(relativeDockerfile) &&
    entries.some((e) => e.type === 'file' && e.path === relativeDockerfile);

  const plan: BuildPlan = {
    contextDir,
    dockerfilePath,
    dockerfile,
    entries,
    fileDigests: hashed.fileDigests,
    buildArgs,
    sourceHash: hashed.hash,
    tag: hashed.tag,
    labels: { [SOURCE_HASH_LABEL]: hashed.hash, [SOURCE_HASH_VERSION_LABEL]: SOURCE_HASH_VERSION },
    stats: { ...hashed.stats, planMs: performance.now() - started },
  };
  if (inContext) plan.dockerfileInContext = relativeDockerfile;
  if (ignore.source) plan.ignoreFile = ignore.source;
  if (options.target) plan.target = options.target;
  if (options.platform) plan.platform = options.platform;
  return plan;
}
