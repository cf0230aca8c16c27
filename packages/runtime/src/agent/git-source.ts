import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { redactText } from './agent-log.js';
import {
  BuildContextUnavailableError,
  DEFAULT_SOURCE_LIMITS,
  type LocalBuildContext,
  type SourceLimits,
} from './build-context-source.js';

const run = promisify(execFile);

/**
 * Checks a LaunchJob's git source before anything runs. Credentials inside the URL are refused:
 * they would end up in process arguments and in the LaunchJob for anyone who can read it. Private
 * repositories authenticate through the agent's own git configuration (a credential helper or an
 * SSH key mounted into the pod).
 */
export function checkGitSource(git: { url: string; ref?: string }): void {
  const { url, ref } = git;
  if (url.startsWith('-') || (ref ?? '').startsWith('-')) {
    throw new BuildContextUnavailableError(
      'InvalidGitSource',
      'source.git.url and source.git.ref may not start with "-"',
    );
  }
  const scp = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]/.test(url); // git@host:org/repo.git
  if (!scp) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new BuildContextUnavailableError(
        'InvalidGitSource',
        `source.git.url ${redactText(url)} is neither a URL (https://, ssh://, git://, file://) nor user@host:path`,
      );
    }
    if (!['https:', 'http:', 'ssh:', 'git:', 'file:'].includes(parsed.protocol)) {
      throw new BuildContextUnavailableError(
        'InvalidGitSource',
        `source.git.url uses ${parsed.protocol}; use https://, ssh://, git:// or file://`,
      );
    }
    if (parsed.password) {
      throw new BuildContextUnavailableError(
        'GitCredentialsInUrl',
        `source.git.url ${redactText(url)} carries a password or token; configure git credentials for the agent instead`,
      );
    }
  }
}

/**
 * Fetches one ref (branch, tag or a commit the server lets clients fetch; default the remote's
 * HEAD) at depth 1 into a new directory and removes `.git`, so the source hash covers the tree
 * only. Never prompts for credentials.
 */
export async function fetchGitSource(
  git: { url: string; ref?: string },
  signal?: AbortSignal,
  limits: SourceLimits = DEFAULT_SOURCE_LIMITS,
  /** Where the checkout's directory is made; default the system's temporary directory. */
  parentDir: string = tmpdir(),
): Promise<LocalBuildContext> {
  checkGitSource(git);
  const directory = await mkdtemp(join(parentDir, 'launch-agent-git-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' };
  const git_ = (args: string[]) =>
    run('git', args, {
      cwd: directory,
      env,
      maxBuffer: 16 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
  try {
    await git_(['init', '--quiet']);
    await git_(['remote', 'add', 'origin', git.url]);
    await git_(['fetch', '--quiet', '--depth', '1', 'origin', git.ref ?? 'HEAD']);
    await git_(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', 'FETCH_HEAD']);
    await rm(join(directory, '.git'), { recursive: true, force: true });
  } catch (error) {
    await cleanup();
    const e = error as { stderr?: string; message: string; code?: unknown };
    if (e.code === 'ENOENT') {
      throw new BuildContextUnavailableError(
        'GitUnavailable',
        'git is not installed in the agent image',
      );
    }
    throw new BuildContextUnavailableError(
      'GitFetchFailed',
      `fetching ${git.ref ?? 'HEAD'} from ${redactText(git.url)} failed: ${redactText((e.stderr || e.message).trim())}`,
    );
  }
  try {
    await checkCheckoutSize(directory, limits);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { directory, cleanup };
}

/**
 * The checkout is held to the same caps as a stored context (launchjobs.max-source-*), so a
 * huge repository fails the job instead of being hashed and sent to a builder. Links are
 * counted, never followed.
 */
async function checkCheckoutSize(root: string, limits: SourceLimits): Promise<void> {
  let bytes = 0;
  let entries = 0;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      if (++entries > limits.maxEntries) {
        throw new BuildContextUnavailableError(
          'UnsafeBuildContext',
          `the git checkout has more than ${limits.maxEntries} entries (launchjobs.max-source-entries)`,
        );
      }
      const path = join(dir, dirent.name);
      if (dirent.isDirectory()) pending.push(path);
      else if (dirent.isFile()) bytes += (await lstat(path)).size;
      if (bytes > limits.maxBytes) {
        throw new BuildContextUnavailableError(
          'UnsafeBuildContext',
          `the git checkout holds more than ${limits.maxBytes} bytes (launchjobs.max-source-bytes)`,
        );
      }
    }
  }
}
