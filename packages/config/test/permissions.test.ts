// Golden outputs of `derivePermissions` + `formatPermissions` per cloud and builder.
// Regenerate after an intended change with: UPDATE_GOLDEN=1 pnpm test:unit packages/config/test/permissions.test.ts
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfigText } from '../src/load/load-config.js';
import { normalizeConfig, type AgentSettings } from '../src/normalize.js';
import {
  SOURCE_DOCUMENT_AR_PERMISSIONS,
  SOURCE_DOCUMENT_ECR_ACTIONS,
  SOURCE_DOCUMENT_GCS_PERMISSIONS,
  checkIamPolicyGrammar,
  derivePermissions,
  formatPermissions,
  type IamPolicyDocument,
  type PermissionsReport,
} from '../src/permissions/index.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden', 'permissions');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function settingsOf(yaml: string): AgentSettings {
  const checked = checkConfigText(yaml, 'fixture.yaml');
  if (!checked.config) throw new Error(`fixture is invalid: ${JSON.stringify(checked.errors)}`);
  return normalizeConfig(checked.config);
}

const SCENARIOS: Record<string, string> = {
  'aws-docker': `
environment: {type: aws, region: us-west-2}
builder:
  type: docker
  destination: 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/launch-images
  build-context-store: s3://ignored-by-docker
kubernetes: {namespace: launch, service-account: launch-agent}
`,
  'aws-kaniko': `
environment: {type: aws, region: eu-central-1}
builder:
  type: kaniko
  destination: 210987654321.dkr.ecr.eu-central-1.amazonaws.com/ml/training.images
  build-context-store: s3://ml-build-contexts/launch/contexts
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-agent-build}
`,
  'aws-kaniko-shared-identity': `
environment: {type: aws, region: us-east-1}
builder:
  type: kaniko
  destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/images
  build-context-store: s3://contexts-bucket
`,
  'gcp-docker': `
environment: {type: gcp, region: us-central1, project: ml-platform}
builder:
  type: docker
  uri: us-central1-docker.pkg.dev/ml-platform/launch/images
kubernetes: {namespace: launch, service-account: launch-agent}
`,
  'gcp-kaniko': `
environment: {type: gcp, region: europe-west4, project: ml-platform}
builder:
  type: kaniko
  destination: europe-west4-docker.pkg.dev/ml-platform/launch/trainer
  build-context-store: gs://ml-platform-contexts/launch
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-agent-build}
`,
  'azure-docker': `
environment: {type: azure}
builder:
  type: docker
  destination: https://mlregistry.azurecr.io/team/launch
kubernetes: {namespace: launch, service-account: launch-agent}
`,
  'azure-kaniko': `
environment: {type: azure}
builder:
  type: kaniko
  destination: https://mlregistry.azurecr.io/launch
  build-context-store: https://mlcontexts.blob.core.windows.net/contexts/launch
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-agent-build}
`,
  'oci-kaniko-pvc': `
builder:
  type: kaniko
  destination: registry.example.com:5000/team/launch
  build-context-store: pvc://launch-contexts/builds
  docker-config-secret: registry-push-credentials
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-agent-build}
`,
  noop: `
builder: {type: noop}
`,
};

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
  }
  if (!existsSync(file))
    throw new Error(`golden file ${name} is missing; run with UPDATE_GOLDEN=1`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

function policies(report: PermissionsReport): IamPolicyDocument[] {
  return (report.aws?.roles ?? []).flatMap((role) => [role.policy, role.trustPolicy]);
}

describe.each(Object.entries(SCENARIOS))('permissions for %s', (name, yaml) => {
  const report = derivePermissions(settingsOf(yaml));

  test('text output matches the golden file', () => {
    golden(`${name}.txt`, formatPermissions(report, 'text'));
  });

  test('json output matches the golden file and parses back to the report', () => {
    const json = formatPermissions(report, 'json');
    golden(`${name}.json`, json);
    expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(report)));
  });

  test('every IAM document follows the IAM policy grammar', () => {
    for (const policy of policies(report)) expect(checkIamPolicyGrammar(policy)).toEqual([]);
  });

  test('no wildcard resource except for ecr:GetAuthorizationToken', () => {
    for (const policy of policies(report)) {
      for (const statement of policy.Statement) {
        const resources = [statement.Resource ?? []].flat();
        if (resources.includes('*'))
          expect(statement.Action).toEqual(['ecr:GetAuthorizationToken']);
        expect([statement.Action].flat().some((a) => a.endsWith(':*'))).toBe(false);
      }
    }
  });
});

