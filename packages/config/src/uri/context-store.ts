import type { Problem } from '../problems.js';
import type { ParseResult } from './destination.js';

/** A parsed `builder.build-context-store`: where kaniko build contexts are uploaded. */
export type ContextStore =
  | { kind: 's3'; uri: string; bucket: string; prefix: string }
  | { kind: 'gcs'; uri: string; bucket: string; prefix: string }
  | {
      kind: 'azure-blob';
      uri: string;
      account: string;
      container: string;
      prefix: string;
      endpoint: string;
    }
  | { kind: 'pvc'; uri: string; claim: string; prefix: string };

const EXPECTED =
  's3://bucket[/path], gs://bucket[/path], https://<account>.blob.core.windows.net/<container>[/path] or pvc://<claim>[/path]';
const S3_BUCKET = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const AZURE_ACCOUNT = /^[a-z0-9]{3,24}$/;
const AZURE_CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Normalizes an object-key prefix: no leading or trailing slashes, no empty segments. */
function cleanPrefix(rest: string): string {
  return rest
    .split('/')
    .filter((s) => s !== '')
    .join('/');
}

export function parseContextStore(
  input: string,
  path = 'builder.build-context-store',
): ParseResult<ContextStore> {
  const errors: Problem[] = [];
  const fail = (message: string): ParseResult<ContextStore> => {
    errors.push({ path, message, value: input, expected: EXPECTED });
    return { errors, warnings: [] };
  };
  const match = /^([a-z0-9]+):\/\/([^/]*)(\/.*)?$/.exec(input.trim());
  if (!match) return fail('not a build-context store URI');
  const [, scheme, authority = '', rest = ''] = match;
  const prefix = cleanPrefix(rest);
  if (prefix.split('/').some((s) => s === '..' || s === '.'))
    return fail('the path may not contain "." or ".." segments');
  switch (scheme) {
    case 's3':
      if (!S3_BUCKET.test(authority)) return fail(`"${authority}" is not a valid S3 bucket name`);
      return { value: { kind: 's3', uri: input, bucket: authority, prefix }, errors, warnings: [] };
    case 'gs':
      if (!GCS_BUCKET.test(authority))
        return fail(`"${authority}" is not a valid Cloud Storage bucket name`);
      return {
        value: { kind: 'gcs', uri: input, bucket: authority, prefix },
        errors,
        warnings: [],
      };
    case 'pvc':
      if (!DNS_SUBDOMAIN.test(authority) || authority.length > 253) {
        return fail(`"${authority}" is not a valid PersistentVolumeClaim name`);
      }
      return { value: { kind: 'pvc', uri: input, claim: authority, prefix }, errors, warnings: [] };
    case 'https': {
      const host = /^([a-z0-9]+)\.blob\.core\.windows\.net$/.exec(authority);
      if (!host)
        return fail(
          `"${authority}" is not an Azure Blob Storage endpoint (<account>.blob.core.windows.net)`,
        );
      const account = host[1]!;
      if (!AZURE_ACCOUNT.test(account))
        return fail(`"${account}" is not a valid storage account name`);
      const [container = '', ...restSegments] = prefix.split('/');
      if (container === '') return fail('the Azure Blob container is missing');
      if (!AZURE_CONTAINER.test(container))
        return fail(`"${container}" is not a valid Azure Blob container name`);
      return {
        value: {
          kind: 'azure-blob',
          uri: input,
          account,
          container,
          prefix: restSegments.join('/'),
          endpoint: `https://${authority}`,
        },
        errors,
        warnings: [],
      };
    }
    default:
      return fail(`unsupported scheme "${scheme}://"`);
  }
}
