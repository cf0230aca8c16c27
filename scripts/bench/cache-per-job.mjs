#!/usr/bin/env node
// What one cached LaunchJob costs in the agent's heap (not a timed test; no services needed):
// 1,000 copies of a LaunchJob as the API server returns one made with `kubectl apply` (its
// last-applied-configuration annotation, managedFields, 20 environment variables, a status with
// three conditions), kept whole (managedFields dropped, as the cache did before) or as the agent's
// cache keeps it (cachedLaunchJob). Heap measured after a full GC.
//   tsc -b packages/runtime && node --expose-gc scripts/bench/cache-per-job.mjs
// Results are recorded in docs/agent.md ("Memory").
import { cachedLaunchJob } from '../../packages/runtime/dist/kubernetes/launchjob-types.js';

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('cache-per-job: run it with node --expose-gc\n');
  process.exit(2);
}
const env = Array.from({ length: 20 }, (_, i) => ({
  name: `VAR_${i}`,
  value: `value-${i}-${'x'.repeat(40)}`,
}));
const spec = {
  queue: 'gpu',
  source: { context: { key: 'contexts/abc.tar.gz', digest: 'sha256:' + 'a'.repeat(64) } },
  dockerfile: 'Dockerfile',
  buildArgs: { A: '1' },
  run: {
    args: ['python', 'train.py', '--epochs', '10'],
    env,
    resources: { requests: { cpu: '4', memory: '16Gi' }, limits: { 'nvidia.com/gpu': '1' } },
    nodeSelector: { pool: 'gpu' },
    tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }],
  },
};
const status = {
  phase: 'Running',
  agent: 'launch-agent-7d9f-abcde',
  claimedTime: '2026-12-03T17:00:00Z',
  image: 'registry.example.com/ml/train:abcdef0123456789',
  imageStatus: 'built',
  digest: 'sha256:' + 'b'.repeat(64),
  runJobName: 'job-run-abc123',
  runJobNamespace: 'ml',
  startTime: '2026-12-03T17:01:00Z',
  buildDurationSeconds: 42.1,
  conditions: ['Claimed', 'Built', 'Running'].map((type) => ({
    type,
    status: 'True',
    reason: type,
    message: `message of ${type}`,
    lastTransitionTime: '2026-12-03T17:01:00Z',
  })),
};
const make = (i) =>
  JSON.stringify({
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: {
      name: `train-${i}`,
      namespace: 'ml',
      uid: `0b7c${i}-1111-2222-3333-444455556666`,
      resourceVersion: String(100000 + i),
      generation: 1,
      creationTimestamp: '2026-12-03T17:00:00Z',
      labels: { 'launch-agent.dev/project': 'vision' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          apiVersion: 'launch-agent.dev/v1alpha1',
          kind: 'LaunchJob',
          metadata: { name: `train-${i}`, namespace: 'ml' },
          spec,
        }),
      },
      managedFields: [
        {
          manager: 'kubectl',
          operation: 'Update',
          fieldsV1: { 'f:spec': { 'f:run': { 'f:env': {} } } },
        },
      ],
    },
    spec,
    status,
  });
const N = 1000;
function perJob(keepAs) {
  const keep = [];
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < N; i++) keep.push(keepAs(JSON.parse(make(i))));
  globalThis.gc();
  const bytes = (process.memoryUsage().heapUsed - before) / keep.length;
  keep.length = 0;
  return Math.round(bytes);
}
const whole = perJob((job) => {
  delete job.metadata.managedFields;
  return job;
});
const trimmed = perJob(cachedLaunchJob);
process.stdout.write(
  `LaunchJob of ${make(0).length} bytes of JSON: ${whole} bytes of heap kept whole, ${trimmed} bytes as cachedLaunchJob\n`,
);
