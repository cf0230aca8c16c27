import { checkConfigText } from '../src/index.js';
import { normalizeConfig } from '../src/normalize.js';

function settingsOf(text: string) {
  const result = checkConfigText(text, 'launch-config.yaml');
  expect(result.errors).toEqual([]);
  return normalizeConfig(result.config!);
}

describe('the launchjobs block', () => {
  test('defaults: heartbeat every 10 s, stale after 45 s, finished jobs kept, sources up to 1 GiB', () => {
    expect(settingsOf('builder: {type: noop}\n').launchJobs).toEqual({
      heartbeatSeconds: 10,
      staleAfterSeconds: 45,
      sourceLimits: { maxBytes: 1073741824, maxEntries: 100000 },
      sourceBudgetBytes: 3 * 1073741824,
      gitSources: { hosts: [], schemes: ['https', 'ssh'], credentialHosts: [] },
    });
  });

  test('every key is carried into the settings', () => {
    expect(
      settingsOf(
        'launchjobs:\n  heartbeat-seconds: 5\n  stale-after-seconds: 15\n  ttl-seconds-after-finished: 0\n' +
          '  max-source-bytes: 2097152\n  max-source-entries: 50\n  source-budget-bytes: 4194304\n' +
          '  git-sources:\n    hosts: [GitHub.com, "*.git.example.com", "*"]\n    schemes: [https, git]\n' +
          '    credential-hosts: [github.com]\n    credentials-file: /etc/git/credentials\n',
      ).launchJobs,
    ).toEqual({
      heartbeatSeconds: 5,
      staleAfterSeconds: 15,
      ttlSecondsAfterFinished: 0,
      sourceLimits: { maxBytes: 2097152, maxEntries: 50 },
      sourceBudgetBytes: 4194304,
      gitSources: {
        hosts: ['github.com', '*.git.example.com', '*'],
        schemes: ['https', 'git'],
        credentialHosts: ['github.com'],
        credentialsFile: '/etc/git/credentials',
      },
    });
  });

  test('max-source-bytes below 1 MiB is refused, naming the key', () => {
    const result = checkConfigText('launchjobs: {max-source-bytes: 10}\n', 'launch-config.yaml');
    expect(result.errors.map((e) => e.path)).toContain('launchjobs.max-source-bytes');
  });

  test('a stale timeout of exactly three heartbeats is accepted', () => {
    expect(
      settingsOf('launchjobs: {heartbeat-seconds: 20, stale-after-seconds: 60}\n').launchJobs
        .staleAfterSeconds,
    ).toBe(60);
  });
});

describe('launchjobs.git-sources and source-budget-bytes', () => {
  const errorsOf = (text: string) => checkConfigText(text, 'launch-config.yaml').errors;

  test('credentials go by default to the listed hosts, never to *', () => {
    expect(
      settingsOf('launchjobs:\n  git-sources: {hosts: ["*", github.com, "*.corp.example"]}\n')
        .launchJobs.gitSources.credentialHosts,
    ).toEqual(['github.com', '*.corp.example']);
  });

  test.each([
    [
      'file',
      'launchjobs.git-sources.schemes[0]',
      /https, ssh, http or git \(file is never allowed\)/,
    ],
    ['ftp', 'launchjobs.git-sources.schemes[0]', /file is never allowed/],
  ])('the scheme %s is refused, naming the key and the allowed ones', (scheme, path, expected) => {
    const errors = errorsOf(
      `launchjobs:\n  git-sources: {hosts: [github.com], schemes: [${scheme}]}\n`,
    );
    expect(errors).toEqual([
      expect.objectContaining({ path, expected: expect.stringMatching(expected) }),
    ]);
    expect(errors[0]!.location).toMatchObject({ file: 'launch-config.yaml', line: 2 });
  });

  test.each([
    ['a.*.example.com', undefined],
    ['*.com', 'at least two labels'],
    ['-bad.example.com', undefined],
    ['https://github.com', undefined],
  ])('the host %j is refused with the expected form', (host, message) => {
    const errors = errorsOf(`launchjobs:\n  git-sources: {hosts: [${JSON.stringify(host)}]}\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      path: 'launchjobs.git-sources.hosts[0]',
      expected: expect.stringContaining('*.example.com'),
    });
    if (message) expect(errors[0]!.message).toContain(message);
  });

  test('credential hosts must be allowed by hosts, and may not be *', () => {
    const errors = errorsOf(
      'launchjobs:\n  git-sources:\n    hosts: [github.com, "*.corp.example"]\n' +
        '    credential-hosts: [gitlab.com, "*", "*.a.corp.example", git.corp.example]\n',
    );
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      [
        'launchjobs.git-sources.credential-hosts[0]',
        expect.stringContaining('not allowed by launchjobs.git-sources.hosts'),
      ],
      [
        'launchjobs.git-sources.credential-hosts[1]',
        expect.stringContaining('never offered to any host'),
      ],
    ]);
  });

  test('a budget below one source cap is refused, naming both keys', () => {
    const errors = errorsOf(
      'launchjobs: {max-source-bytes: 2097152, source-budget-bytes: 1048576}\n',
    );
    expect(errors).toEqual([
      expect.objectContaining({
        path: 'launchjobs.source-budget-bytes',
        value: 1048576,
        expected: 'a whole number of bytes >= launchjobs.max-source-bytes (2097152)',
      }),
    ]);
  });
});
