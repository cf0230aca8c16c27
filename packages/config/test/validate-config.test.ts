import { checkConfigText } from '../src/load/load-config.js';

/** One case per rule: the config text, the key path reported, and a phrase of the message. */
const invalid: Array<[string, string, string, RegExp, number?]> = [
  [
    'builder type not in the enum',
    'builder:\n  type: podman\n',
    'builder.type',
    /invalid value/,
    2,
  ],
  [
    'builder block without a type',
    'builder:\n  destination: localhost:5000/x\n',
    'builder.type',
    /missing/,
    2,
  ],
  [
    'destination with a tag',
    'builder:\n  type: docker\n  destination: localhost:5000/x:latest\n',
    'builder.destination',
    /tag/,
    3,
  ],
  [
    'uri alias with a tag',
    'builder:\n  type: docker\n  uri: localhost:5000/x:1\n',
    'builder.uri',
    /tag/,
    3,
  ],
  [
    'destination and uri disagree',
    'builder:\n  type: docker\n  destination: localhost:5000/a\n  uri: localhost:5000/b\n',
    'builder.uri',
    /disagree/,
    4,
  ],
  [
    'Artifact Registry without an image',
    'builder:\n  type: docker\n  destination: us-central1-docker.pkg.dev/p/repo\n',
    'builder.destination',
    /image name/,
    3,
  ],
  [
    'kaniko without a context store',
    'builder:\n  type: kaniko\n  destination: localhost:5000/x\n',
    'builder.build-context-store',
    /required by the kaniko builder/,
    2,
  ],
  [
    'kaniko without a destination',
    'builder:\n  type: kaniko\n  build-context-store: s3://bucket/x\n',
    'builder.destination',
    /needs a destination/,
    2,
  ],
  [
    'context store with an unknown scheme',
    'builder:\n  type: kaniko\n  destination: localhost:5000/x\n  build-context-store: ftp://x/y\n',
    'builder.build-context-store',
    /unsupported scheme/,
    4,
  ],
  [
    'environment type unknown',
    'environment:\n  type: openstack\n',
    'environment.type',
    /invalid value/,
    2,
  ],
  [
    'aws without region',
    'environment:\n  type: aws\n',
    'environment.region',
    /required for environment type "aws"/,
    2,
  ],
  [
    'gcp without project',
    'environment:\n  type: gcp\n  region: us-central1\n',
    'environment.project',
    /required for environment type "gcp"/,
    2,
  ],
  [
    'secret-name without secret-key',
    'builder:\n  type: noop\n  secret-name: gcp-key\n',
    'builder.secret-key',
    /set together/,
    2,
  ],
  [
    'secret-key without secret-name',
    'builder:\n  type: noop\n  secret-key: key.json\n',
    'builder.secret-name',
    /set together/,
    2,
  ],
  [
    'kaniko-config with two containers',
    'builder:\n  type: noop\n  kaniko-config:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: a\n          - name: b\n',
    'builder.kaniko-config.spec.template.spec.containers',
    /too many entries/,
    8,
  ],
  [
    'kaniko-config arg not in --key=value form',
    'builder:\n  type: noop\n  kaniko-config:\n    spec:\n      template:\n        spec:\n          containers:\n          - args: ["--cache"]\n',
    'builder.kaniko-config.spec.template.spec.containers[0].args[0]',
    /invalid value/,
    8,
  ],
  ['max_jobs zero', 'max_jobs: 0\n', 'max_jobs', /invalid value/, 1],
  ['max_jobs below -1', 'max_jobs: -2\n', 'max_jobs', /invalid value/, 1],
  ['max_jobs not an integer', 'max_jobs: 1.5\n', 'max_jobs', /wrong type/, 1],
  ['verbosity out of range', 'verbosity: 3\n', 'verbosity', /invalid value/, 1],
  [
    'platform unknown',
    'builder:\n  type: docker\n  platform: windows/amd64\n',
    'builder.platform',
    /invalid value/,
    3,
  ],
  ['queues not a list', 'queues: default\n', 'queues', /wrong type/, 1],
  ['queues with a non-string', 'queues:\n  - 5\n', 'queues[0]', /wrong type/, 2],
  ['unknown top-level key', 'max_job: 2\n', 'max_job', /did you mean "max_jobs"/, 1],
  [
    'snake-case context store',
    'builder:\n  type: noop\n  build_context_store: s3://b/x\n',
    'builder.build_context_store',
    /did you mean "build-context-store"/,
    3,
  ],
  [
    'unknown environment key',
    'environment:\n  type: azure\n  regoin: eastus\n',
    'environment.regoin',
    /did you mean "region"/,
    3,
  ],
  [
    'stale timeout under three heartbeats',
    'launchjobs:\n  heartbeat-seconds: 10\n  stale-after-seconds: 20\n',
    'launchjobs.stale-after-seconds',
    /Lease missed fewer than three renewals \(stale after 20 s, renewed every 10 s\)/,
    3,
  ],
  [
    'heartbeat too slow for the default stale timeout',
    'launchjobs:\n  heartbeat-seconds: 30\n',
    'launchjobs.heartbeat-seconds',
    /fewer than three renewals/,
    2,
  ],
  [
    'negative TTL',
    'launchjobs:\n  ttl-seconds-after-finished: -1\n',
    'launchjobs.ttl-seconds-after-finished',
    /invalid value/,
    2,
  ],
  [
    'unknown launchjobs key',
    'launchjobs:\n  ttl-second-after-finished: 60\n',
    'launchjobs.ttl-second-after-finished',
    /did you mean "ttl-seconds-after-finished"/,
    2,
  ],
  ['registry type unknown', 'registry:\n  type: dockerhub\n', 'registry.type', /invalid value/, 2],
  ['document not a mapping', '- a\n- b\n', '(root)', /must be a mapping/, 1],
  ['YAML syntax error', 'builder:\n  type: [docker\n', '(root)', /YAML syntax error/, 3],
  ['duplicate key', 'max_jobs: 1\nmax_jobs: 2\n', '(root)', /YAML syntax error/, 2],
];

