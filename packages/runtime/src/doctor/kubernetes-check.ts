import type * as k8s from '@kubernetes/client-node';
import { selfAccessAllowed } from '../kubernetes/access-review.js';
import { KubeRequestError, kubeJsonRequest } from '../kubernetes/raw-request.js';
import { failed, failureFrom, passed, type DoctorCheck } from './doctor-check.js';

/** One permission the agent needs: `verb group/resource[/subresource]`. */
export interface AccessRequirement {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
}

const JOB_RUNNING: AccessRequirement[] = [
  ...['create', 'get', 'list', 'watch', 'delete'].map((verb) => ({
    verb,
    group: 'batch',
    resource: 'jobs',
  })),
  ...['get', 'list', 'watch'].map((verb) => ({ verb, group: '', resource: 'pods' })),
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
];

const LAUNCHJOB_GROUP = 'launch-agent.dev';

export interface AccessNeeds {
  kaniko: boolean;
  /** launchjobs.ttl-seconds-after-finished is set: the agent deletes finished LaunchJobs. */
  deletesFinishedJobs?: boolean;
}

const launchJobAccess = (verbs: string[]): AccessRequirement[] => [
  ...verbs.map((verb) => ({ verb, group: LAUNCHJOB_GROUP, resource: 'launchjobs' })),
  ...['update', 'patch'].map((verb) => ({
    verb,
    group: LAUNCHJOB_GROUP,
    resource: 'launchjobs',
    subresource: 'status',
  })),
];

/**
 * What the agent does in its own namespace (kaniko build Jobs and the per-build push credential
 * Secrets they need; it only reads the LaunchJobs created there, to fail them) and in each tenant
 * namespace it serves (work the LaunchJob queue, run the jobs): the chart's Roles, as access
 * requirements.
 */
export function requiredAccess(needs: AccessNeeds): {
  own: AccessRequirement[];
  target: AccessRequirement[];
} {
  const own = [...JOB_RUNNING, ...launchJobAccess(['get', 'list', 'watch'])];
  if (needs.kaniko) {
    own.push(
      { verb: 'create', group: '', resource: 'secrets' },
      { verb: 'delete', group: '', resource: 'secrets' },
    );
  }
  const target = [
    ...launchJobAccess([
      'get',
      'list',
      'watch',
      'update',
      'patch',
      ...(needs.deletesFinishedJobs ? ['delete'] : []),
    ]),
    ...JOB_RUNNING,
  ];
  return { own, target };
}

function describe(requirement: AccessRequirement): string {
  const resource = `${requirement.resource}${requirement.subresource ? `/${requirement.subresource}` : ''}`;
  return `${requirement.verb} ${requirement.group ? `${resource}.${requirement.group}` : resource}`;
}

export interface KubernetesCheckOptions {
  kubeConfig: k8s.KubeConfig;
  /** The agent's namespace; default: the kubeconfig context's, else `default`. */
  namespace?: string;
  targetNamespaces: string[];
  kaniko: boolean;
  deletesFinishedJobs?: boolean;
}

/** The namespace the kubeconfig's current context names (in a pod: the pod's own). */
export function contextNamespace(kubeConfig: k8s.KubeConfig): string | undefined {
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
}

/** Asks the API server, with SelfSubjectAccessReview, whether this identity may do each thing. */
export async function checkKubernetesAccess(
  options: KubernetesCheckOptions,
): Promise<DoctorCheck[]> {
  const { kubeConfig } = options;
  const namespace = options.namespace ?? contextNamespace(kubeConfig) ?? 'default';
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  let who = 'this identity';
  try {
    const review = (await kubeJsonRequest(
      kubeConfig,
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    )) as k8s.V1SelfSubjectReview;
    if (review.status?.userInfo?.username) who = review.status.userInfo.username;
  } catch (error) {
    // Older API servers lack SelfSubjectReview; access reviews still answer.
    if (!(error instanceof KubeRequestError)) {
      return [
        failureFrom(
          'kubernetes.access',
          `Kubernetes API at ${server}`,
          Object.assign(new Error((error as Error).message), {
            hint: 'Check KUBECONFIG (or, in a pod, the ServiceAccount token mount) and that the API server is reachable',
          }),
        ),
      ];
    }
  }
  const access = requiredAccess({
    kaniko: options.kaniko,
    deletesFinishedJobs: options.deletesFinishedJobs ?? false,
  });
  const plan = [
    { namespace, requirements: access.own },
    ...options.targetNamespaces
      .filter((ns) => ns !== namespace)
      .map((ns) => ({ namespace: ns, requirements: access.target })),
  ];
  const checks: DoctorCheck[] = [];
  for (const { namespace: ns, requirements } of plan) {
    const missing: string[] = [];
    try {
      for (const requirement of requirements) {
        const allowed = await selfAccessAllowed(kubeConfig, {
          namespace: ns,
          verb: requirement.verb,
          group: requirement.group,
          resource: requirement.resource,
          ...(requirement.subresource ? { subresource: requirement.subresource } : {}),
        });
        if (!allowed) missing.push(describe(requirement));
      }
    } catch (error) {
      checks.push(
        failureFrom(
          'kubernetes.access',
          `Kubernetes API at ${server}`,
          Object.assign(new Error((error as Error).message), {
            hint: 'Check KUBECONFIG (or, in a pod, the ServiceAccount token mount) and that the API server is reachable',
          }),
        ),
      );
      continue;
    }
    if (missing.length === 0) {
      checks.push(
        passed(
          'kubernetes.access',
          ns === namespace
            ? `Kubernetes: ${who} may refuse LaunchJobs created in its own namespace ${ns}${options.kaniko ? ' and run kaniko builds there' : ''}`
            : `Kubernetes: ${who} may work the LaunchJob queue and run jobs in tenant namespace ${ns}`,
        ),
      );
    } else {
      checks.push(
        failed(
          'kubernetes.access',
          `Kubernetes: ${who} may not ${missing.join(', ')} in namespace ${ns}`,
          `Install the chart with rbac.create: true${ns === namespace ? '' : ` and ${ns} in additionalTargetNamespaces`}, or bind a Role that grants these verbs in ${ns}`,
        ),
      );
    }
  }
  return checks;
}
