// How the agent runs git for a job's source: in a bare environment (no system or global git
// config, an empty HOME, a minimal set of variables) so that nothing but what this file sets
// decides where git connects and which credentials it offers; under a file-size limit; in its own
// process group, so the whole tree (git, index-pack, ssh, git-remote-https) is killed at once.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { CREDENTIAL_SCHEMES, type GitScheme } from '@launch-agent/config';

/** Variables passed through to git: the network (proxies, CAs) and the locale. Nothing else. */
const PASSED_THROUGH = [
  'PATH',
  'LANG',
  'LC_ALL',
  'TZ',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
];

/** ssh for a host without credentials: no key, no agent, no password, no prompt. */
const SSH_WITHOUT_CREDENTIALS =
  'ssh -F /dev/null -o BatchMode=yes -o PubkeyAuthentication=no -o PasswordAuthentication=no ' +
  '-o KbdInteractiveAuthentication=no -o GSSAPIAuthentication=no -o HostbasedAuthentication=no ' +
  '-o IdentityAgent=none -o ForwardAgent=no -o ClearAllForwardings=yes';

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export interface GitRunEnvironment {
  /** What git is started with. */
  env: NodeJS.ProcessEnv;
  /** `-c` options placed before every git subcommand (they reach git's own children too). */
  configArgs: string[];
}

/**
 * The environment and options of every git the agent runs for a job. Only the schemes allowed
 * by launchjobs.git-sources.schemes are enabled (protocol.allow=never otherwise, and the same
 * list in GIT_ALLOW_PROTOCOL), nothing a repository says is followed (no redirects, no
 * submodules, no hooks). Credentials are offered only when `credentials` is given, which the
 * caller does for a host of launchjobs.git-sources.credential-hosts over https or ssh.
 */
export function gitRunEnvironment(options: {
  schemes: readonly GitScheme[];
  /** An empty directory: git's and ssh's HOME, so no ~/.gitconfig, ~/.netrc or ~/.git-credentials is read. */
  home: string;
  /** The agent's process environment, read for the passed-through variables. */
  processEnv: NodeJS.ProcessEnv;
  credentials?: { scheme: GitScheme; credentialsFile: string };
}): GitRunEnvironment {
  const { schemes, home, processEnv, credentials } = options;
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_THROUGH)
    if (processEnv[name] !== undefined) env[name] = processEnv[name];
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    SSH_ASKPASS: 'true',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_ALLOW_PROTOCOL: schemes.join(':'),
    GIT_SSH_COMMAND: SSH_WITHOUT_CREDENTIALS,
  });
  const configArgs = [
    'protocol.allow=never',
    ...schemes.map((scheme) => `protocol.${scheme}.allow=always`),
    'http.followRedirects=false',
    // A stalled server must not hold the build for its whole timeout.
    'http.lowSpeedLimit=1024',
    'http.lowSpeedTime=60',
    'credential.helper=',
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'submodule.recurse=false',
    'fetch.recurseSubmodules=false',
    'advice.detachedHead=false',
  ];
  if (credentials && CREDENTIAL_SCHEMES.includes(credentials.scheme)) {
    if (credentials.scheme === 'https') {
      configArgs.push(`credential.helper=store --file=${shellQuote(credentials.credentialsFile)}`);
    } else {
      // The agent's own ssh setup: its GIT_SSH_COMMAND (the keys the chart mounts) or plain ssh.
      env.GIT_SSH_COMMAND = `${processEnv.GIT_SSH_COMMAND ?? 'ssh'} -o BatchMode=yes`;
      if (processEnv.SSH_AUTH_SOCK) env.SSH_AUTH_SOCK = processEnv.SSH_AUTH_SOCK;
    }
  }
  return { env, configArgs: configArgs.flatMap((option) => ['-c', option]) };
}

let prlimitPath: string | null | undefined;
/** util-linux's prlimit, when the image has it: it sets a byte-exact RLIMIT_FSIZE on git. */
function prlimit(): string | null {
  if (prlimitPath !== undefined) return prlimitPath;
  prlimitPath = null;
  for (const candidate of ['/usr/bin/prlimit', '/bin/prlimit']) {
    try {
      accessSync(candidate, constants.X_OK);
      prlimitPath = candidate;
      break;
    } catch {
      // not here
    }
  }
  return prlimitPath;
}

/** Keeps the last `max` bytes of a stream (git's stderr), so a chatty server cannot grow it. */
function lastBytes(stream: Readable, max: number): () => string {
  let kept = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    kept = Buffer.concat([kept, chunk]);
    if (kept.length > max) kept = kept.subarray(kept.length - max);
  });
  return () => kept.toString('utf8');
}

export interface GitRun {
  stdout: Readable;
  /** Settles when git exits: code 0 resolves; anything else rejects with its stderr's end. */
  done: Promise<void>;
  /** Kills git and every process it started. */
  kill(): void;
}

export class GitExitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
    this.name = 'GitExitError';
  }
}

/**
 * Starts `git <configArgs> <args>` in `cwd`, no single file it writes larger than
 * `maxFileBytes` (the kernel stops it: SIGXFSZ), killed with its process group on `signal`.
 */
export function runGit(
  args: string[],
  options: {
    cwd: string;
    environment: GitRunEnvironment;
    maxFileBytes: number;
    signal?: AbortSignal;
  },
): GitRun {
  const { cwd, environment, maxFileBytes, signal } = options;
  const gitArgs = [...environment.configArgs, ...args];
  const limiter = prlimit();
  const [command, commandArgs] = limiter
    ? [limiter, [`--fsize=${maxFileBytes}`, '--', 'git', ...gitArgs]]
    : ['git', gitArgs];
  const child = spawn(command, commandArgs, {
    cwd,
    env: environment.env,
    detached: true, // its own process group: kill() reaches git's children too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = lastBytes(child.stderr, 8192);
  // Read from the start: when git exits, Node resumes (and so drops) any stdout nobody reads yet.
  const stdout = child.stdout.pipe(new PassThrough());
  const kill = () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const onAbort = () => kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.once('close', (code, exitSignal) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else {
        reject(
          new GitExitError(
            `git ${args[0]} exited with ${code ?? exitSignal}`,
            stderr(),
            code,
            exitSignal,
          ),
        );
      }
    });
  });
  return { stdout, done, kill };
}