describe('invalid configs', () => {
  test.each(invalid)('%s is reported at its key path', (_name, text, path, message, line) => {
    const result = checkConfigText(text, 'launch-config.yaml');
    expect(result.config).toBeUndefined();
    const problem = result.errors.find((p) => p.path === path);
    expect(problem).toBeDefined();
    expect(problem!.message).toMatch(message);
    expect(problem!.location?.file).toBe('launch-config.yaml');
    if (line !== undefined) expect(problem!.location?.line).toBe(line);
  });

  test('every problem carries the value found and the form expected when there is one', () => {
    const result = checkConfigText('max_jobs: 0\n', 'f.yaml');
    expect(result.errors[0]).toMatchObject({
      path: 'max_jobs',
      value: 0,
      expected: 'an integer >= 1, or -1 for unlimited',
      location: { file: 'f.yaml', line: 1, column: 11 },
    });
  });

  test('reports every problem at once, in file order', () => {
    const result = checkConfigText('verbosity: 9\nmax_jobs: 0\nbogus: 1\n', 'f.yaml');
    expect(result.errors.map((p) => p.path)).toEqual(['verbosity', 'max_jobs', 'bogus']);
  });
});

describe('valid configs', () => {
  test.each([
    ['an empty file', ''],
    ['a comment only', '# nothing yet\n'],
    ['max_jobs -1', 'max_jobs: -1\n'],
    ['the legacy queue key', 'queue: default\n'],
    ['YAML 1.1 booleans as the reference reads them', 'secure_mode: yes\n'],
    [
      'a deprecated registry block',
      'registry:\n  type: ecr\n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/r\n',
    ],
  ])('%s', (_name, text) => {
    const result = checkConfigText(text, 'f.yaml');
    expect(result.errors).toEqual([]);
    expect(result.config).toBeDefined();
  });

  test('a deprecated registry block warns', () => {
    const result = checkConfigText(
      'registry:\n  type: ecr\n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/r\n',
      'f.yaml',
    );
    expect(result.warnings.map((w) => w.path)).toContain('registry');
  });

  test('a region mismatch between ECR and the environment warns', () => {
    const result = checkConfigText(
      'environment: {type: aws, region: us-west-2}\nbuilder: {type: docker, destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/r}\n',
      'f.yaml',
    );
    expect(result.errors).toEqual([]);
    expect(result.warnings[0]?.message).toMatch(/us-east-1 but environment.region is us-west-2/);
  });
});
