// The step table (agent/decide.ts) as a table of cases: each row of the table and each way a job
// fails, from an observation to the one next step. Pure: no API server, no clock.
import type { V1Job } from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import { decide, type Observed, type Step } from '../src/agent/decide.js';
import { BuildContextUnavailableError } from '../src/agent/build-context-source.js';
import { DEFAULT_QUEUE_POLICY } from '../src/agent/run-policy.js';
import type { BuildReport } from '../src/build-engine.js';
import type {
  CachedLaunchJob,
  LaunchJob,
  LaunchJobStatus,
} from '../src/kubernetes/launchjob-types.js';

const ME = 'agent-a';
const UID = 'uid-1';

const settings: Observed['settings'] = {
  queues: ['default', 'gpu'],
  queuePolicies: {
    gpu: { ...DEFAULT_QUEUE_POLICY, namespaceSelector: { matchLabels: { tier: 'gpu' } } },
  },
  runTemplates: {},
  secureMode: false,
  builder: { destination: 'registry.local/ml' } as unknown as AgentSettings['builder'],
};

function job(
  status?: LaunchJobStatus,
  spec: Partial<LaunchJob['spec']> = {},
  namespace = 'team-a',
): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name: 'train', namespace, uid: UID, resourceVersion: '5' },
    spec: { queue: 'default', source: { context: { key: 'contexts/abc.tar.gz' } }, ...spec },
    ...(status ? { status } : {}),
  };
}

function observed(extra: Partial<Observed>): Observed {
  return {
    identity: ME,
    settings,
    agentNamespace: 'launch',
    servedNamespaces: ['team-a', 'team-b'],
    stopping: false,
    job: undefined,
    checkGitSource: () => undefined,
    ...extra,
  };
}

function runJob(
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>,
  extra: Partial<V1Job> = {},
): V1Job {
  return {
    metadata: {
      name: 'train-run-abc',
      namespace: 'team-a',
      labels: { 'launch-agent.dev/launchjob-uid': UID },
    },
    status: { conditions },
    ...extra,
  } as V1Job;
}

const report = (status: BuildReport['status']): BuildReport =>
  ({
    image: 'registry.local/ml:abc',
    status,
    digest: 'sha256:1',
    timings: { planMs: 1, checkMs: 1, buildMs: 5, totalMs: 10 },
  }) as BuildReport;

const held: LaunchJobStatus = { phase: 'Pending', agent: ME };
const running: LaunchJobStatus = {
  phase: 'Running',
  agent: ME,
  runJobName: 'train-run-abc',
  image: 'x',
};

