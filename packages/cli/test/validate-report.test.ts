import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-validate-')), 'launch-config.yaml');
  writeFileSync(file, text);
  return file;
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'));

describe('launch-agent validate: Azure Container Registry names', () => {
  test.each([
    [
      'builder:\n  type: docker\n  destination: my-reg.azurecr.io/team/app\n',
      3,
      16,
      'builder.destination',
      'my-reg',
    ],
    ['registry:\n  type: acr\n  uri: ab.azurecr.io/team/app\n', 3, 8, 'registry.uri', 'ab'],
  ])(
    'refuses an azurecr.io host whose name Azure does not allow (%#), naming file, line, key and value',
    async (text, line, column, key, name) => {
      const file = configFile(text);
      const result = await runCli(['validate', '--config', file]);
      expect(result.code).toBe(1);
      const value = `${name}.azurecr.io/team/app`;
      expect(errorLines(result.stderr)).toEqual([
        `error: ${file}:${line}:${column}: ${key}: "${name}" is not a valid Azure Container Registry name: ` +
          `a registry name is 5 to 50 letters and digits, with no hyphens, dots or other characters ` +
          `(got "${value}"; expected <name>.azurecr.io/<repository>, where <name> is 5 to 50 letters and digits)`,
      ]);
      // Never read as a plain OCI registry, not even with a warning.
      expect(result.stderr).not.toMatch(/plain OCI/);
    },
  );

  test('accepts a valid registry name as ACR', async () => {
    const file = configFile(
      'builder:\n  type: docker\n  destination: myreg01.azurecr.io/team/app\n',
    );
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/destination myreg01\.azurecr\.io\/team\/app \(acr\)/);
  });
});

describe('launch-agent validate: one report for the schema and the semantic rules', () => {
  // verbosity fails the schema; the destination and the heartbeat timing fail rules the schema
  // cannot state. All three come out of one run, in file order.
  const text =
    'verbosity: 4\n' +
    'builder:\n' +
    '  type: docker\n' +
    '  destination: my-reg.azurecr.io/team/app\n' +
    'launchjobs:\n' +
    '  heartbeat-seconds: 10\n' +
    '  stale-after-seconds: 20\n';

  test('text: every problem with file:line:column, key path, value and expected form, sorted by position', async () => {
    const file = configFile(text);
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      `error: ${file}:1:12: verbosity: invalid value (got 4; expected 0, 1 or 2)`,
      expect.stringMatching(
        new RegExp(
          `^error: ${file}:4:16: builder\\.destination: "my-reg" is not a valid Azure Container Registry name: .*\\(got "my-reg\\.azurecr\\.io/team/app"; expected `,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^error: ${file}:7:24: launchjobs\\.stale-after-seconds: an agent's jobs would be taken over .*\\(got 20; expected stale-after-seconds >= 3 x heartbeat-seconds`,
        ),
      ),
    ]);
    expect(result.stderr).toMatch(/: 3 problems$/m);
  });

  test('--format json lists the same problems, each with its location', async () => {
    const file = configFile(text);
    const result = await runCli(['validate', '--config', file, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.valid).toBe(false);
    expect(report.errors).toEqual([
      {
        path: 'verbosity',
        message: 'invalid value',
        value: 4,
        expected: '0, 1 or 2',
        location: { file, line: 1, column: 12 },
      },
      expect.objectContaining({
        path: 'builder.destination',
        value: 'my-reg.azurecr.io/team/app',
        location: { file, line: 4, column: 16 },
      }),
      expect.objectContaining({
        path: 'launchjobs.stale-after-seconds',
        value: 20,
        location: { file, line: 7, column: 24 },
      }),
    ]);
  });

  test('a key that fails the schema gets no follow-on error from the rules that read it', async () => {
    // Without the schema's verdict the rules would say the kaniko builder has no destination and
    // would compare the heartbeat "ten" with stale-after-seconds.
    const file = configFile(
      'builder:\n  type: kaniko\n  destination: 42\n  build-context-store: s3://bucket/prefix\n' +
        'launchjobs:\n  heartbeat-seconds: ten\n  stale-after-seconds: 20\n' +
        'queues: [a]\nrun-templates:\n  b: {spec: {}}\n',
    );
    const result = await runCli(['validate', '--config', file, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.errors.map((e: { path: string }) => e.path)).toEqual([
      'builder.destination',
      'launchjobs.heartbeat-seconds',
      // A semantic problem with keys the schema accepted is still reported in the same run.
      'run-templates.b',
    ]);
    expect(report.errors[0]).toMatchObject({ message: 'wrong type (number)', value: 42 });
  });

  test.each([
    'builder: 5\nqueue: [a]\nqueues: 7\nlaunchjobs: yes\nenvironment: []\nregistry: text\n',
    'builder:\n  type: [docker]\n  destination: {a: 1}\n  uri: [x]\n  build-context-store: 3\n  kaniko-config: 1\n',
    'queues: [1, {a: b}]\nqueue: {x: 1}\nrun-templates: [1]\nlaunchjobs: {heartbeat-seconds: [1], stale-after-seconds: {}}\n',
  ])(
    'values of the wrong type under every key the rules read are schema problems, not a crash (%#)',
    async (text) => {
      const result = await runCli(['validate', '--config', configFile(text), '--format', 'json']);
      expect(result.code).toBe(1);
      const report = JSON.parse(result.stdout);
      expect(report.errors.length).toBeGreaterThan(0);
      for (const error of report.errors) expect(error.location.line).toBeGreaterThan(0);
    },
  );
});
