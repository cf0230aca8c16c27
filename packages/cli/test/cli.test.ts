import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-cli-')), 'launch-config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('launch-agent', () => {
  test('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('--help lists the commands and the exit codes', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/validate/);
    expect(result.stdout).toMatch(/schema/);
    expect(result.stdout).toMatch(/Exit codes/);
  });

  test.each([
    'validate',
    'schema',
    'render',
    'permissions',
    'doctor',
    'build',
    'start',
    'submit',
    'status',
    'logs',
    'dashboard',
    'list',
    'cancel',
  ])('%s --help works', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`Usage: launch-agent ${command}`));
  });

  test('an unknown option is a usage error (exit 2)', async () => {
    const result = await runCli(['validate', '--nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown option '--nope'/);
  });

  test('list refuses -A with -n (exit 2)', async () => {
    const result = await runCli(['list', '-A', '-n', 'team-a']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--all-namespaces and --namespace are exclusive/);
  });

  test('cancel needs a job name (exit 2)', async () => {
    expect((await runCli(['cancel'])).code).toBe(2);
  });

  test('an unknown command is a usage error (exit 2)', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  test.each([
    [['--port', '99999'], /--port: "99999" is not a port/],
    [['-n', 'team-a', '-A'], /--namespace and --all-namespaces/],
    [['--allow-cancel'], /--allow-cancel: only with --in-cluster/],
    [['-n', 'team-a,Team_B'], /--namespace: "Team_B" is not a namespace name/],
  ])('dashboard %j is a usage error naming the flag', async (flags, message) => {
    const result = await runCli(['dashboard', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('launch-agent validate', () => {
  test('a valid file exits 0 and summarizes what it means; warnings go to stderr', async () => {
    const file = configFile(
      'builder:\n  type: docker\n  destination: localhost:5000/team/images\n',
    );
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /is valid: builder docker; destination localhost:5000\/team\/images \(oci\)/,
    );
    expect(result.stderr).toMatch(/^warning: .*builder\.destination/m);
  });

  test('an invalid file exits 1 with one line per problem: file, line, column, key path, value, expected form', async () => {
    const file = configFile(
      'max_jobs: 0\nbuilder:\n  type: kaniko\n  destination: localhost:5000/x:v1\n  build_context_store: s3://b/c\n',
    );
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(lines).toEqual([
      `error: ${file}:1:11: max_jobs: invalid value (got 0; expected an integer >= 1, or -1 for unlimited)`,
      expect.stringContaining(`${file}:3:3: builder.build-context-store: missing`),
      expect.stringMatching(
        new RegExp(
          `${file}:4:16: builder.destination: a destination may not carry a tag .*got "localhost:5000/x:v1"`,
        ),
      ),
      expect.stringContaining(
        `${file}:5:3: builder.build_context_store: unknown key; did you mean "build-context-store"?`,
      ),
    ]);
  });

  test('a YAML syntax error names file, line and column', async () => {
    const file = configFile('builder:\n  type: "docker\n');
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`error: ${file}:\\d+:\\d+: \\(root\\): YAML syntax error`),
    );
  });

  test('a missing file exits 2', async () => {
    const result = await runCli(['validate', '--config', '/nonexistent/launch-config.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /cannot read config file \/nonexistent\/launch-config.yaml: no such file/,
    );
  });

  test('--format json gives a machine-readable verdict', async () => {
    const file = configFile('verbosity: 4\n');
    const result = await runCli(['validate', '--config', file, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      file,
      valid: false,
      errors: [{ path: 'verbosity', value: 4, expected: '0, 1 or 2' }],
    });
  });

  test('an invalid --format is a usage error', async () => {
    const result = await runCli(['validate', '--format', 'xml', '--config', configFile('')]);
    expect(result.code).toBe(2);
  });

  test('environment overrides are validated too', async () => {
    const result = await runCli(['validate', '--config', configFile('')], {
      LAUNCH_AGENT_VERBOSITY: 'loud',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/verbosity: .*from environment variable LAUNCH_AGENT_VERBOSITY/);
  });
});

describe('launch-agent schema', () => {
  test('prints the draft-07 JSON Schema', async () => {
    const result = await runCli(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['queues', 'builder', 'environment']),
    );
  });
});

describe('launch-agent render', () => {
  test('prints the launch-config the chart renders, with the kubernetes block it fills in', async () => {
    const values = configFile(
      'agentConfig:\n  builder:\n    type: docker\n    destination: localhost:5000/team/images\n',
    );
    const result = await runCli(['render', '-f', values, '--release-name', 'gpu', '-n', 'launch']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^builder:\n {2}destination: localhost:5000\/team\/images\n {2}type: docker$/m,
    );
    expect(result.stdout).toMatch(
      /^kubernetes:\n {2}build-service-account: gpu-launch-agent-build\n {2}namespace: launch\n/m,
    );
  });

  test('--set is applied after the values files', async () => {
    const values = configFile('agentConfig:\n  max_jobs: 2\n');
    const result = await runCli(['render', '-f', values, '--set', 'agentConfig.max_jobs=7']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^max_jobs: 7$/m);
  });

  test('an invalid agentConfig exits 1 naming the key path under agentConfig', async () => {
    const result = await runCli(['render', '--set', 'agentConfig.verbosity=9']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /error: agentConfig\.verbosity: invalid value \(got 9; expected 0, 1 or 2\)/,
    );
  });

  test('a missing values file is a usage error (exit 2)', async () => {
    const result = await runCli(['render', '-f', '/nonexistent/values.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/\/nonexistent\/values.yaml/);
  });
});

describe('config override flags', () => {
  test('flags win over the environment, which wins over the file', async () => {
    const file = configFile('queues: [from-file]\nmax_jobs: 2\n');
    const env = { LAUNCH_AGENT_QUEUES: 'from-env', LAUNCH_AGENT_MAX_JOBS: '3' };
    const fromEnv = await runCli(['validate', '--config', file], env);
    expect(fromEnv.stdout).toMatch(/queues from-env; max_jobs 3/);
    const fromFlags = await runCli(
      ['validate', '--config', file, '-q', 'a', '--queue', 'b', '--max-jobs', '-1'],
      env,
    );
    expect(fromFlags.stdout).toMatch(/queues a, b; max_jobs unlimited/);
  });

  test('a bad flag value is reported against the flag', async () => {
    const result = await runCli(['validate', '--config', configFile(''), '--max-jobs', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/max_jobs: invalid value \(from flag --max-jobs\)/);
  });
});