const cases: Array<[string, Partial<Observed>, Step | ((step: Step) => void)]> = [
  // gone
  [
    'gone, deleted by someone: forget it and remove its run Job',
    { tombstone: job() as CachedLaunchJob },
    { kind: 'forget', removeLeftoversOf: job() as CachedLaunchJob },
  ],
  [
    'gone, deleted by this agent for its TTL: nothing left to do',
    { tombstone: job(), removedByRetention: true },
    { kind: 'ignore' },
  ],
  ['gone, never seen (no tombstone): forget', {}, { kind: 'forget' }],
  [
    'gone, of another queue: forget without touching its run',
    { tombstone: job(undefined, { queue: 'other' }) },
    { kind: 'forget' },
  ],
  // not mine
  ['not one of my queues: ignore', { job: job(undefined, { queue: 'other' }) }, { kind: 'ignore' }],
  // finished
  ['finished, kept for ever', { job: job({ phase: 'Succeeded' }) }, { kind: 'keepFinished' }],
  [
    'finished, TTL not yet out: look again then',
    { job: job({ phase: 'Failed' }), ttlExpiresInMs: 5000 },
    { kind: 'keepFinished', requeueAfterMs: 5000 },
  ],
  [
    'finished, TTL out: delete it',
    { job: job({ phase: 'Succeeded' }), ttlExpiresInMs: 0 },
    { kind: 'expire' },
  ],
  // cancel requested (spec.cancel)
  [
    'cancelled, unclaimed: Cancelled at once, nothing to stop',
    { job: job(undefined, { cancel: { requested: true, reason: 'wrong lr' } }) },
    {
      kind: 'cancel',
      ending: {
        phase: 'Cancelled',
        reason: 'CancelRequested',
        message: 'cancelled while unclaimed: wrong lr',
        event: 'Cancelled',
      },
      abortBuild: false,
      deleteRunJob: false,
    },
  ],
  [
    'cancelled, not requested (false): claimed as usual',
    { job: job(undefined, { cancel: { requested: false } }) },
    { kind: 'claim' },
  ],
  [
    'cancelled, building: the build aborted, then Cancelled; who and when in the message',
    {
      job: job(
        { ...held, phase: 'Building' },
        {
          cancel: {
            requested: true,
            requestedBy: 'alice',
            requestedAt: '2026-01-01T00:00:00Z',
          },
        },
      ),
      build: { settled: false },
    },
    (step) =>
      expect(step).toEqual({
        kind: 'cancel',
        ending: {
          phase: 'Cancelled',
          reason: 'CancelRequested',
          message: 'cancelled while building by alice at 2026-01-01T00:00:00Z',
          event: 'Cancelled',
        },
        abortBuild: true,
        deleteRunJob: true,
      }),
  ],
  [
    'cancelled, running: the run Job deleted, then Cancelled (no need to read it first)',
    { job: job(running, { cancel: { requested: true } }) },
    (step) =>
      expect(step).toMatchObject({
        kind: 'cancel',
        ending: { phase: 'Cancelled', message: 'cancelled while running' },
        abortBuild: false,
        deleteRunJob: true,
      }),
  ],
  [
    'cancelled, run suspended by Kueue: the waiting run Job deleted, then Cancelled',
    {
      job: job({ ...running, phase: 'Pending' }, { cancel: { requested: true } }),
      runJob: runJob([], { spec: { suspend: true, template: {} } }),
    },
    (step) =>
      expect(step).toMatchObject({
        kind: 'cancel',
        ending: { phase: 'Cancelled', message: 'cancelled while waiting for admission' },
        deleteRunJob: true,
      }),
  ],
  [
    'cancelled, held by a live agent: that agent cancels it',
    {
      job: job({ ...running, agent: 'agent-b' }, { cancel: { requested: true } }),
      holderLeaseExpiresInMs: 1000,
    },
    { kind: 'waitForHolder', holder: 'agent-b', requeueAfterMs: 1250 },
  ],
  [
    'cancelled, its holder gone: cancelled here, its run Job deleted, without claiming it',
    {
      job: job({ ...running, agent: 'agent-b' }, { cancel: { requested: true } }),
      holderLeaseExpiresInMs: 0,
    },
    (step) => expect(step).toMatchObject({ kind: 'cancel', deleteRunJob: true }),
  ],
  [
    'cancelled while this agent stops: wait (the next agent cancels it)',
    { job: job(running, { cancel: { requested: true } }), stopping: true },
    { kind: 'wait' },
  ],
  [
    'cancelled, already finished: a no-op, kept until its TTL',
    { job: job({ phase: 'Succeeded' }, { cancel: { requested: true } }), ttlExpiresInMs: 5000 },
    { kind: 'keepFinished', requeueAfterMs: 5000 },
  ],
  [
    'cancelled and finished Cancelled: kept until its TTL like other finished jobs',
    { job: job({ phase: 'Cancelled' }, { cancel: { requested: true } }), ttlExpiresInMs: 0 },
    { kind: 'expire' },
  ],
  [
    'cancelled in a namespace not served: Cancelled (nothing of it was started)',
    { job: job(undefined, { cancel: { requested: true } }, 'team-z') },
    (step) => expect(step).toMatchObject({ kind: 'cancel', deleteRunJob: false }),
  ],
  // refused for where it lives
  [
    "in the agent's own namespace: refused",
    { job: job(undefined, {}, 'launch') },
    (step) =>
      expect(step).toMatchObject({
        kind: 'refuse',
        violations: [{ reason: 'NamespaceNotServed' }],
      }),
  ],
  [
    'in a namespace not served: refused',
    { job: job(undefined, {}, 'team-z') },
    (step) =>
      expect(step).toMatchObject({
        kind: 'refuse',
        violations: [{ reason: 'NamespaceNotServed' }],
      }),
  ],
  [
    'queue with a namespace selector: read the labels first',
    { job: job(undefined, { queue: 'gpu' }) },
    { kind: 'observe', what: 'namespaceLabels' },
  ],
  [
    'queue not offered to the namespace: refused',
    { job: job(undefined, { queue: 'gpu' }), namespaceLabels: { tier: 'cpu' } },
    (step) =>
      expect(step).toMatchObject({ kind: 'refuse', violations: [{ reason: 'QueueNotOffered' }] }),
  ],
  [
    'queue offered by the selector: claimed',
    { job: job(undefined, { queue: 'gpu' }), namespaceLabels: { tier: 'gpu' } },
    { kind: 'claim' },
  ],
  // claims
  ['unclaimed: claim it', { job: job() }, { kind: 'claim' }],
  ['unclaimed while stopping: wait', { job: job(), stopping: true }, { kind: 'wait' }],
  [
    'held by a live agent: look again when its Lease would expire',
    { job: job({ agent: 'agent-b' }), holderLeaseExpiresInMs: 1000 },
    { kind: 'waitForHolder', holder: 'agent-b', requeueAfterMs: 1250 },
  ],
  [
    'held by an agent whose Lease expired: take it over',
    { job: job({ agent: 'agent-b' }), holderLeaseExpiresInMs: 0 },
    { kind: 'claim', previous: 'agent-b' },
  ],
  ['held here while stopping: wait', { job: job(held), stopping: true }, { kind: 'wait' }],
  // held here, run Job made
  ['held, run made: read the run Job', { job: job(running) }, { kind: 'observe', what: 'runJob' }],
  [
    'held, run Job running, status says Running: wait',
    { job: job(running), runJob: runJob([]) },
    { kind: 'wait' },
  ],
  [
    'held, run Job admitted after waiting: mirror Running',
    { job: job({ ...running, phase: 'Pending' }), runJob: runJob([]) },
    { kind: 'mirror', wait: undefined },
  ],
  [
    'held, run Job suspended (Kueue): mirror Pending',
    { job: job(running), runJob: runJob([], { spec: { suspend: true, template: {} } }) },
    (step) => expect(step).toMatchObject({ kind: 'mirror', wait: { reason: 'Suspended' } }),
  ],
  [
    'held, run Job suspended and status Pending: wait',
    {
      job: job({ ...running, phase: 'Pending' }),
      runJob: runJob([], { spec: { suspend: true, template: {} } }),
    },
    { kind: 'wait' },
  ],
  [
    'held, run Job complete: Succeeded',
    { job: job(running), runJob: runJob([{ type: 'Complete', status: 'True', message: 'done' }]) },
    {
      kind: 'finish',
      ending: { phase: 'Succeeded', reason: 'Completed', message: 'done', event: 'Succeeded' },
    },
  ],
  [
    'held, run Job failed: Failed with its reason',
    {
      job: job(running),
      runJob: runJob([
        { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'x' },
      ]),
    },
    {
      kind: 'finish',
      ending: { phase: 'Failed', reason: 'BackoffLimitExceeded', message: 'x', event: 'Failed' },
    },
  ],
  [
    'held, run Job deleted: Failed RunJobDeleted',
    { job: job(running), runJob: null },
    (step) => expect(step).toMatchObject({ kind: 'finish', ending: { reason: 'RunJobDeleted' } }),
  ],
  [
    "held, a Job of that name not the job's: Failed RunJobNameTaken",
    {
      job: job(running),
      runJob: runJob([], {
        metadata: {
          name: 'train-run-abc',
          namespace: 'team-a',
          labels: { 'launch-agent.dev/launchjob-uid': 'other' },
        },
      }),
    },
    (step) => expect(step).toMatchObject({ kind: 'finish', ending: { reason: 'RunJobNameTaken' } }),
  ],
  // held here, before the run
  ['held, build in flight: wait', { job: job(held), build: { settled: false } }, { kind: 'wait' }],
  [
    'held, nothing made yet: read the whole spec',
    { job: job(held) },
    { kind: 'observe', what: 'whole' },
  ],
  [
    'held, the cache is behind the API server: wait for the watch',
    { job: job(held), whole: null },
    { kind: 'wait' },
  ],
  [
    'held, prebuilt image: run it',
    { job: job(held), whole: job(held, { source: { image: 'busybox:1' } }) },
    {
      kind: 'run',
      job: job(held, { source: { image: 'busybox:1' } }),
      image: { from: 'prebuilt', image: 'busybox:1' },
    },
  ],
  [
    'held, an image in status but no run: the spec is checked again, not trusted',
    { job: job({ ...held, image: 'evil:1' }), whole: job(held, { run: { privileged: true } }) },
    (step) =>
      expect(step).toMatchObject({
        kind: 'fail',
        ending: { reason: 'PodSecurityViolation', event: 'Rejected' },
      }),
  ],
  [
    'held, needs a build: start it, say Building',
    { job: job(held), whole: job(held) },
    { kind: 'startBuild', job: job(held), announce: true },
  ],
  [
    'held, Building already said (takeover): start it quietly',
    { job: job({ ...held, phase: 'Building' }), whole: job(held) },
    { kind: 'startBuild', job: job(held), announce: false },
  ],
  [
    'held, build made the image: run it',
    {
      job: job(held),
      whole: job(held),
      build: { settled: true, outcome: { report: report('built'), leader: true } },
    },
    (step) =>
      expect(step).toMatchObject({
        kind: 'run',
        image: { from: 'build', outcome: { leader: true } },
      }),
  ],
  // failures before the run
  [
    'build failed: Failed with its reason, the outcome cleared',
    {
      job: job(held),
      whole: job(held),
      build: {
        settled: true,
        outcome: { error: new BuildContextUnavailableError('BuildContextNotFound', 'no such key') },
      },
    },
    {
      kind: 'fail',
      ending: {
        phase: 'Failed',
        reason: 'BuildContextNotFound',
        message: 'no such key',
        event: 'BuildFailed',
      },
      clearBuild: true,
    },
  ],
  [
    'build settled without a report: Failed',
    { job: job(held), whole: job(held), build: { settled: true, outcome: {} } },
    (step) =>
      expect(step).toMatchObject({
        kind: 'fail',
        clearBuild: true,
        ending: { event: 'BuildFailed' },
      }),
  ],
  [
    'no source: Failed InvalidSource',
    { job: job(held), whole: job(held, { source: {} }) },
    (step) => expect(step).toMatchObject({ kind: 'fail', ending: { reason: 'InvalidSource' } }),
  ],
  [
    'a git source refused: Failed with the check’s reason',
    {
      job: job(held),
      whole: job(held, { source: { git: { url: 'file:///etc' } } }),
      checkGitSource: () => {
        throw new BuildContextUnavailableError('InvalidGitSource', 'file:// is not allowed');
      },
    },
    (step) =>
      expect(step).toMatchObject({
        kind: 'fail',
        ending: { reason: 'InvalidGitSource', message: 'file:// is not allowed' },
      }),
  ],
  [
    'no destination for a build: Failed NoDestination',
    {
      job: job(held),
      whole: job(held),
      settings: { ...settings, builder: {} as AgentSettings['builder'] },
    },
    (step) => expect(step).toMatchObject({ kind: 'fail', ending: { reason: 'NoDestination' } }),
  ],
  [
    'secure_mode and an entrypoint override: Failed SecureModeViolation',
    {
      job: job(held),
      whole: job(held, { source: { image: 'x' }, run: { command: ['sh'] } }),
      settings: { ...settings, secureMode: true },
    },
    (step) =>
      expect(step).toMatchObject({ kind: 'fail', ending: { reason: 'SecureModeViolation' } }),
  ],
  [
    'another namespace in spec.run: Failed NamespaceNotAllowed',
    { job: job(held), whole: job(held, { source: { image: 'x' }, run: { namespace: 'team-b' } }) },
    (step) =>
      expect(step).toMatchObject({ kind: 'fail', ending: { reason: 'NamespaceNotAllowed' } }),
  ],
];

describe('decide', () => {
  it.each(cases)('%s', (_what, extra, expected) => {
    const step = decide(observed(extra));
    if (typeof expected === 'function') expected(step);
    else expect(step).toEqual(expected);
  });

  it('is pure: the same observation gives the same step, and the observation is not changed', () => {
    const o = observed({ job: job(held), whole: job(held) });
    const before = JSON.stringify(o);
    expect(decide(o)).toEqual(decide(o));
    expect(JSON.stringify(o)).toBe(before);
  });
});
