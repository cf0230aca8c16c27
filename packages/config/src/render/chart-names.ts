// The chart's name helpers (charts/launch-agent/templates/_helpers.tpl) in TypeScript.
// Template functions are mirrored literally: `default`, `trunc 63`, `trimSuffix "-"` (one dash),
// `contains` (substring), and Go templates' notion of an empty value.

import { isTable, type Values } from './values.js';

export interface Release {
  /** `.Release.Name`. */
  name: string;
  /** `.Release.Namespace`. */
  namespace: string;
}

/** Go template truthiness / sprig `empty`: nil, false, 0, "", and empty lists and maps are empty. */
export function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') {
    return true;
  }
  if (Array.isArray(value)) return value.length === 0;
  if (isTable(value)) return Object.keys(value).length === 0;
  return false;
}

/** sprig `default`: the value unless it is empty. */
function orDefault<T>(fallback: T, value: unknown): T | unknown {
  return isEmpty(value) ? fallback : value;
}

/** `trunc 63 | trimSuffix "-"`. */
function dnsTrim(name: string): string {
  const cut = name.slice(0, 63);
  return cut.endsWith('-') ? cut.slice(0, -1) : cut;
}

function table(values: Values, key: string): Values {
  const value = values[key];
  return isTable(value) ? value : {};
}

/** `launch-agent.name`. */
export function chartName(values: Values, chart: string): string {
  return dnsTrim(String(orDefault(chart, values.nameOverride)));
}

/** `launch-agent.fullname`. */
export function fullname(values: Values, chart: string, release: Release): string {
  if (!isEmpty(values.fullnameOverride)) return dnsTrim(String(values.fullnameOverride));
  const name = String(orDefault(chart, values.nameOverride));
  if (release.name.includes(name)) return dnsTrim(release.name);
  return dnsTrim(`${release.name}-${name}`);
}

/** `launch-agent.namespace`: namespaceOverride or the release namespace. */
export function releaseNamespace(values: Values, release: Release): string {
  return String(orDefault(release.namespace, values.namespaceOverride));
}

/** `launch-agent.serviceAccountName`. */
export function serviceAccountName(values: Values, chart: string, release: Release): string {
  const sa = table(values, 'serviceAccount');
  if (!isEmpty(sa.create)) return String(orDefault(fullname(values, chart, release), sa.name));
  // checkChartValues refuses an empty name: never the namespace's "default" account.
  return String(sa.name ?? '');
}

/** `launch-agent.buildServiceAccountName`: the ServiceAccount of kaniko build pods. */
export function buildServiceAccountName(values: Values, chart: string, release: Release): string {
  const sa = table(values, 'buildServiceAccount');
  if (!isEmpty(sa.create)) {
    return String(orDefault(`${fullname(values, chart, release)}-build`, sa.name));
  }
  return String(orDefault('default', sa.name));
}

/** `launch-agent.dockerConfigSecretName`: '' when no dockerconfigjson Secret is configured. */
export function dockerConfigSecretName(values: Values, chart: string, release: Release): string {
  const d = table(table(values, 'kaniko'), 'dockerConfigSecret');
  if (!isEmpty(d.existingSecret)) return String(d.existingSecret);
  if (!isEmpty(d.dockerConfigJson)) return `${fullname(values, chart, release)}-docker-config`;
  return '';
}

/** `launch-agent.contextPvcClaim`. */
export function contextPvcClaim(values: Values, chart: string, release: Release): string {
  const pvc = table(table(values, 'kaniko'), 'contextPvc');
  if (!isEmpty(pvc.existingClaim)) return String(pvc.existingClaim);
  return `${fullname(values, chart, release)}-contexts`;
}

/** `launch-agent.contextPvcStore`: pvc://<claim>[/path], path trimmed of '/' on both ends. */
export function contextPvcStore(values: Values, chart: string, release: Release): string {
  const pvc = table(table(values, 'kaniko'), 'contextPvc');
  const path = String(pvc.path ?? '').replace(/^\/+|\/+$/g, '');
  const claim = contextPvcClaim(values, chart, release);
  return path ? `pvc://${claim}/${path}` : `pvc://${claim}`;
}
