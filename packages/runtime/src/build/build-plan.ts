import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { walkContext, type ContextEntry } from './context-walk.js';
import { DockerIgnore } from './dockerignore.js';
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
    /**
     * True when the stat cache's snapshot of the last scan still held, so the context was not
     * walked (docs/source-hash.md).
     */
    fromSnapshot: boolean;
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

function resolveDockerfile(
  contextDir: string,
  dockerfile: string | undefined,
  cwd: string,
): string {
  if (dockerfile !== undefined) {
    const path = isAbsolute(dockerfile) ? dockerfile : resolve(cwd, dockerfile);
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new BuildPlanError(
        `Dockerfile ${path} does not exist`,
        'Pass --dockerfile a path to a file (relative to the current directory)',
      );
    }
    return realpathSync(path);
  }
  // As the docker CLI does, fall back to a lowercase `dockerfile`.
  for (const name of ['Dockerfile', 'dockerfile']) {
    const path = join(contextDir, name);
    if (existsSync(path) && statSync(path).isFile()) return realpathSync(path);
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
  const dockerfilePath = resolveDockerfile(contextDir, options.dockerfile, cwd);
  const dockerfile = readFileSync(dockerfilePath);
  const ignore = DockerIgnore.load(contextDir, dockerfilePath);

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
      : StatCache.open(
          contextDir,
          options.cacheDir ?? defaultCacheDir(),
          options.now,
          ignore.fingerprint,
        );
  // The last scan's snapshot when it still holds; else a walk, reusing what listings it can.
  const entries = cache?.snapshotEntries(contextDir) ?? walkContext(contextDir, ignore, cache);
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
    stats: {
      ...hashed.stats,
      fromSnapshot: cache?.snapshotUsed ?? false,
      planMs: performance.now() - started,
    },
  };
  if (inContext) plan.dockerfileInContext = relativeDockerfile;
  if (ignore.source) plan.ignoreFile = ignore.source;
  if (options.target) plan.target = options.target;
  if (options.platform) plan.platform = options.platform;
  return plan;
}
