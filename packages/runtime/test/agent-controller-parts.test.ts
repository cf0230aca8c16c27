import type { V1Job } from '@kubernetes/client-node';
import { backoffDelay } from '../src/kubernetes/backoff.js';
import { microTime } from '../src/kubernetes/raw-request.js';
import { claimedAt, Slots } from '../src/agent/slots.js';
import { agentLeaseName } from '../src/agent/lease.js';
import { runOutcome } from '../src/agent/run-jobs.js';
import {
  claimedStatus,
  finishedStatus,
  releasedStatus,
  runningStatus,
  waitingStatus,
} from '../src/agent/status.js';
import { WorkQueue } from '../src/agent/work-queue.js';
import type { LaunchJob } from '../src/kubernetes/launchjob-types.js';

const now = new Date('2026-12-01T10:00:00.000Z');

function launchJob(status?: LaunchJob['status']): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name: 'train', namespace: 'ml', uid: 'uid-1', resourceVersion: '7' },
    spec: { queue: 'default', source: { image: 'busybox:1' } },
    ...(status ? { status } : {}),
  };
}

describe('backoffDelay', () => {
  it('doubles from the initial delay, stays within [half, full] of it, and never passes the cap', () => {
    const options = { initialMs: 500, capMs: 30_000 };
    expect(backoffDelay(0, { ...options, random: () => 0 })).toBe(250);
    expect(backoffDelay(0, { ...options, random: () => 0.999999 })).toBe(500);
    expect(backoffDelay(3, { ...options, random: () => 0.999999 })).toBe(4000);
    for (const attempt of [6, 10, 40, 1000]) {
      const delay = backoffDelay(attempt, options);
      expect(delay).toBeGreaterThanOrEqual(15_000);
      expect(delay).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('WorkQueue', () => {
  it('hands out a key added several times once, and never to two workers at once', async () => {
    const queue = new WorkQueue({ initialMs: 1, capMs: 5 });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(queue.length()).toBe(2);
    const first = await queue.get();
    expect(first).toBe('a');
    // Added while in process: queued again only once done.
    queue.add('a');
    expect(await queue.get()).toBe('b');
    expect(queue.length()).toBe(0);
    queue.done('a');
    expect(queue.length()).toBe(1);
    expect(await queue.get()).toBe('a');
    queue.done('a');
    queue.done('b');
    queue.shutDown();
    expect(await queue.get()).toBeUndefined();
  });

  it('delays retries per key with growing backoff until forget', () => {
    const queue = new WorkQueue({ initialMs: 100, capMs: 1000, random: () => 0.999999 });
    expect(queue.addRateLimited('a')).toBe(100);
    expect(queue.addRateLimited('a')).toBe(200);
    expect(queue.addRateLimited('a')).toBe(400);
    expect(queue.addRateLimited('b')).toBe(100);
    expect(queue.retries('a')).toBe(3);
    queue.forget('a');
    expect(queue.retries('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(100);
    queue.shutDown();
  });

  it('keeps the earlier of two delayed adds, and an add now wins over both', async () => {
    const queue = new WorkQueue();
    queue.addAfter('a', 60_000);
    queue.addAfter('a', 10);
    queue.addAfter('a', 60_000);
    const started = Date.now();
    expect(await queue.get()).toBe('a');
    expect(Date.now() - started).toBeLessThan(5_000);
    queue.done('a');
    queue.addAfter('b', 60_000);
    queue.add('b');
    expect(await queue.get()).toBe('b');
    queue.shutDown();
  });
});

describe('Slots (max_jobs)', () => {
  it('reserves up to max_jobs, counts claims in flight, and lets waiting jobs go oldest first', () => {
    const slots = new Slots('me', 2);
    expect(slots.reserve('ml/a', 3)).toBe(true);
    expect(slots.reserve('ml/b', 2)).toBe(true);
    expect(slots.reserve('ml/c', 5)).toBe(false);
    expect(slots.reserve('ml/d', 1)).toBe(false);
    slots.claimed('ml/a', true);
    slots.claimed('ml/b', false);
    expect(slots.count()).toBe(1);
    expect(slots.takeWaiting()).toEqual(['ml/d', 'ml/c']);
    expect(slots.takeWaiting()).toEqual([]);
  });

  it('follows what the informer shows: a job finished or held by another agent frees its slot', () => {
    const slots = new Slots('me', 1);
    const mine = launchJob({ agent: 'me', phase: 'Running' });
    expect(slots.observe('ml/train', mine)).toBe(false);
    expect(slots.isHeld('ml/train')).toBe(true);
    expect(slots.hasRoom()).toBe(false);
    expect(
      slots.observe('ml/train', { ...mine, status: { ...mine.status, phase: 'Succeeded' } }),
    ).toBe(true);
    expect(slots.hasRoom()).toBe(true);
    expect(slots.observe('ml/x', launchJob({ agent: 'other', phase: 'Running' }))).toBe(false);
    expect(slots.isHeld('ml/x')).toBe(false);
  });

  it('max_jobs -1 never runs out', () => {
    const slots = new Slots('me', -1);
    for (let i = 0; i < 100; i++) expect(slots.reserve(`ml/${i}`, i)).toBe(true);
  });
});

describe('claims and status', () => {
  it('a claim names the agent and when, keeps what a previous holder did, and drops legacy heartbeats', () => {
    const previous = launchJob({
      agent: 'gone',
      heartbeatTime: '2026-12-01T09:00:00Z',
      phase: 'Running',
      runJobName: 'train-run-abc',
    });
    const status = claimedStatus(previous, 'me', 'takeover', now);
    expect(status).toMatchObject({
      agent: 'me',
      phase: 'Running',
      runJobName: 'train-run-abc',
      claimedTime: now.toISOString(),
    });
    expect(status.heartbeatTime).toBeUndefined();
    expect(status.conditions).toEqual([
      expect.objectContaining({ type: 'Claimed', status: 'True', reason: 'ResumedFromStaleAgent' }),
    ]);
    expect(claimedAt(launchJob({ claimedTime: '2026-12-01T09:59:00Z' }))).toBe(
      Date.parse('2026-12-01T09:59:00Z'),
    );
    expect(claimedAt(launchJob())).toBeUndefined();
  });

  it('running, waiting for admission, finished and handed back', () => {
    const run = { image: 'r/img:1', runJobName: 'train-run-a', runJobNamespace: 'ml' };
    const running = runningStatus(
      launchJob({ agent: 'me' }),
      { ...run, imageStatus: 'built' },
      now,
    );
    expect(running).toMatchObject({
      phase: 'Running',
      startTime: now.toISOString(),
      image: 'r/img:1',
    });
    const waiting = waitingStatus(
      launchJob({ agent: 'me' }),
      run,
      { reason: 'Suspended', message: 'waits for Kueue' },
      now,
    );
    expect(waiting.phase).toBe('Pending');
    expect(waiting.startTime).toBeUndefined();
    expect(waiting.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Running', status: 'False', reason: 'Suspended' }),
      ]),
    );
    const done = finishedStatus(launchJob(running), 'Failed', 'BackoffLimitExceeded', 'x', now);
    expect(done).toMatchObject({ phase: 'Failed', completionTime: now.toISOString() });
    const released = releasedStatus(launchJob(running), 'me', now);
    expect(released.agent).toBeUndefined();
    expect(released.phase).toBe('Running');
    expect(releasedStatus(launchJob({ agent: 'me', phase: 'Building' }), 'me', now).phase).toBe(
      'Pending',
    );
  });
});

describe('runOutcome', () => {
  const job = (labels: Record<string, string>, extra: Partial<V1Job> = {}): V1Job => ({
    metadata: { name: 'r', namespace: 'ml', labels },
    ...extra,
  });
  const own = { 'launch-agent.dev/launchjob-uid': 'uid-1' };

  it('reads a run Job as missing, foreign, running, suspended, succeeded or failed', () => {
    expect(runOutcome(undefined, 'uid-1')).toEqual({ state: 'missing' });
    expect(runOutcome(job({ 'launch-agent.dev/launchjob-uid': 'uid-2' }), 'uid-1')).toEqual({
      state: 'foreign',
    });
    expect(runOutcome(job(own), 'uid-1')).toEqual({ state: 'running' });
    expect(runOutcome(job(own, { spec: { suspend: true, template: {} } }), 'uid-1')).toEqual({
      state: 'suspended',
    });
    expect(
      runOutcome(
        job(own, { status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
        'uid-1',
      ),
    ).toEqual({ state: 'succeeded', message: 'the run Job completed' });
    expect(
      runOutcome(
        job(own, {
          status: {
            conditions: [
              { type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'too long' },
            ],
          },
        }),
        'uid-1',
      ),
    ).toEqual({ state: 'failed', reason: 'DeadlineExceeded', message: 'too long' });
  });
});

describe('names and times', () => {
  it('a Lease name is a stable DNS label for any identity', () => {
    const name = agentLeaseName('Launch_Agent.pod-7f9c/0');
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(agentLeaseName('Launch_Agent.pod-7f9c/0')).toBe(name);
    expect(agentLeaseName('x'.repeat(300)).length).toBeLessThanOrEqual(63);
    expect(agentLeaseName('a-b')).not.toBe(agentLeaseName('a_b'));
  });

  it('MicroTime has six fractional digits, as the API server parses it', () => {
    expect(microTime(now)).toBe('2026-12-01T10:00:00.000000Z');
  });
});
