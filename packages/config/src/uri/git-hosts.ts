// Host patterns of launchjobs.git-sources: shared by the config's validation and the agent's
// check of each job's git URL, so both agree on what a pattern allows.

/** URL schemes a git source may use; `file` is not one of them, whatever the config says. */
export type GitScheme = 'https' | 'ssh' | 'http' | 'git';

/** What the agent allows when launchjobs.git-sources.schemes is unset. */
export const DEFAULT_GIT_SCHEMES: readonly GitScheme[] = ['https', 'ssh'];

/** Schemes over which credentials may travel: encrypted and authenticated transports only. */
export const CREDENTIAL_SCHEMES: readonly GitScheme[] = ['https', 'ssh'];

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A host as compared: lower case, no trailing dot, IPv6 without brackets. */
export function normalizeHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[(.*)\]$/, '$1');
}

/**
 * Why `pattern` is not a usable host pattern, or undefined when it is. Forms: a host name, an IP
 * address, `*.domain` (every name below domain, at any depth, not domain itself), or `*`.
 */
export function hostPatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  const host = normalizeHost(pattern);
  if (/^[0-9a-f:.]+$/.test(host) && host.includes(':')) return undefined; // IPv6
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.includes('*')) return 'a wildcard may only stand first, as *.domain';
  const labels = name.split('.');
  if (labels.some((label) => !LABEL.test(label) || label.length > 63)) {
    return 'each dot-separated label is 1 to 63 letters, digits or inner hyphens';
  }
  if (host.startsWith('*.') && labels.length < 2) {
    return 'a wildcard must name a domain with at least two labels (*.example.com, not *.com)';
  }
  return undefined;
}

/** Whether `host` (from a URL) is allowed by `pattern` (a valid host pattern). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  const want = normalizeHost(pattern);
  const have = normalizeHost(host);
  if (!want.startsWith('*.')) return want === have;
  // IP addresses never match a wildcard: *.0.0.1 must not be a way to allow loopback.
  if (/^[0-9.]+$/.test(have) || have.includes(':')) return false;
  return have.endsWith(want.slice(1));
}

/** Whether every host `inner` allows is allowed by one of `patterns`. */
export function hostPatternCovered(patterns: readonly string[], inner: string): boolean {
  return patterns.some((pattern) => {
    if (pattern === '*') return true;
    if (!inner.startsWith('*.')) return hostMatches(pattern, inner);
    const want = normalizeHost(pattern);
    const have = normalizeHost(inner);
    return want.startsWith('*.') && (have === want || have.endsWith(want.slice(1)));
  });
}
