// What the agent's caches keep of LaunchJobs and run Jobs, and the request helpers they are read
// with. Pure functions: no API server.
import type { V1Job } from '@kubernetes/client-node';
import { trimRunJob } from '../src/agent/run-jobs.js';
import { cachedLaunchJob, type LaunchJob } from '../src/kubernetes/launchjob-types.js';
import { KubeRequestError, withQuery } from '../src/kubernetes/raw-request.js';

const whole: LaunchJob = {
  apiVersion: 'launch-agent.dev/v1alpha1',
  kind: 'LaunchJob',
  metadata: {
    name: 'train-1',
    namespace: 'ml',
    uid: 'uid-1',
    resourceVersion: '42',
    generation: 1,
    labels: { 'launch-agent.dev/project': 'vision' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a huge":"copy"}' },
    managedFields: [{ manager: 'kubectl', operation: 'Update' }],
    creationTimestamp: '2026-12-01T10:00:00Z' as unknown as Date,
    finalizers: ['example.com/keep'],
  },
  spec: {
    queue: 'gpu',
    source: { context: { key: 'contexts/a.tar.gz', digest: 'sha256:abc' } },
    dockerfile: 'build/Dockerfile',
    buildArgs: { A: '1' },
    run: {
      namespace: 'runs',
      args: ['python', 'train.py'],
      env: [{ name: 'TOKEN_FILE', value: '/var/run/token' }],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  },
  status: { phase: 'Running', agent: 'agent-a', runJobName: 'train-1-run-abc123' },
};

describe('cachedLaunchJob', () => {
  test('keeps metadata without managedFields or annotations, queue, source, run namespace, status', () => {
    expect(cachedLaunchJob(whole)).toEqual({
      apiVersion: 'launch-agent.dev/v1alpha1',
      kind: 'LaunchJob',
      metadata: {
        name: 'train-1',
        namespace: 'ml',
        uid: 'uid-1',
        resourceVersion: '42',
        generation: 1,
        labels: { 'launch-agent.dev/project': 'vision' },
        creationTimestamp: '2026-12-01T10:00:00Z',
        finalizers: ['example.com/keep'],
      },
      spec: {
        queue: 'gpu',
        source: { context: { key: 'contexts/a.tar.gz', digest: 'sha256:abc' } },
        run: { namespace: 'runs' },
      },
      status: { phase: 'Running', agent: 'agent-a', runJobName: 'train-1-run-abc123' },
    });
  });

  test('is stable: trimming a trimmed job changes nothing', () => {
    const once = cachedLaunchJob(whole);
    expect(cachedLaunchJob(once)).toEqual(once);
  });

  test('a git or image source keeps only its own fields', () => {
    const git = cachedLaunchJob({
      ...whole,
      spec: { queue: 'q', source: { git: { url: 'https://example.com/r.git', ref: 'main' } } },
    });
    expect(git.spec).toEqual({
      queue: 'q',
      source: { git: { url: 'https://example.com/r.git', ref: 'main' } },
    });
    const image = cachedLaunchJob({ ...whole, spec: { queue: 'q', source: { image: 'busybox' } } });
    expect(image.spec).toEqual({ queue: 'q', source: { image: 'busybox' } });
    expect(image.status).toEqual(whole.status);
  });
});

describe('trimRunJob', () => {
  test('keeps what mirrors the run and links it to its LaunchJob, not the pod template', () => {
    const job: V1Job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'train-1-run-abc123',
        namespace: 'runs',
        uid: 'job-uid',
        resourceVersion: '7',
        labels: { 'launch-agent.dev/launchjob-uid': 'uid-1' },
        annotations: { 'launch-agent.dev/agent': 'agent-a' },
        managedFields: [{ manager: 'launch-agent' }],
        creationTimestamp: '2026-12-01T10:00:00Z' as unknown as Date,
      },
      spec: {
        suspend: false,
        template: { spec: { containers: [{ name: 'job', image: 'busybox' }] } },
      },
      status: {
        active: 1,
        startTime: '2026-12-01T10:00:01Z' as unknown as Date,
        conditions: [
          {
            type: 'Complete',
            status: 'True',
            reason: 'Done',
            message: 'ok',
            lastProbeTime: '2026-12-01T10:01:00Z' as unknown as Date,
          },
        ],
      },
    };
    expect(trimRunJob(job)).toEqual({
      metadata: {
        name: 'train-1-run-abc123',
        namespace: 'runs',
        uid: 'job-uid',
        resourceVersion: '7',
        labels: { 'launch-agent.dev/launchjob-uid': 'uid-1' },
        creationTimestamp: '2026-12-01T10:00:00Z',
      },
      spec: { suspend: false, template: {} },
      status: { conditions: [{ type: 'Complete', status: 'True', reason: 'Done', message: 'ok' }] },
    });
  });
});

describe('raw requests', () => {
  test('withQuery encodes the parameters that are set', () => {
    expect(withQuery('/apis/batch/v1/namespaces/ml/jobs', {})).toBe(
      '/apis/batch/v1/namespaces/ml/jobs',
    );
    expect(
      withQuery('/api/v1/pods', {
        labelSelector: 'a=b,c in (d)',
        limit: 500,
        continue: undefined,
        watch: true,
      }),
    ).toBe('/api/v1/pods?labelSelector=a%3Db%2Cc+in+%28d%29&limit=500&watch=true');
  });

  test('KubeRequestError carries the status code, the message and the reason of a Status body', () => {
    const error = new KubeRequestError(
      410,
      '{"kind":"Status","status":"Failure","message":"The provided continue parameter is too old","reason":"Expired","code":410}',
      'GET /apis/launch-agent.dev/v1alpha1/namespaces/ml/launchjobs',
    );
    expect(error.code).toBe(410);
    expect(error.reason).toBe('Expired');
    expect(error.message).toBe(
      'GET /apis/launch-agent.dev/v1alpha1/namespaces/ml/launchjobs: HTTP 410: The provided continue parameter is too old',
    );
  });
});