describe('AWS', () => {
  test('the repository ARN is derived from region, account and the nested repository name', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['aws-docker']!));
    const statement = report.aws!.roles[0]!.policy.Statement[0]!;
    expect(statement.Resource).toEqual([
      'arn:aws:ecr:us-west-2:123456789012:repository/team/launch-images',
    ]);
    expect(statement.Action).toEqual(expect.arrayContaining([...SOURCE_DOCUMENT_ECR_ACTIONS]));
    expect(report.aws!.roles[0]!.policy.Statement[1]).toMatchObject({
      Action: ['ecr:GetAuthorizationToken'],
      Resource: ['*'],
    });
  });

  test('docker builder: no S3 grant even with a context store configured', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['aws-docker']!));
    expect(JSON.stringify(report.aws)).not.toContain('s3:');
    expect(report.notes.join('\n')).toContain('does not use builder.build-context-store');
  });

  test('kaniko with a build ServiceAccount: the agent uploads and mints push tokens, build pods only download', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['aws-kaniko']!));
    const [agent, build] = report.aws!.roles;
    expect(agent!.identity.serviceAccount).toBe('launch-agent');
    expect(build!.identity.serviceAccount).toBe('launch-agent-build');
    const actions = (policy: IamPolicyDocument) =>
      policy.Statement.flatMap((s) => [s.Action].flat());
    expect(actions(agent!.policy)).toEqual(
      expect.arrayContaining([
        'ecr:DescribeImages',
        's3:PutObject',
        's3:DeleteObject',
        's3:ListBucket',
      ]),
    );
    // The token each build pushes with is the agent's (ecr:GetAuthorizationToken): it carries
    // the agent's push rights; the build role has nothing in ECR.
    expect(actions(agent!.policy)).toEqual(
      expect.arrayContaining(['ecr:PutImage', 'ecr:GetAuthorizationToken']),
    );
    expect(actions(build!.policy)).toEqual(['s3:GetObject']);
    const objects = agent!.policy.Statement.find((s) => s.Sid === 'BuildContextObjects')!;
    expect(objects.Resource).toEqual(['arn:aws:s3:::ml-build-contexts/launch/contexts/*']);
    const list = agent!.policy.Statement.find((s) => s.Sid === 'ListContextBucket')!;
    expect(list.Resource).toEqual(['arn:aws:s3:::ml-build-contexts']);
    expect(build!.trustPolicy.Statement[0]!.Condition).toEqual({
      StringEquals: {
        '<OIDC_PROVIDER>:sub': 'system:serviceaccount:launch:launch-agent-build',
        '<OIDC_PROVIDER>:aud': 'sts.amazonaws.com',
      },
    });
  });

  test('with kaniko-cache the build role pushes too (the cache is pushed from the build container)', () => {
    const settings = settingsOf(
      SCENARIOS['aws-kaniko']!.replace('type: kaniko', 'type: kaniko\n  kaniko-cache: true'),
    );
    expect(settings.builder.kanikoCache).toBe(true);
    const [, build] = derivePermissions(settings).aws!.roles;
    const actions = build!.policy.Statement.flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['ecr:PutImage', 'ecr:BatchGetImage']));
  });

  test('without a kubernetes block the trust policy uses marked placeholders, and flags fill them', () => {
    const settings = settingsOf(SCENARIOS['aws-kaniko-shared-identity']!);
    const report = derivePermissions(settings);
    expect(report.placeholders.map((p) => p.name)).toEqual([
      'NAMESPACE',
      'SERVICE_ACCOUNT',
      'OIDC_PROVIDER',
    ]);
    const filled = derivePermissions(settings, {
      namespace: 'ml',
      serviceAccount: 'agent',
      oidcProvider: 'oidc.eks.us-east-1.amazonaws.com/id/ABCDEF',
    });
    expect(filled.placeholders).toEqual([]);
    expect(filled.aws!.roles[0]!.trustPolicy.Statement[0]).toMatchObject({
      Principal: {
        Federated:
          'arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABCDEF',
      },
      Condition: {
        StringEquals: {
          'oidc.eks.us-east-1.amazonaws.com/id/ABCDEF:sub': 'system:serviceaccount:ml:agent',
        },
      },
    });
    // A bucket without a prefix: the whole bucket's objects.
    const objects = filled.aws!.roles[0]!.policy.Statement.find(
      (s) => s.Sid === 'BuildContextObjects',
    )!;
    expect(objects.Resource).toEqual(['arn:aws:s3:::contexts-bucket/*']);
  });

  test('China and GovCloud regions use their own ARN partition', () => {
    const report = derivePermissions(
      settingsOf(
        `builder: {type: docker, destination: 123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x}`,
      ),
    );
    expect(report.aws!.partition).toBe('aws-cn');
    expect(report.aws!.roles[0]!.policy.Statement[0]!.Resource).toEqual([
      'arn:aws-cn:ecr:cn-north-1:123456789012:repository/x',
    ]);
  });
});

