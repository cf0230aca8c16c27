import type { QueuePolicy } from '@launch-agent/config';
import type { LaunchJob } from '@launch-agent/runtime';
import {
  DEFAULT_QUEUE_POLICY,
  namespaceViolation,
  queueViolation,
  runPolicyViolations,
  selectorMatches,
} from '../src/agent/run-policy.js';
import { parseQuantity } from '../src/agent/quantity.js';

function job(run: LaunchJob['spec']['run'] = {}, namespace = 'team-a'): LaunchJob {
  return {
    apiVersion: 'launch-agent.dev/v1alpha1',
    kind: 'LaunchJob',
    metadata: { name: 'train-1', namespace, uid: 'u-1' },
    spec: { queue: 'gpu', source: { image: 'busybox:1' }, run },
  };
}

const policy = (extra: Partial<QueuePolicy>): QueuePolicy => ({
  ...DEFAULT_QUEUE_POLICY,
  ...extra,
});
const fixedTemplate = {
  spec: {
    template: {
      spec: {
        serviceAccountName: 'trainer',
        priorityClassName: 'batch-low',
        nodeSelector: { pool: 'gpu' },
        tolerations: [{ key: 'gpu', operator: 'Exists' }],
      },
    },
  },
};

describe('namespaceViolation', () => {
  it("refuses the agent's own namespace and namespaces it does not serve", () => {
    expect(namespaceViolation('team-a', ['team-a', 'team-b'], 'launch')).toBeUndefined();
    expect(namespaceViolation('launch', ['team-a', 'launch'], 'launch')).toMatchObject({
      reason: 'NamespaceNotServed',
      field: 'metadata.namespace',
      message: expect.stringContaining("the agent's own namespace"),
    });
    expect(namespaceViolation('team-c', ['team-a'], 'launch')?.message).toBe(
      'the agent does not serve namespace team-c; it serves team-a',
    );
  });
});

describe('queueViolation', () => {
  it('offers a queue with no policy, or a policy without namespaces, to every served namespace', () => {
    expect(queueViolation('gpu', 'team-a', undefined, undefined)).toBeUndefined();
    expect(queueViolation('gpu', 'team-a', policy({}), undefined)).toBeUndefined();
  });

  it('offers a queue to the listed namespaces and to those its selector matches', () => {
    const p = policy({
      namespaces: ['team-a'],
      namespaceSelector: { matchLabels: { tier: 'gpu' } },
    });
    expect(queueViolation('gpu', 'team-a', p, {})).toBeUndefined();
    expect(queueViolation('gpu', 'team-b', p, { tier: 'gpu' })).toBeUndefined();
    expect(queueViolation('gpu', 'team-b', p, { tier: 'cpu' })).toMatchObject({
      reason: 'QueueNotOffered',
      field: 'spec.queue',
    });
  });

  it.each([
    [
      { matchExpressions: [{ key: 't', operator: 'In' as const, values: ['a'] }] },
      { t: 'a' },
      true,
    ],
    [{ matchExpressions: [{ key: 't', operator: 'In' as const, values: ['a'] }] }, {}, false],
    [{ matchExpressions: [{ key: 't', operator: 'NotIn' as const, values: ['a'] }] }, {}, true],
    [
      { matchExpressions: [{ key: 't', operator: 'NotIn' as const, values: ['a'] }] },
      { t: 'a' },
      false,
    ],
    [{ matchExpressions: [{ key: 't', operator: 'Exists' as const }] }, { t: '' }, true],
    [{ matchExpressions: [{ key: 't', operator: 'DoesNotExist' as const }] }, { t: 'x' }, false],
    [{}, { any: 'thing' }, true],
  ])('selector %j over %j matches: %s', (selector, labels, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });
});

