import type { DerivationInput } from './derivation-input.js';
import type {
  AwsPermissions,
  AwsRole,
  IamPolicyDocument,
  IdentityRole,
  KubernetesIdentity,
} from './permissions-report.js';
import { renderCommands, renderJson } from './templates.js';

/** The ECR actions the W&B launch agent guide grants on the repository, in its order. */
export const SOURCE_DOCUMENT_ECR_ACTIONS = [
  'ecr:CreateRepository',
  'ecr:UploadLayerPart',
  'ecr:PutImage',
  'ecr:CompleteLayerUpload',
  'ecr:InitiateLayerUpload',
  'ecr:DescribeRepositories',
  'ecr:DescribeImages',
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchDeleteImage',
] as const;

/** The existence check (DescribeImages) and repository management: the agent's side. */
const ECR_AGENT_ACTIONS = [
  'ecr:CreateRepository',
  'ecr:DescribeRepositories',
  'ecr:DescribeImages',
  'ecr:BatchDeleteImage',
];
/** A registry push, as the docker engine and kaniko perform it. */
const ECR_PUSH_ACTIONS = [
  'ecr:UploadLayerPart',
  'ecr:PutImage',
  'ecr:CompleteLayerUpload',
  'ecr:InitiateLayerUpload',
  'ecr:BatchCheckLayerAvailability',
];
/** kaniko runs with --cache=true and --cache-repo=<destination>: it pulls cached layers back. */
const ECR_CACHE_PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];

const S3_AGENT_OBJECT_ACTIONS = [
  's3:PutObject',
  's3:GetObject',
  's3:DeleteObject',
  's3:AbortMultipartUpload',
];
const S3_BUILD_OBJECT_ACTIONS = ['s3:GetObject'];

interface StatementInput {
  sid: string;
  actions: string[];
  resources: string[];
}

export function awsPartition(region: string | undefined): string {
  if (region?.startsWith('cn-')) return 'aws-cn';
  if (region?.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

function ordered(actions: Set<string>): string[] {
  // The W&B launch agent guide's order first, then anything kaniko adds, so diffs against it stay small.
  const known: string[] = [...SOURCE_DOCUMENT_ECR_ACTIONS];
  return [...actions].sort((a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
    return a.localeCompare(b);
  });
}

export function awsPermissions(input: DerivationInput): AwsPermissions | undefined {
  const { destination, store, needs, identities, options, settings } = input;
  const ecr = destination?.kind === 'ecr' ? destination : undefined;
  const s3 = store?.kind === 's3' ? store : undefined;
  if (!ecr && !s3) return undefined;

  const region = ecr?.ecr?.region ?? settings.environment.region;
  const partition = awsPartition(region);
  const account =
    ecr?.ecr?.account ??
    input.placeholder('AWS_ACCOUNT_ID', 'the AWS account that holds the IAM roles');
  const oidcProvider =
    options.oidcProvider ??
    input.placeholder(
      'OIDC_PROVIDER',
      "the EKS cluster's OIDC provider without https:// (aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer)",
      '--oidc-provider',
    );

  const repositoryArn = ecr
    ? `arn:${partition}:ecr:${ecr.ecr!.region}:${ecr.ecr!.account}:repository/${ecr.repository}`
    : undefined;
  const bucketArn = s3 ? `arn:${partition}:s3:::${s3.bucket}` : undefined;
  const objectsArn = s3 ? `${bucketArn}/${s3.prefix ? `${s3.prefix}/` : ''}*` : undefined;

  const statementsFor = (roles: IdentityRole[]): StatementInput[] => {
    const repository = new Set<string>();
    let token = false;
    for (const role of roles) {
      const access = needs.registry[role];
      if (!repositoryArn || !access) continue;
      if (role === 'agent') ECR_AGENT_ACTIONS.forEach((a) => repository.add(a));
      if (access === 'push') {
        ECR_PUSH_ACTIONS.forEach((a) => repository.add(a));
        token = true;
      }
      if (role === 'build') ECR_CACHE_PULL_ACTIONS.forEach((a) => repository.add(a));
    }
    const statements: StatementInput[] = [];
    if (repository.size > 0) {
      statements.push({
        sid: 'EcrRepository',
        actions: ordered(repository),
        resources: [repositoryArn!],
      });
    }
    if (token) {
      // GetAuthorizationToken is account-wide: IAM accepts no narrower resource for it.
      statements.push({
        sid: 'EcrAuthorizationToken',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      });
    }
    const objects = new Set<string>();
    let list = false;
    for (const role of roles) {
      const access = needs.storage[role];
      if (!s3 || !access) continue;
      if (access === 'write') {
        S3_AGENT_OBJECT_ACTIONS.forEach((a) => objects.add(a));
        // Without ListBucket a HEAD on a missing key answers 403 instead of 404.
        list = true;
      } else {
        S3_BUILD_OBJECT_ACTIONS.forEach((a) => objects.add(a));
      }
    }
    if (list)
      statements.push({
        sid: 'ListContextBucket',
        actions: ['s3:ListBucket'],
        resources: [bucketArn!],
      });
    if (objects.size > 0) {
      statements.push({
        sid: 'BuildContextObjects',
        actions: S3_AGENT_OBJECT_ACTIONS.filter((a) => objects.has(a)),
        resources: [objectsArn!],
      });
    }
    return statements;
  };

  const roles: AwsRole[] = [];
  for (const identity of identities) {
    const statements = statementsFor(identity.roles);
    if (statements.length === 0) continue;
    const roleName = roleNameFor(identity);
    const policy = renderJson<IamPolicyDocument>('aws-policy.json', { statements });
    const trustPolicy = renderJson<IamPolicyDocument>('aws-trust-policy.json', {
      partition,
      account,
      oidcProvider,
      subject: `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`,
    });
    roles.push({ roleName, identity, policy, trustPolicy });
  }
  if (roles.length === 0) return undefined;
  const commands = renderCommands('aws-commands.sh', {
    partition,
    account,
    roles: roles.map((role) => ({
      roleName: role.roleName,
      namespace: role.identity.namespace,
      serviceAccount: role.identity.serviceAccount,
    })),
  });
  return { account, partition, roles, commands };
}

function roleNameFor(identity: KubernetesIdentity): string {
  return identity.roles.includes('agent') ? 'launch-agent' : 'launch-agent-build';
}
