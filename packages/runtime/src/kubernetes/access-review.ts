import type * as k8s from '@kubernetes/client-node';
import { kubeJsonRequest } from './raw-request.js';

export interface AccessAttributes {
  namespace: string;
  verb: string;
  /** '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
}

/**
 * Whether the kubeconfig's user may do this, as the API server's authorizer answers a
 * SelfSubjectAccessReview (every authenticated user may ask about themselves).
 */
export async function selfAccessAllowed(
  kubeConfig: k8s.KubeConfig,
  attributes: AccessAttributes,
): Promise<boolean> {
  const review = (await kubeJsonRequest(
    kubeConfig,
    'POST',
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          namespace: attributes.namespace,
          verb: attributes.verb,
          group: attributes.group,
          resource: attributes.resource,
          ...(attributes.subresource ? { subresource: attributes.subresource } : {}),
        },
      },
    },
  )) as k8s.V1SelfSubjectAccessReview;
  return review.status?.allowed === true;
}
