// The scale benchmark's baseline: what the agents must do for a burst of LaunchJobs, done by one
// bare client with no controller around it. LaunchJobs are created the way the benchmark submits
// them (batches of 50, round-robin over the tenant namespaces), and as each is created 16
// workers make, for it, the same four writes an agent makes for a prebuilt job: the claim (a
// status write), the run Job, the Running status, and its Event. Requests go through the
// runtime's own transport (kept-alive connections, as the agent's), so the ratio compares the
// controller's overhead, not two HTTP clients.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { launchJobBody, GROUP, PLURAL, VERSION } from './agent-process.mjs';

const CONCURRENCY = 16;
const BATCH = 50;

/**
 * Creates `count` LaunchJobs `${prefix}0…` over `namespaces` and runs each the way an agent
 * would. Resolves with the seconds from the first create to the last run Job's Running status.
 */
export async function bareClientBurst({ runtime, kc, namespaces, prefix, count }) {
  const { kubeJsonRequest } = runtime;
  const path = (ns) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`;
  const created = [];
  let submitting = true;
  const started = performance.now();

  const submit = (async () => {
    for (let i = 0; i < count; i += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, count - i) }, async (_, j) => {
          const ns = namespaces[(i + j) % namespaces.length];
          const job = await kubeJsonRequest(
            kc,
            'POST',
            path(ns),
            launchJobBody(`${prefix}${i + j}`, 'bare', { image: 'busybox:1.36' }),
          );
          created.push(job);
        }),
      );
    }
    submitting = false;
  })();

  const run = async (job) => {
    const ns = job.metadata.namespace;
    const name = job.metadata.name;
    const statusPath = `${path(ns)}/${name}/status`;
    const now = () => new Date().toISOString();
    const claimed = await kubeJsonRequest(kc, 'PUT', statusPath, {
      ...job,
      status: { phase: 'Pending', agent: 'bare-client', claimedTime: now() },
    });
    await kubeJsonRequest(kc, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: `${name}-run`,
        labels: {
          'launch-agent.dev/role': 'bare-run',
          'launch-agent.dev/launchjob-uid': job.metadata.uid,
        },
        ownerReferences: [
          {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'LaunchJob',
            name,
            uid: job.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { 'launch-agent.dev/role': 'bare-run' } },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            containers: [{ name: 'job', image: 'busybox:1.36', args: ['true'] }],
          },
        },
      },
    });
    const running = await kubeJsonRequest(kc, 'PUT', statusPath, {
      ...claimed,
      status: { ...claimed.status, phase: 'Running', runJobName: `${name}-run`, startTime: now() },
    });
    await kubeJsonRequest(kc, 'POST', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${name}.${Date.now().toString(16)}` },
      eventTime: new Date().toISOString().replace('Z', '000Z'),
      reportingController: 'launch-agent.dev/bare-client',
      reportingInstance: 'bare-client',
      action: 'Run',
      reason: 'RunStarted',
      type: 'Normal',
      note: `run Job ${ns}/${name}-run`,
      regarding: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'LaunchJob',
        namespace: ns,
        name,
        uid: running.metadata.uid,
      },
    });
  };

  let done = 0;
  const worker = async () => {
    for (;;) {
      const job = created.shift();
      if (job) {
        await run(job);
        done += 1;
        continue;
      }
      if (!submitting && created.length === 0) return;
      await sleep(5);
    }
  };
  await Promise.all([submit, ...Array.from({ length: CONCURRENCY }, worker)]);
  if (done !== count) throw new Error(`bare client ran ${done} of ${count} jobs`);
  return (performance.now() - started) / 1000;
}
