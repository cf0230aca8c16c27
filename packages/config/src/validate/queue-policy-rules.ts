// queue-policies: what the schema cannot say. A policy belongs to a queue the agent serves, offers
// the queue only to namespaces the agent serves, and never to the agent's own namespace (it holds
// the agent's credentials and never runs user code).
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import type { Problem } from '../problems.js';
import { configuredQueues } from './run-template-rules.js';

export function checkQueuePolicies(config: LaunchAgentConfig): {
  errors: Problem[];
  warnings: Problem[];
} {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const policies = config['queue-policies'];
  const own = config.kubernetes?.namespace;
  const served = config.kubernetes?.['target-namespaces'];
  if (own && served?.includes(own)) {
    const index = served.indexOf(own);
    errors.push({
      path: `kubernetes.target-namespaces[${index}]`,
      message: `the agent's own namespace holds its credentials and never runs LaunchJobs`,
      value: own,
      expected: 'tenant namespaces other than kubernetes.namespace',
    });
  }
  if (!policies) return { errors, warnings };
  const queues = configuredQueues(config);
  for (const [queue, policy] of Object.entries(policies)) {
    if (!policy) continue;
    const root = `queue-policies.${queue}`;
    if (!queues.has(queue)) {
      errors.push({
        path: root,
        message: `no queue named "${queue}" in queues; this policy would never apply`,
        expected: `one of ${[...queues].join(', ')}`,
      });
    }
    (policy.namespaces ?? []).forEach((namespace, index) => {
      const path = `${root}.namespaces[${index}]`;
      if (namespace === own) {
        errors.push({
          path,
          message: `the agent's own namespace never runs LaunchJobs`,
          value: namespace,
          expected: `one of kubernetes.target-namespaces`,
        });
      } else if (served && !served.includes(namespace)) {
        warnings.push({
          path,
          message: `the agent does not serve namespace "${namespace}"; its LaunchJobs are never seen`,
          value: namespace,
          expected: `one of kubernetes.target-namespaces (${served.join(', ') || 'none'})`,
        });
      }
    });
    (policy['allowed-volume-types'] ?? []).forEach((type, index) => {
      if (type === 'hostPath') {
        errors.push({
          path: `${root}.allowed-volume-types[${index}]`,
          message:
            'hostPath is not a volume type a queue can allow; it needs pod-security: privileged',
          value: type,
          expected: 'a volume type other than hostPath (nfs, csi, ...)',
        });
      }
    });
  }
  return { errors, warnings };
}
