// Plays the Job controller and the kubelet for one run Job, in a test environment that has
// neither, and does what the real controller does with spec.suspend: nothing, until the Job is
// unsuspended (by Kueue when it admits the workload). Then the pod is created from the Job's
// template, runs to Succeeded, and the Job's status says Complete.
import type { BatchV1Api, CoreV1Api, V1Job, V1Pod } from '@kubernetes/client-node';
import type { LaunchJob } from '@launch-agent/runtime';
import { endRunJob } from './agent-harness.js';

export interface RunJobController {
  /** How many times the controller looked at the Job and left it alone because it was suspended. */
  suspendedRounds(): number;
  /** Resolves with the pod once the Job ran to Complete. */
  done: Promise<V1Pod>;
  stop(): void;
}

export function playRunJobController(options: {
  batch: BatchV1Api;
  core: CoreV1Api;
  namespace: string;
  name: string;
  timeoutMs?: number;
}): RunJobController {
  const { batch, core, namespace, name } = options;
  let rounds = 0;
  let stopped = false;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const done = (async () => {
    for (;;) {
      if (stopped) throw new Error('stopped');
      if (Date.now() > deadline) throw new Error(`run Job ${namespace}/${name} never ran`);
      const job: V1Job = await batch.readNamespacedJob({ name, namespace });
      if (job.spec?.suspend === true) {
        rounds++;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const template = job.spec!.template;
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: {
            name: `${name}-pod00`,
            labels: { ...template.metadata?.labels, 'batch.kubernetes.io/job-name': name },
            annotations: template.metadata?.annotations ?? {},
            ownerReferences: [
              {
                apiVersion: 'batch/v1',
                kind: 'Job',
                name,
                uid: job.metadata!.uid!,
                controller: true,
              },
            ],
          },
          spec: template.spec!,
        },
      });
      pod.status = { phase: 'Succeeded' };
      await core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace, body: pod });
      const owner = { metadata: { namespace }, status: { runJobName: name } } as LaunchJob;
      await endRunJob(batch, owner, 'Complete');
      return core.readNamespacedPod({ name: pod.metadata!.name!, namespace });
    }
  })();
  return {
    suspendedRounds: () => rounds,
    done,
    stop: () => {
      stopped = true;
    },
  };
}
