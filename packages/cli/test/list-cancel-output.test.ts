// The output formats of `launch-agent list` and `launch-agent cancel`: the table, the JSON rows,
// the queue positions (the agent's claim order) and the messages cancel prints. Pure: jobs are
// built here; the commands against a real API server are in test/integration/agent-cancel.test.ts.
import type { LaunchJob, LaunchJobStatus } from '@launch-agent/runtime';
import { queuePositions } from '@launch-agent/runtime';
import { describeCancel } from '../src/commands/cancel.js';
import { formatAge, formatTable, latestReason, listRows } from '../src/list-view.js';

function job(
  name: string,
  created: string,
  status?: LaunchJobStatus,
  extra: { queue?: string; namespace?: string; cancel?: boolean } = {},
): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name, namespace: extra.namespace ?? 'team-a', creationTimestamp: created as never },
    spec: {
      queue: extra.queue ?? 'default',
      source: { image: 'busybox:1' },
      ...(extra.cancel ? { cancel: { requested: true } } : {}),
    },
    ...(status ? { status } : {}),
  };
}

const NOW = new Date('2026-01-01T12:00:00Z');

describe('list rows', () => {
  const jobs = [
    job('late', '2026-01-01T11:59:00Z'),
    job('early', '2026-01-01T11:00:00Z'),
    // Same second as `early`: namespace/name breaks the tie, as the agent's claim order does.
    job('early-b', '2026-01-01T11:00:00Z', undefined, { namespace: 'team-0' }),
    job('held', '2026-01-01T10:00:00Z', {
      phase: 'Running',
      agent: 'a',
      image: 'busybox:1',
      imageStatus: 'prebuilt',
      conditions: [
        {
          type: 'Claimed',
          status: 'True',
          reason: 'Claimed',
          lastTransitionTime: '2026-01-01T10:00:01Z',
        },
        {
          type: 'Running',
          status: 'True',
          reason: 'RunJobCreated',
          lastTransitionTime: '2026-01-01T10:00:02Z',
        },
      ],
    }),
    job('done', '2026-01-01T09:00:00Z', { phase: 'Succeeded' }),
    job('cancelling', '2026-01-01T08:00:00Z', undefined, { cancel: true }),
    job('gpu-one', '2026-01-01T11:30:00Z', undefined, { queue: 'gpu' }),
  ];

  it('numbers the unclaimed jobs per queue in claim order: oldest first, then namespace/name', () => {
    const positions = queuePositions(jobs);
    expect(Object.fromEntries(positions)).toEqual({
      'team-0/early-b': 1,
      'team-a/early': 2,
      'team-a/late': 3,
      'team-a/gpu-one': 1,
    });
  });

  it('prints a table: every column, a dash where there is nothing', () => {
    const lines = formatTable(listRows(jobs, queuePositions(jobs)), NOW);
    expect(lines[0]).toMatch(
      /^NAME\s+NAMESPACE\s+QUEUE\s+PHASE\s+REASON\s+POSITION\s+AGE\s+IMAGE$/,
    );
    const row = (name: string) => lines.find((line) => line.startsWith(`${name} `))!.split(/\s+/);
    expect(row('held')).toEqual([
      'held',
      'team-a',
      'default',
      'Running',
      'RunJobCreated',
      '-',
      '2h',
      'prebuilt',
    ]);
    expect(row('late')).toEqual(['late', 'team-a', 'default', 'Pending', '-', '3', '60s', '-']);
    expect(row('done')).toEqual(['done', 'team-a', 'default', 'Succeeded', '-', '-', '3h', '-']);
    expect(row('cancelling')[5]).toBe('-');
    // Columns line up: each header starts where its cells start.
    const at = lines[0]!.indexOf('POSITION');
    for (const line of lines.slice(1)) expect(line[at - 1]).toBe(' ');
  });

  it('gives JSON rows with the same fields for programs', () => {
    const rows = listRows(jobs, queuePositions(jobs));
    expect(rows.find((r) => r.name === 'held')).toEqual({
      name: 'held',
      namespace: 'team-a',
      queue: 'default',
      phase: 'Running',
      reason: 'RunJobCreated',
      position: null,
      created: '2026-01-01T10:00:00.000Z',
      image: 'busybox:1',
      imageStatus: 'prebuilt',
    });
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
  });

  it('takes the reason of the condition that changed last', () => {
    const status: LaunchJobStatus = {
      conditions: [
        {
          type: 'Cancelled',
          status: 'True',
          reason: 'CancelRequested',
          lastTransitionTime: '2026-01-01T10:00:05Z',
        },
        {
          type: 'Claimed',
          status: 'True',
          reason: 'Claimed',
          lastTransitionTime: '2026-01-01T10:00:01Z',
        },
      ],
    };
    expect(latestReason(job('x', '2026-01-01T10:00:00Z', status))).toBe('CancelRequested');
    expect(latestReason(job('x', '2026-01-01T10:00:00Z'))).toBeNull();
  });

  it('prints ages as kubectl does', () => {
    expect(formatAge('2026-01-01T11:59:30Z', NOW)).toBe('30s');
    expect(formatAge('2026-01-01T11:30:00Z', NOW)).toBe('30m');
    expect(formatAge('2026-01-01T02:00:00Z', NOW)).toBe('10h');
    expect(formatAge('2025-12-25T12:00:00Z', NOW)).toBe('7d');
    expect(formatAge(null, NOW)).toBe('-');
  });
});

describe('cancel messages', () => {
  it('says what happened to each job', () => {
    expect(
      describeCancel({
        result: 'requested',
        job: job('a', '2026-01-01T00:00:00Z', { phase: 'Building' }),
      }),
    ).toBe('launchjob team-a/a: cancel requested (phase Building)');
    expect(
      describeCancel({
        result: 'finished',
        job: job('a', '2026-01-01T00:00:00Z', { phase: 'Succeeded' }),
      }),
    ).toBe('launchjob team-a/a already ended Succeeded; nothing to cancel');
    expect(
      describeCancel({ result: 'alreadyRequested', job: job('a', '2026-01-01T00:00:00Z') }),
    ).toBe('launchjob team-a/a: cancel already requested');
    expect(
      describeCancel({ result: 'forbidden', namespace: 'team-a', name: 'a', verb: 'patch' }),
    ).toMatch(
      /^you may not cancel launchjob team-a\/a: your RBAC does not allow patch on launchjobs in team-a/,
    );
    expect(
      describeCancel({ result: 'notFound', namespace: 'team-a', name: 'a', verb: 'get' }),
    ).toBe('launchjob team-a/a not found');
  });
});
