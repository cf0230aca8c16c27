import type { PermissionsReport } from './permissions-report.js';
import { renderTemplate } from './templates.js';

export type PermissionsFormat = 'text' | 'json';

/**
 * `json`: the report itself, policy documents as JSON objects (documented in docs/permissions.md).
 * `text`: the same facts laid out for a person, with the files to save and the commands to run.
 */
export function formatPermissions(report: PermissionsReport, format: PermissionsFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  const text = renderTemplate('report.txt', {
    report,
    hasGrants: Boolean(report.aws ?? report.gcp ?? report.azure),
    identityLines: report.identities.map((identity) => ({
      roles: identity.roles.join(' + '),
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      purpose: identity.purpose,
    })),
  });
  // Templates keep their logic readable with line breaks; the output needs no runs of blank lines.
  return `${text.replace(/\n{3,}/g, '\n\n').trim()}\n`;
}
