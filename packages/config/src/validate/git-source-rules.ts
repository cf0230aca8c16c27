// launchjobs.git-sources and launchjobs.source-budget-bytes: what the schema's patterns cannot say.
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import type { Problem } from '../problems.js';
import { hostPatternCovered, hostPatternProblem } from '../uri/git-hosts.js';

const HOST_FORM =
  'a host name (git.example.com), *.domain for its subdomains (*.example.com), an IP address, or *';

/** Problems of the launchjobs block's git and budget keys; `maxSourceBytes` is the cap in effect. */
export function checkGitSourceKeys(
  launchjobs: NonNullable<LaunchAgentConfig['launchjobs']>,
  maxSourceBytes: number,
  failed: (...keys: string[]) => boolean,
): Problem[] {
  const errors: Problem[] = [];
  const git = launchjobs['git-sources'];
  const base = 'launchjobs.git-sources';
  const hosts = git?.hosts ?? [];
  if (git?.hosts && !failed(`${base}.hosts`)) {
    hosts.forEach((host, i) => {
      const problem = hostPatternProblem(host);
      if (problem) {
        errors.push({
          path: `${base}.hosts[${i}]`,
          message: problem,
          value: host,
          expected: HOST_FORM,
        });
      }
    });
  }
  if (git?.['credential-hosts'] && !failed(`${base}.credential-hosts`, `${base}.hosts`)) {
    git['credential-hosts'].forEach((host, i) => {
      const path = `${base}.credential-hosts[${i}]`;
      const problem =
        host === '*'
          ? 'credentials are never offered to any host: name the hosts they belong to'
          : hostPatternProblem(host);
      if (problem) {
        errors.push({
          path,
          message: problem,
          value: host,
          expected: HOST_FORM.replace(', or *', ''),
        });
      } else if (!hostPatternCovered(hosts, host)) {
        errors.push({
          path,
          message: `${host} is not allowed by ${base}.hosts, so no job could use these credentials`,
          value: host,
          expected: `a host allowed by ${base}.hosts (${hosts.length > 0 ? hosts.join(', ') : 'none listed'})`,
        });
      }
    });
  }
  const budget = launchjobs['source-budget-bytes'];
  if (
    budget !== undefined &&
    budget < maxSourceBytes &&
    !failed('launchjobs.source-budget-bytes')
  ) {
    errors.push({
      path: 'launchjobs.source-budget-bytes',
      message: `no source could ever fit: the budget is below one source's cap (max-source-bytes ${maxSourceBytes})`,
      value: budget,
      expected: `a whole number of bytes >= launchjobs.max-source-bytes (${maxSourceBytes})`,
    });
  }
  return errors;
}