describe('runPolicyViolations', () => {
  const cases: Array<
    [string, LaunchJob['spec']['run'], Partial<QueuePolicy> | undefined, boolean, string[]]
  > = [
    [
      'a benign job',
      { args: ['train'], volumes: [{ name: 'd', emptyDir: {} }] },
      undefined,
      false,
      [],
    ],
    ['another namespace', { namespace: 'team-b' }, undefined, false, ['NamespaceNotAllowed']],
    ['its own namespace named', { namespace: 'team-a' }, undefined, false, []],
    ['privileged', { privileged: true }, undefined, false, ['PodSecurityViolation']],
    [
      'privileged on a privileged queue',
      { privileged: true },
      { podSecurity: 'privileged' },
      false,
      [],
    ],
    [
      'hostPath',
      { volumes: [{ name: 'h', hostPath: { path: '/' } }] },
      undefined,
      false,
      ['PodSecurityViolation'],
    ],
    [
      'nfs',
      { volumes: [{ name: 'n', nfs: { server: 'x', path: '/' } }] },
      undefined,
      false,
      ['VolumeTypeNotAllowed'],
    ],
    [
      'nfs where allowed',
      { volumes: [{ name: 'n', nfs: { server: 'x', path: '/' } }] },
      { allowedVolumeTypes: ['nfs'] },
      false,
      [],
    ],
    [
      'csi',
      { volumes: [{ name: 'c', csi: { driver: 'x' } }] },
      undefined,
      false,
      ['VolumeTypeNotAllowed'],
    ],
    [
      'a toleration of every taint',
      { tolerations: [{ operator: 'Exists' }] },
      undefined,
      false,
      ['TolerationNotAllowed'],
    ],
    [
      'a control-plane toleration',
      { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] },
      undefined,
      false,
      ['TolerationNotAllowed'],
    ],
    [
      'a keyed toleration',
      { tolerations: [{ key: 'gpu', operator: 'Exists' }] },
      undefined,
      false,
      [],
    ],
    [
      'a toleration not listed',
      { tolerations: [{ key: 'spot', operator: 'Exists' }] },
      { allowedTolerations: [{ key: 'gpu', operator: 'Exists' }] },
      false,
      ['TolerationNotAllowed'],
    ],
    [
      'a listed toleration',
      { tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }] },
      { allowedTolerations: [{ key: 'gpu', operator: 'Exists' }] },
      false,
      [],
    ],
    [
      'a system priority class',
      { priorityClassName: 'system-node-critical' },
      undefined,
      false,
      ['PriorityClassNotAllowed'],
    ],
    [
      'an unlisted priority class',
      { priorityClassName: 'urgent' },
      { allowedPriorityClasses: ['batch-low'] },
      false,
      ['PriorityClassNotAllowed'],
    ],
    [
      'a listed priority class',
      { priorityClassName: 'batch-low' },
      { allowedPriorityClasses: ['batch-low'] },
      false,
      [],
    ],
    [
      'resources over the cap',
      { resources: { limits: { 'nvidia.com/gpu': '16' }, requests: { memory: '65Gi' } } },
      { maxResources: { 'nvidia.com/gpu': '8', memory: '64Gi' } },
      false,
      ['ResourcesOverCap', 'ResourcesOverCap'],
    ],
    [
      'resources at the cap',
      { resources: { limits: { cpu: '8000m', memory: '64Gi' } } },
      { maxResources: { cpu: '8', memory: '64Gi' } },
      false,
      [],
    ],
    [
      'a quantity that is not one',
      { resources: { limits: { cpu: 'lots' } } },
      { maxResources: { cpu: '8' } },
      false,
      ['ResourcesOverCap'],
    ],
    [
      'an entrypoint under secure_mode',
      { command: ['/bin/sh'] },
      undefined,
      true,
      ['SecureModeViolation'],
    ],
  ];
  it.each(cases)('%s', (_what, run, extra, secureMode, reasons) => {
    const violations = runPolicyViolations({
      job: job(run),
      policy: extra ? policy(extra) : undefined,
      template: undefined,
      secureMode,
    });
    expect(violations.map((v) => v.reason)).toEqual(reasons);
  });

  it('keeps what the run template fixes: no other priority class, node selector or tolerations', () => {
    const violations = runPolicyViolations({
      job: job({
        priorityClassName: 'urgent',
        nodeSelector: { pool: 'cpu' },
        tolerations: [{ key: 'spot', operator: 'Exists' }],
      }),
      policy: undefined,
      template: fixedTemplate,
      secureMode: false,
    });
    expect(violations.map((v) => [v.reason, v.field])).toEqual([
      ['TemplateFieldFixed', 'spec.run.nodeSelector'],
      ['TemplateFieldFixed', 'spec.run.tolerations'],
      ['TemplateFieldFixed', 'spec.run.priorityClassName'],
    ]);
    const same = runPolicyViolations({
      job: job({ priorityClassName: 'batch-low' }),
      policy: policy({ allowedPriorityClasses: [] }),
      template: fixedTemplate,
      secureMode: false,
    });
    expect(same).toEqual([]);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['8', 8],
    ['500m', 0.5],
    ['64Gi', 64 * 2 ** 30],
    ['1e3', 1000],
    ['1.5k', 1500],
    ['', undefined],
    ['8 cores', undefined],
  ])('%s is %s', (text, value) => {
    expect(parseQuantity(text)).toBe(value);
  });
});
