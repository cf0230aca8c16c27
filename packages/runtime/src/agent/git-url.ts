// A LaunchJob's spec.source.git is untrusted input: whoever may create a LaunchJob chooses where
// the agent fetches from, with the agent's network position and credentials. This module decides
// whether a URL and ref may be fetched at all; git-fetch.ts decides how.
import {
  DEFAULT_GIT_SCHEMES,
  hostMatches,
  normalizeHost,
  redactText,
  type GitScheme,
  type GitSourceSettings,
} from '@launch-agent/config';
import { BuildContextUnavailableError } from './build-context-source.js';

/** A git URL that passed the checks: what git is handed, and what messages show. */
export interface CheckedGitUrl {
  scheme: GitScheme;
  /** Lower case, IPv6 without brackets. */
  host: string;
  /** The URL given to git: re-serialised from what was checked, so git sees what was checked. */
  url: string;
  /** The URL for messages: any user name or password replaced by ***. */
  shown: string;
}

/** Only the form is checked (the CLI, before the agent's config is known): any host, any scheme but file. */
export const ANY_GIT_HOST: GitSourceSettings = {
  hosts: ['*'],
  schemes: ['https', 'ssh', 'http', 'git'],
  credentialHosts: [],
};

const KEY = 'spec.source.git.url';
/** Longest URL or ref accepted; real ones are far shorter. */
const MAX_URL_LENGTH = 2048;
const MAX_REF_LENGTH = 255;
/** `user@host:path` (or `host:path`): git's scp-like ssh form; the colon comes before any slash. */
const SCP_LIKE = /^(?:([^@/:[\]]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:/[\]@]+):(.*)$/;
const HOST_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
const SSH_USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
/** Branch, tag or commit names: no refspec (`:`), glob (`*`), option, whitespace or `..`. */
const REF = /^[A-Za-z0-9_][A-Za-z0-9._/+@-]*$/;

// Control characters are what this module looks for: the regular expressions name them on purpose.
/* eslint-disable no-control-regex */
const CONTROL = /[\u0000-\u001f\u007f]/g;
const UNSAFE_IN_URL = /[\s\u0000-\u001f\u007f\\]/;
/* eslint-enable no-control-regex */

const invalid = (message: string) => new BuildContextUnavailableError('InvalidGitSource', message);

/** The URL as it may be shown: user names and passwords replaced, secret-looking query values too. */
export function redactGitUrl(url: string): string {
  const cut = url.length > 200 ? `${url.slice(0, 200)}...` : url;
  return redactText(
    cut.replace(CONTROL, '?').replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@'),
  );
}

function describeAllowed(policy: GitSourceSettings): string {
  const hosts = policy.hosts.length === 0 ? 'no host' : policy.hosts.join(', ');
  return `allowed: ${policy.schemes.map((s) => (s === 'ssh' ? 'ssh (ssh:// or user@host:path)' : `${s}://`)).join(', ')} from ${hosts} (launchjobs.git-sources)`;
}

function notAllowed(url: string, why: string, policy: GitSourceSettings): Error {
  return new BuildContextUnavailableError(
    'GitSourceNotAllowed',
    `${KEY} ${JSON.stringify(redactGitUrl(url))} is not allowed: ${why}; ${describeAllowed(policy)}`,
  );
}

function checkRef(ref: string | undefined): void {
  if (ref === undefined) return;
  if (
    ref.length > MAX_REF_LENGTH ||
    !REF.test(ref) ||
    ref.includes('..') ||
    ref.endsWith('.lock')
  ) {
    throw invalid(
      `spec.source.git.ref ${JSON.stringify(redactText(ref.slice(0, 100)))} is not a branch, tag or commit name (letters, digits and . _ / + @ -, not starting with - or ., no ..)`,
    );
  }
}

