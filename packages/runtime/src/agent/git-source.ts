import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { redactText } from './agent-log.js';
import { BuildContextUnavailableError, type LocalBuildContext } from './build-context-source.js';

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
): Promise<LocalBuildContext> {
  checkGitSource(git);
  const directory = await mkdtemp(join(tmpdir(), 'launch-agent-git-'));
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
  return { directory, cleanup };
}
