// How values files and chart defaults combine (Helm's pkg/cli/values mergeMaps and
// pkg/chartutil CoalesceValues), and the chart's name helpers.
import {
  buildServiceAccountName,
  chartName,
  fullname,
  releaseNamespace,
  serviceAccountName,
} from '../src/render/chart-names.js';
import { coalesceWithDefaults, mergeMaps, parseValues } from '../src/render/values.js';

describe('parseValues', () => {
  test('reads YAML 1.1 the way Helm does: yes/on are booleans, 0777 is octal, dates stay strings', () => {
    expect(
      parseValues('a: yes\nb: on\nc: 0777\nd: 2024-01-02\ne: "yes"\nf: 1:20\n', 'v.yaml'),
    ).toEqual({
      a: true,
      b: true,
      c: 511,
      d: '2024-01-02',
      e: 'yes',
      f: '1:20',
    });
  });

  test('an empty file is an empty map', () => {
    expect(parseValues('', 'empty.yaml')).toEqual({});
    expect(parseValues('# only a comment\n', 'empty.yaml')).toEqual({});
  });

  test('names the file and line of a YAML error', () => {
    expect(() => parseValues('a: [1, 2\nb: c\n', 'broken.yaml')).toThrow(
      /^broken\.yaml:\d+:\d+: not valid YAML/,
    );
  });

  test('refuses a file that is not a mapping, naming it', () => {
    expect(() => parseValues('- a\n- b\n', 'list.yaml')).toThrow(
      'list.yaml: a values file must be a mapping of keys, not a list',
    );
  });
});

describe('mergeMaps (-f files, later wins)', () => {
  test('maps merge, lists and scalars replace, null is kept for coalescing', () => {
    const first = { a: { x: 1, y: 2 }, list: [1, 2], s: 'one', gone: { z: 1 } };
    const second = { a: { y: 3 }, list: [3], s: 'two', gone: null };
    expect(mergeMaps(first, second)).toEqual({
      a: { x: 1, y: 3 },
      list: [3],
      s: 'two',
      gone: null,
    });
  });
});

describe('coalesceWithDefaults (chart defaults under user values)', () => {
  const defaults = {
    agentConfig: { queues: ['default'], builder: { type: 'noop' } },
    image: { repository: 'r', tag: '' },
    list: [1, 2],
  };

  test('user maps merge over defaults; user lists replace', () => {
    expect(
      coalesceWithDefaults(defaults, { agentConfig: { builder: { type: 'kaniko' } }, list: [9] }),
    ).toEqual({
      agentConfig: { queues: ['default'], builder: { type: 'kaniko' } },
      image: { repository: 'r', tag: '' },
      list: [9],
    });
  });

  test('a user null deletes the default at the top level and nested', () => {
    const out = coalesceWithDefaults(defaults, { list: null, agentConfig: { builder: null } });
    expect(out).toEqual({
      agentConfig: { queues: ['default'] },
      image: { repository: 'r', tag: '' },
    });
  });

  test('a user null for a key the defaults lack stays null, as in Helm', () => {
    expect(coalesceWithDefaults(defaults, { agentConfig: { entity: null } })).toMatchObject({
      agentConfig: { entity: null },
    });
  });

  test('a user scalar replaces a default map', () => {
    expect(coalesceWithDefaults(defaults, { image: 'x' }).image).toBe('x');
  });

  test('does not modify its arguments', () => {
    const user = { agentConfig: { builder: { type: 'docker' } } };
    coalesceWithDefaults(defaults, user);
    expect(user).toEqual({ agentConfig: { builder: { type: 'docker' } } });
    expect(defaults.agentConfig.builder.type).toBe('noop');
  });
});

describe('chart names (_helpers.tpl)', () => {
  const release = { name: 'release-name', namespace: 'default' };
  const sa = {
    serviceAccount: { create: true, name: '' },
    buildServiceAccount: { create: true, name: '' },
  };

  test('fullname is <release>-<chart>', () => {
    expect(fullname({}, 'launch-agent', release)).toBe('release-name-launch-agent');
  });

  test('a release name that contains the chart name is used as is', () => {
    expect(fullname({}, 'launch-agent', { ...release, name: 'gpu-launch-agent-2' })).toBe(
      'gpu-launch-agent-2',
    );
  });

  test('nameOverride replaces the chart name, fullnameOverride the whole name', () => {
    expect(chartName({ nameOverride: 'agent' }, 'launch-agent')).toBe('agent');
    expect(fullname({ nameOverride: 'agent' }, 'launch-agent', release)).toBe('release-name-agent');
    expect(fullname({ fullnameOverride: 'mine', nameOverride: 'x' }, 'launch-agent', release)).toBe(
      'mine',
    );
  });

  test('names are cut to 63 characters and lose one trailing dash', () => {
    const long = 'a'.repeat(50) + '-bbbbbbbbbbb';
    // "<long>-launch-agent" cut at 63 ends in "-": the dash goes.
    expect(fullname({}, 'launch-agent', { ...release, name: long })).toBe(long);
    expect(fullname({ fullnameOverride: 'x'.repeat(62) + '--y' }, 'c', release)).toBe(
      'x'.repeat(62),
    );
    expect(fullname({ fullnameOverride: 'z'.repeat(70) }, 'c', release)).toBe('z'.repeat(63));
    // trimSuffix removes a single dash, like the template.
    expect(fullname({ fullnameOverride: 'w'.repeat(61) + '--v' }, 'c', release)).toBe(
      'w'.repeat(61) + '-',
    );
  });

  test('namespaceOverride wins over the release namespace', () => {
    expect(releaseNamespace({}, release)).toBe('default');
    expect(releaseNamespace({ namespaceOverride: 'ml' }, release)).toBe('ml');
  });

  test('service accounts follow create and name', () => {
    expect(serviceAccountName(sa, 'launch-agent', release)).toBe('release-name-launch-agent');
    expect(buildServiceAccountName(sa, 'launch-agent', release)).toBe(
      'release-name-launch-agent-build',
    );
    const named = {
      serviceAccount: { create: true, name: 'agent' },
      buildServiceAccount: { create: false, name: 'kaniko' },
    };
    expect(serviceAccountName(named, 'launch-agent', release)).toBe('agent');
    expect(buildServiceAccountName(named, 'launch-agent', release)).toBe('kaniko');
    const none = {
      serviceAccount: { create: false, name: '' },
      buildServiceAccount: { create: false, name: '' },
    };
    // checkChartValues refuses this combination before any name is used.
    expect(serviceAccountName(none, 'launch-agent', release)).toBe('');
    expect(buildServiceAccountName(none, 'launch-agent', release)).toBe('default');
  });
});