/** Parses the URL's form; everything but the host and scheme lists is checked here. */
function parseGitUrl(url: string, policy: GitSourceSettings): CheckedGitUrl {
  if (url.startsWith('-')) throw invalid(`${KEY} may not start with "-"`);
  if (url.length > MAX_URL_LENGTH || UNSAFE_IN_URL.test(url)) {
    throw invalid(
      `${KEY} ${JSON.stringify(redactGitUrl(url))} has whitespace, a control character or a backslash, or is longer than ${MAX_URL_LENGTH} characters`,
    );
  }
  const transport = /^([A-Za-z][A-Za-z0-9+.-]*)::/.exec(url);
  if (transport) {
    throw notAllowed(
      url,
      `git's ${transport[1]}:: transport runs programs or reads local files and is never allowed`,
      policy,
    );
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(url);
    if (!scp)
      throw notAllowed(url, 'a local path is never allowed (only URLs and user@host:path)', policy);
    const [, user, rawHost, path] = scp as unknown as [string, string | undefined, string, string];
    const host = normalizeHost(rawHost);
    if (!HOST_NAME.test(host) && !rawHost.startsWith('[')) {
      throw invalid(`${KEY} ${JSON.stringify(redactGitUrl(url))} has no valid host before ":"`);
    }
    if (user !== undefined && !SSH_USER.test(user)) {
      throw new BuildContextUnavailableError(
        'GitCredentialsInUrl',
        `${KEY} ${JSON.stringify(redactGitUrl(url))} has a user part that is not a plain user name`,
      );
    }
    if (path.startsWith('-')) throw invalid(`${KEY}'s path may not start with "-"`);
    return { scheme: 'ssh', host, url: `${user ? `${user}@` : ''}${rawHost}:${path}`, shown: url };
  }
  if (scheme === 'file')
    throw notAllowed(url, "file:// reads the agent's own disk and is never allowed", policy);
  if (!(['https', 'http', 'ssh', 'git'] as string[]).includes(scheme)) {
    const hint = scheme === 'git+ssh' || scheme === 'ssh+git' ? ' (write ssh:// instead)' : '';
    throw notAllowed(
      url,
      `the scheme ${scheme}:// is not a git transport the agent uses${hint}`,
      policy,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`${KEY} ${JSON.stringify(redactGitUrl(url))} is not a valid URL`);
  }
  const host = normalizeHost(parsed.hostname);
  if (!HOST_NAME.test(host) && !parsed.hostname.startsWith('[')) {
    throw invalid(`${KEY} ${JSON.stringify(redactGitUrl(url))} has no valid host`);
  }
  if (parsed.password || (parsed.username && scheme !== 'ssh')) {
    // A user name alone is how tokens often ride in https URLs (https://TOKEN@host/...).
    throw new BuildContextUnavailableError(
      'GitCredentialsInUrl',
      `${KEY} ${JSON.stringify(redactGitUrl(url))} carries a user name, password or token; the agent's own credentials are used for the hosts they are bound to (launchjobs.git-sources.credential-hosts)`,
    );
  }
  if (parsed.username && !SSH_USER.test(decodeURIComponent(parsed.username))) {
    throw invalid(`${KEY}'s ssh user name is not a plain user name`);
  }
  return {
    scheme: scheme as GitScheme,
    host,
    url: parsed.href,
    shown: redactGitUrl(parsed.href),
  };
}

/**
 * Checks a LaunchJob's git source before anything is fetched: the URL's form (no local path,
 * file://, remote-helper transport, credentials inside, option in disguise), its scheme and host
 * against launchjobs.git-sources, and the ref. Throws a BuildContextUnavailableError whose reason
 * (GitSourceNotAllowed, GitCredentialsInUrl, InvalidGitSource) becomes the job's Failed reason.
 * Without a policy only the form is checked (any host, any scheme but file).
 */
export function checkGitSource(
  git: { url: string; ref?: string },
  policy: GitSourceSettings = ANY_GIT_HOST,
): CheckedGitUrl {
  if (typeof git.url !== 'string' || git.url === '') throw invalid(`${KEY} is empty`);
  checkRef(git.ref);
  const checked = parseGitUrl(git.url, policy);
  const schemes = policy.schemes.length > 0 ? policy.schemes : DEFAULT_GIT_SCHEMES;
  if (!schemes.includes(checked.scheme)) {
    throw notAllowed(
      git.url,
      `the scheme ${checked.scheme} is not in launchjobs.git-sources.schemes`,
      policy,
    );
  }
  if (policy.hosts.length === 0) {
    throw notAllowed(
      git.url,
      'the agent allows git sources from no host (launchjobs.git-sources.hosts is empty)',
      policy,
    );
  }
  if (!policy.hosts.some((pattern) => hostMatches(pattern, checked.host))) {
    throw notAllowed(
      git.url,
      `the host ${checked.host} is not in launchjobs.git-sources.hosts`,
      policy,
    );
  }
  return checked;
}

/** Whether the agent's credentials may be offered for this URL: a bound host, over https or ssh. */
export function credentialsBound(checked: CheckedGitUrl, policy: GitSourceSettings): boolean {
  return (
    (checked.scheme === 'https' || checked.scheme === 'ssh') &&
    policy.credentialHosts.some((pattern) => pattern !== '*' && hostMatches(pattern, checked.host))
  );
}
