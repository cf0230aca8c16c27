export { derivePermissions } from './derive-permissions.js';
export { formatPermissions, type PermissionsFormat } from './format-permissions.js';
export { SOURCE_DOCUMENT_ECR_ACTIONS, awsPartition } from './aws-permissions.js';
export {
  SOURCE_DOCUMENT_AR_PERMISSIONS,
  SOURCE_DOCUMENT_GCS_PERMISSIONS,
} from './gcp-permissions.js';
export { checkIamPolicyGrammar } from './iam-grammar.js';
export type * from './permissions-report.js';
