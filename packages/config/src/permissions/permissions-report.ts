import type { BuilderType } from '../normalize.js';

/** Who holds a grant: the agent's own pod, or the kaniko build pods. */
export type IdentityRole = 'agent' | 'build';

/**
 * A Kubernetes ServiceAccount that carries a cloud identity. When the config names no separate
 * build ServiceAccount, kaniko pods run as the agent's and one identity holds both sets of grants.
 */
export interface KubernetesIdentity {
  /** The roles this ServiceAccount plays: ['agent'], ['build'] or ['agent', 'build']. */
  roles: IdentityRole[];
  namespace: string;
  serviceAccount: string;
  /** What the grants below are for, in words. */
  purpose: string;
}

/** One IAM statement, in the grammar AWS reads: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html */
export interface IamStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: Record<string, string | string[]>;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

export interface AwsRole {
  /** Suggested IAM role name. */
  roleName: string;
  identity: KubernetesIdentity;
  /** The permissions policy attached to the role. */
  policy: IamPolicyDocument;
  /** The IRSA trust policy that lets the ServiceAccount assume the role. */
  trustPolicy: IamPolicyDocument;
}

export interface AwsPermissions {
  account: string;
  partition: string;
  roles: AwsRole[];
  commands: string[];
}

export interface GcpCustomRole {
  /** `gcloud iam roles create <roleId> --project <project>`. */
  roleId: string;
  /** The role definition file gcloud reads with `--file`. */
  definition: {
    title: string;
    description: string;
    stage: 'GA';
    includedPermissions: string[];
  };
  /** The resource the role is bound on, as gcloud names it. */
  boundOn: string;
}

export interface GcpIdentity {
  identity: KubernetesIdentity;
  /** The Google service account the Kubernetes ServiceAccount impersonates. */
  googleServiceAccount: string;
  roles: GcpCustomRole[];
}

export interface GcpPermissions {
  project: string;
  identities: GcpIdentity[];
  commands: string[];
}

export interface AzureRoleAssignment {
  /** A built-in role name (AcrPush, AcrPull, Storage Blob Data Contributor, ...). */
  role: string;
  /** The scope as an expression `az` resolves, or a resource ID. */
  scope: string;
  /** The resource in words, for the text output. */
  resource: string;
}

export interface AzureIdentity {
  identity: KubernetesIdentity;
  /** The user-assigned managed identity the ServiceAccount federates with. */
  managedIdentity: string;
  assignments: AzureRoleAssignment[];
}

export interface AzurePermissions {
  identities: AzureIdentity[];
  commands: string[];
}

/** A value the config does not determine; the output shows it as `<NAME>` for the user to fill in. */
export interface Placeholder {
  name: string;
  /** What it is and how to find it. */
  description: string;
  /** The `launch-agent permissions` flag that fills it in, when there is one. */
  flag?: string;
}

/** Everything `launch-agent permissions` knows about the cloud grants a config needs. */
export interface PermissionsReport {
  /** Schema version of this JSON shape. */
  version: 1;
  builder: BuilderType | 'auto';
  /** The builder whose needs were computed: `auto` is treated as docker. */
  effectiveBuilder: BuilderType;
  destination?: { reference: string; kind: string };
  contextStore?: { uri: string; kind: string; used: boolean };
  identities: KubernetesIdentity[];
  aws?: AwsPermissions;
  gcp?: GcpPermissions;
  azure?: AzurePermissions;
  /** Facts the user should know: grants nobody needs, grants outside any cloud IAM. */
  notes: string[];
  placeholders: Placeholder[];
}

/** Values the config may not carry, from the command line. */
export interface PermissionsOptions {
  namespace?: string;
  serviceAccount?: string;
  buildServiceAccount?: string;
  /** The EKS cluster's OIDC provider, `oidc.eks.<region>.amazonaws.com/id/<ID>`. */
  oidcProvider?: string;
  /** Google service account e-mails of the agent and of build pods. */
  gcpServiceAccount?: string;
  gcpBuildServiceAccount?: string;
  /** Azure: resource group of the managed identities, and their names. */
  azureResourceGroup?: string;
  azureIdentity?: string;
  azureBuildIdentity?: string;
  /** The AKS cluster's OIDC issuer URL. */
  oidcIssuer?: string;
}
