import type { LaunchJob, LaunchJobStatus } from '@launch-agent/runtime';
import { escapeHtml, jobsBody, queuesBody } from '../src/dashboard/pages.js';
import {
  formatDuration,
  jobRow,
  matchesFilter,
  notRunningReason,
  summarizeQueues,
} from '../src/dashboard/summary.js';

const NOW = new Date('2026-12-08T12:00:00Z');

function job(
  name: string,
  queue: string,
  created: string,
  status?: LaunchJobStatus,
  namespace = 'team-a',
): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name, namespace, creationTimestamp: created as unknown as Date },
    spec: { queue, source: { image: 'registry.example/train:1' } },
    ...(status ? { status } : {}),
  };
}

const jobs = [
  job('late', 'gpu', '2026-12-08T11:50:00Z'),
  job('early', 'gpu', '2026-12-08T11:00:00Z'),
  job('claimed', 'gpu', '2026-12-08T10:00:00Z', {
    phase: 'Pending',
    agent: 'agent-0',
    claimedTime: '2026-12-08T10:01:00Z',
  }),
  job('building', 'gpu', '2026-12-08T10:00:00Z', { phase: 'Building', agent: 'agent-0' }),
  job('running', 'cpu', '2026-12-08T09:00:00Z', { phase: 'Running' }),
  job('done-now', 'cpu', '2026-12-08T08:00:00Z', {
    phase: 'Succeeded',
    completionTime: '2026-12-08T11:30:00Z',
  }),
  job('done-2h', 'cpu', '2026-12-08T08:00:00Z', {
    phase: 'Failed',
    completionTime: '2026-12-08T09:30:00Z',
    conditions: [
      {
        type: 'Failed',
        status: 'True',
        reason: 'ImagePullBackOff',
        message: 'no such image',
        lastTransitionTime: '2026-12-08T09:30:00Z',
      },
    ],
  }),
  job('done-long-ago', 'cpu', '2026-12-01T08:00:00Z', {
    phase: 'Succeeded',
    completionTime: '2026-12-01T09:30:00Z',
  }),
];

describe('dashboard queue summary', () => {
  const [cpu, gpu] = summarizeQueues(jobs, NOW);

  test('depth counts only unclaimed jobs; waiting is oldest first with the time waited', () => {
    expect(gpu!.queue).toBe('gpu');
    expect(gpu!.depth).toBe(2);
    expect(gpu!.waiting.map((w) => [w.name, w.waitingSeconds])).toEqual([
      ['early', 3600],
      ['late', 600],
    ]);
    expect(gpu!.building).toBe(1);
  });

  test('throughput buckets completions by hour, the current hour last, older ones dropped', () => {
    expect(cpu!.completedPerHour).toEqual([0, 0, 0, 1, 0, 1]);
    expect(cpu!.running).toBe(1);
    expect(cpu!.succeeded).toBe(2);
    expect(cpu!.failed).toBe(1);
  });

  test('a row carries the latest condition reason; unclaimed jobs say so', () => {
    const failed = jobRow(jobs[6]!);
    expect(failed).toMatchObject({
      phase: 'Failed',
      reason: 'ImagePullBackOff',
      message: 'no such image',
    });
    expect(jobRow(jobs[0]!).reason).toBe('Unclaimed');
    expect(matchesFilter(failed, { queue: 'cpu', phase: 'Failed' })).toBe(true);
    expect(matchesFilter(failed, { reason: 'Unclaimed' })).toBe(false);
  });

  test('why a job is not running', () => {
    expect(notRunningReason(jobs[1]!, 1)).toBe(
      'Waiting for an agent serving queue gpu to claim it, number 1 in queue gpu.',
    );
    expect(notRunningReason(jobs[2]!, undefined)).toMatch(/^Claimed by agent-0, not running yet/);
    expect(notRunningReason(jobs[6]!, undefined)).toBe('Failed (ImagePullBackOff): no such image');
    expect(notRunningReason(jobs[4]!, undefined)).toBeUndefined();
  });

  test('durations read short', () => {
    expect([45, 600, 7200, 400_000].map(formatDuration)).toEqual(['45s', '10m', '2.0h', '5d']);
  });
});

describe('dashboard pages', () => {
  test('names a user cannot choose are escaped', () => {
    expect(escapeHtml(`<img src=x onerror="a">'`)).toBe(
      '&lt;img src=x onerror=&quot;a&quot;&gt;&#39;',
    );
    const hostile = job('x', '<script>alert(1)</script>', '2026-12-08T11:00:00Z');
    expect(queuesBody(summarizeQueues([hostile], NOW))).not.toContain('<script>alert');
    expect(jobsBody([hostile], {})).not.toContain('<script>alert');
  });

  test('the jobs page applies its filter and lists positions on the queues page', () => {
    const page = jobsBody(jobs, { queue: 'cpu', phase: 'Failed' });
    expect(page).toContain('data-key="team-a/done-2h"');
    expect(page).not.toContain('data-key="team-a/running"');
    const queues = queuesBody(summarizeQueues(jobs, NOW));
    expect(queues).toMatch(/<td>1<\/td><td><a href="\/jobs\/team-a\/early">early<\/a>/);
  });
});