describe('Google Cloud', () => {
  test('all four Artifact Registry permissions when one identity pushes, bound on the repository', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['gcp-docker']!));
    const [role] = report.gcp!.identities[0]!.roles;
    expect(role!.definition.includedPermissions).toEqual(
      [...SOURCE_DOCUMENT_AR_PERMISSIONS].sort(),
    );
    expect(role!.boundOn).toBe('projects/ml-platform/locations/us-central1/repositories/launch');
  });

  test('kaniko: the agent gets list, upload + storage write, build pods storage read only', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['gcp-kaniko']!));
    const [agent, build] = report.gcp!.identities;
    const perms = (entry: typeof agent) =>
      entry!.roles.flatMap((r) => r.definition.includedPermissions);
    expect(perms(agent)).toEqual(
      expect.arrayContaining([
        'artifactregistry.dockerimages.list',
        ...SOURCE_DOCUMENT_GCS_PERMISSIONS,
      ]),
    );
    expect(perms(agent)).toContain('artifactregistry.repositories.uploadArtifacts');
    expect(perms(build)).toEqual(expect.arrayContaining(['storage.objects.get']));
    expect(perms(build).some((p) => p.startsWith('artifactregistry.'))).toBe(false);
    expect(perms(build)).not.toContain('storage.objects.create');
    expect(perms(build)).not.toContain('artifactregistry.dockerimages.list');
    expect(report.gcp!.commands).toContain(
      'gcloud iam service-accounts add-iam-policy-binding launch-agent-build@ml-platform.iam.gserviceaccount.com --project ml-platform --role roles/iam.workloadIdentityUser --member "serviceAccount:ml-platform.svc.id.goog[launch/launch-agent-build]"',
    );
  });
});

describe('Azure', () => {
  test('kaniko: AcrPush + Blob Data Contributor for the agent, Blob Data Reader only for builds', () => {
    const report = derivePermissions(settingsOf(SCENARIOS['azure-kaniko']!));
    const roles = report.azure!.identities.map((i) => i.assignments.map((a) => a.role));
    expect(roles).toEqual([
      ['AcrPush', 'Storage Blob Data Contributor'],
      ['Storage Blob Data Reader'],
    ]);
    expect(report.azure!.identities[0]!.assignments[1]!.scope).toContain(
      '/blobServices/default/containers/contexts',
    );
    expect(
      report.azure!.commands.some((c) =>
        c.includes('--subject system:serviceaccount:launch:launch-agent-build'),
      ),
    ).toBe(true);
  });

  test('build pods that read contexts with the account key need no storage role', () => {
    const report = derivePermissions(
      settingsOf(
        SCENARIOS['azure-kaniko']!.replace(
          'build-context-store: https://mlcontexts.blob.core.windows.net/contexts/launch',
          'build-context-store: https://mlcontexts.blob.core.windows.net/contexts/launch\n  azure-storage-secret: {name: storage-key}',
        ),
      ),
    );
    expect(report.azure!.identities[1]?.assignments ?? []).toEqual([]);
  });
});

describe('IAM grammar check', () => {
  test('rejects malformed documents', () => {
    expect(checkIamPolicyGrammar({ Version: '2008-10-17', Statement: [] })).toEqual([
      'Version must be "2012-10-17"',
      'Statement is missing or empty',
    ]);
    expect(
      checkIamPolicyGrammar({
        Version: '2012-10-17',
        Statement: [{ Effect: 'allow', Action: 'ecr PutImage', Resource: 'repo/x', Extra: 1 }],
      }),
    ).toEqual([
      'Statement[0]: unknown key "Extra"',
      'Statement[0].Effect must be Allow or Deny',
      'Statement[0].Action: "ecr PutImage" is not service:Action',
      'Statement[0].Resource: "repo/x" is not an ARN or *',
    ]);
  });
});
