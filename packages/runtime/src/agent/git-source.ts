// A LaunchJob's git source, fetched as untrusted input: only from the hosts and schemes of
// launchjobs.git-sources (git-url.ts), with the agent's credentials only for the hosts they are
// bound to (git-process.ts), and never more on disk than launchjobs.max-source-bytes: the fetched
// pack is capped while git writes it, and the files are streamed out of it (git archive) through
// the same capped extractor as a stored context, so the write that would pass the cap is refused.
import { mkdir, mkdtemp, readdir, lstat, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactText, type GitSourceSettings } from '@launch-agent/config';
import {
  BuildContextUnavailableError,
  DEFAULT_SOURCE_LIMITS,
  extractContextArchive,
  type LocalBuildContext,
  type SourceLimits,
} from './build-context-source.js';
import { GitExitError, gitRunEnvironment, runGit, type GitRunEnvironment } from './git-process.js';
import { checkGitSource, credentialsBound, type CheckedGitUrl } from './git-url.js';

export { checkGitSource, redactGitUrl, ANY_GIT_HOST, type CheckedGitUrl } from './git-url.js';

/** How often the fetch's directory is measured while git writes it. */
const WATCH_INTERVAL_MS = 50;

export interface FetchGitSourceOptions {
  /** launchjobs.git-sources, normalized. */
  policy: GitSourceSettings;
  limits?: SourceLimits;
  signal?: AbortSignal;
  /** The agent's environment (for proxies, CAs and its ssh setup); default process.env. */
  processEnv?: NodeJS.ProcessEnv;
  /** Where the fetch's and the checkout's directories are made; default the system's temporary directory. */
  parentDir?: string;
}

/** Bytes of regular files under `root` (links are not followed). */
export async function bytesUnder(root: string): Promise<number> {
  let bytes = 0;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const dirents = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const dirent of dirents) {
      const path = join(dir, dirent.name);
      if (dirent.isDirectory()) pending.push(path);
      else if (dirent.isFile()) bytes += (await lstat(path).catch(() => undefined))?.size ?? 0;
    }
  }
  return bytes;
}

const tooLarge = (shown: string, maxBytes: number) =>
  new BuildContextUnavailableError(
    'UnsafeBuildContext',
    `the git source ${shown} takes more than ${maxBytes} bytes (launchjobs.max-source-bytes) while it is fetched`,
  );

/** `git fetch --depth 1` into the bare repository, stopped (with git's children) past the cap. */
async function fetchPack(options: {
  checked: CheckedGitUrl;
  ref: string;
  repo: string;
  environment: GitRunEnvironment;
  maxBytes: number;
  signal?: AbortSignal;
}): Promise<number> {
  const { checked, ref, repo, environment, maxBytes, signal } = options;
  const fetch = runGit(
    [
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-recurse-submodules',
      '--depth',
      '1',
      '--',
      checked.url,
      ref,
    ],
    { cwd: repo, environment, maxFileBytes: maxBytes, ...(signal ? { signal } : {}) },
  );
  fetch.stdout.resume();
  let over = false;
  let measuring = false;
  const watch = setInterval(() => {
    if (measuring) return;
    measuring = true;
    void bytesUnder(repo)
      .then((bytes) => {
        if (bytes > maxBytes) {
          over = true;
          fetch.kill();
        }
      })
      .finally(() => (measuring = false));
  }, WATCH_INTERVAL_MS);
  try {
    await fetch.done;
  } catch (error) {
    if (over || (error instanceof GitExitError && error.signal === 'SIGXFSZ')) {
      throw tooLarge(checked.shown, maxBytes);
    }
    if ((await bytesUnder(repo)) >= maxBytes) throw tooLarge(checked.shown, maxBytes);
    throw error;
  } finally {
    clearInterval(watch);
  }
  const bytes = await bytesUnder(repo);
  if (bytes > maxBytes) throw tooLarge(checked.shown, maxBytes);
  return bytes;
}

/**
 * Fetches one ref (branch, tag or a commit the server lets clients fetch; default the remote's
 * HEAD) at depth 1 and writes its files into a new directory, never prompting. Refuses what
 * launchjobs.git-sources does not allow before anything connects. The pack and the files together
 * stay within `limits.maxBytes`, the files within `limits.maxEntries`; past either, git is killed,
 * what was written is removed and the job fails (UnsafeBuildContext). Submodules are not fetched.
 */
export async function fetchGitSource(
  git: { url: string; ref?: string },
  options: FetchGitSourceOptions,
): Promise<LocalBuildContext> {
  const { policy, signal } = options;
  const limits = options.limits ?? DEFAULT_SOURCE_LIMITS;
  const processEnv = options.processEnv ?? process.env;
  const checked = checkGitSource(git, policy);
  const ref = git.ref ?? 'HEAD';
  const parentDir = options.parentDir ?? tmpdir();
  const work = await mkdtemp(join(parentDir, 'launch-agent-git-'));
  const repo = join(work, 'repo');
  const home = join(work, 'home');
  try {
    await mkdir(home);
    const environment = gitRunEnvironment({
      schemes: policy.schemes,
      home,
      processEnv,
      ...(credentialsBound(checked, policy)
        ? {
            credentials: {
              scheme: checked.scheme,
              credentialsFile:
                policy.credentialsFile ?? join(processEnv.HOME ?? homedir(), '.git-credentials'),
            },
          }
        : {}),
    });
    await mkdir(repo);
    await runGit(['init', '--quiet', '--bare', '--template='], {
      cwd: repo,
      environment,
      maxFileBytes: limits.maxBytes,
    }).done;
    // The files are those of a checkout: attributes in the tree may not drop or rewrite them.
    await mkdir(join(repo, 'info'), { recursive: true });
    await writeFile(join(repo, 'info', 'attributes'), '* -export-ignore -export-subst\n');
    const packBytes = await fetchPack({
      checked,
      ref,
      repo,
      environment,
      maxBytes: limits.maxBytes,
      ...(signal ? { signal } : {}),
    });
    const archive = runGit(['archive', '--format=tar', 'FETCH_HEAD'], {
      cwd: repo,
      environment,
      maxFileBytes: limits.maxBytes,
      ...(signal ? { signal } : {}),
    });
    const archiveEnd = archive.done.catch((error: unknown) => error);
    let local: LocalBuildContext;
    try {
      local = await extractContextArchive(
        archive.stdout,
        `git ${checked.shown}`,
        { maxBytes: limits.maxBytes - packBytes, maxEntries: limits.maxEntries },
        {
          gzip: false,
          directoryPrefix: 'launch-agent-git-checkout-',
          parentDir,
          capName: `launchjobs.max-source-bytes, less the ${packBytes} bytes of the fetched pack`,
        },
      );
    } catch (error) {
      archive.kill();
      await archiveEnd;
      throw error;
    }
    const ended = await archiveEnd;
    if (ended instanceof Error) {
      await local.cleanup();
      throw ended;
    }
    return local;
  } catch (error) {
    throw gitError(error, checked, ref);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function gitError(error: unknown, checked: CheckedGitUrl, ref: string): unknown {
  if (error instanceof BuildContextUnavailableError) return error;
  const e = error as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') {
    return new BuildContextUnavailableError(
      'GitUnavailable',
      'git is not installed in the agent image',
    );
  }
  if ((error as Error).name === 'AbortError') return error;
  const detail = (e.stderr || e.message || String(error)).trim().slice(-2000);
  return new BuildContextUnavailableError(
    'GitFetchFailed',
    `fetching ${ref} from ${checked.shown} failed: ${redactText(detail)}`,
  );
}
