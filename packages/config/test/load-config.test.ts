import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigFileError, ConfigInvalidError, loadConfig } from '../src/load/load-config.js';

function tempHome(config?: string): string {
  const home = mkdtempSync(join(tmpdir(), 'launch-agent-home-'));
  if (config !== undefined) {
    mkdirSync(join(home, '.config', 'wandb'), { recursive: true });
    writeFileSync(join(home, '.config', 'wandb', 'launch-config.yaml'), config);
  }
  return home;
}

function tempFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-cfg-')), 'launch-config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  test('an absent default file means defaults', async () => {
    const loaded = await loadConfig({ homeDir: tempHome(), env: {} });
    expect(loaded.file).toBeUndefined();
    expect(loaded.settings).toMatchObject({
      queues: ['default'],
      maxJobs: 1,
      maxSchedulers: 1,
      verbosity: 0,
      secureMode: false,
      stoppedRunTimeoutSeconds: 60,
      environment: { type: 'local' },
      builder: {
        type: 'auto',
        buildJobName: 'wandb-launch-container-build',
        buildTimeoutSeconds: 1800,
      },
    });
  });

  test('reads ~/.config/wandb/launch-config.yaml by default', async () => {
    const home = tempHome('max_jobs: 3\n');
    const loaded = await loadConfig({ homeDir: home, env: {} });
    expect(loaded.file).toBe(join(home, '.config', 'wandb', 'launch-config.yaml'));
    expect(loaded.settings.maxJobs).toBe(3);
  });

  test('an absent explicit file is an error with exit code 2', async () => {
    const error = await loadConfig({
      configPath: '/nonexistent/launch-config.yaml',
      env: {},
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as ConfigFileError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/\/nonexistent\/launch-config.yaml: no such file/);
  });

  test('an empty explicit file means defaults', async () => {
    const loaded = await loadConfig({ configPath: tempFile(''), env: {} });
    expect(loaded.settings.queues).toEqual(['default']);
  });

  test('an invalid file throws every problem with exit code 1', async () => {
    const error = await loadConfig({
      configPath: tempFile('max_jobs: 0\nverbosity: 7\n'),
      env: {},
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).problems.map((p) => p.path)).toEqual([
      'max_jobs',
      'verbosity',
    ]);
  });

  test('the legacy queue is appended to queues', async () => {
    const loaded = await loadConfig({
      configPath: tempFile('queues: [a, b]\nqueue: c\n'),
      env: {},
    });
    expect(loaded.settings.queues).toEqual(['a', 'b', 'c']);
  });

  test('the registry block fills a missing destination and warns', async () => {
    const loaded = await loadConfig({
      configPath: tempFile(
        'registry:\n  type: acr\n  uri: https://myregistry.azurecr.io/team/images\nbuilder:\n  type: docker\n',
      ),
      env: {},
    });
    expect(loaded.settings.builder.destination?.reference).toBe(
      'myregistry.azurecr.io/team/images',
    );
    expect(loaded.warnings.map((w) => w.path)).toContain('registry');
  });

  test('precedence is file < environment < flags', async () => {
    const file = tempFile('queues: [from-file]\nmax_jobs: 2\nverbosity: 0\n');
    const env = {
      LAUNCH_AGENT_QUEUES: 'env-a, env-b',
      LAUNCH_AGENT_MAX_JOBS: '5',
      LAUNCH_AGENT_VERBOSITY: '1',
    };
    const fromEnv = await loadConfig({ configPath: file, env });
    expect(fromEnv.settings).toMatchObject({
      queues: ['env-a', 'env-b'],
      maxJobs: 5,
      verbosity: 1,
    });
    const fromFlags = await loadConfig({
      configPath: file,
      env,
      flags: { queues: ['flag'], maxJobs: '-1', verbosity: 2 },
    });
    expect(fromFlags.settings).toMatchObject({ queues: ['flag'], maxJobs: -1, verbosity: 2 });
  });

  test('a bad override names where it came from', async () => {
    const error = await loadConfig({
      configPath: tempFile(''),
      env: { LAUNCH_AGENT_MAX_JOBS: 'lots' },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigInvalidError);
    const [problem] = (error as ConfigInvalidError).problems;
    expect(problem).toMatchObject({ path: 'max_jobs', value: 'lots' });
    expect(problem!.message).toMatch(/environment variable LAUNCH_AGENT_MAX_JOBS/);
    const flagError = await loadConfig({
      configPath: tempFile(''),
      env: {},
      flags: { verbosity: '9' },
    }).catch((e: unknown) => e);
    expect((flagError as ConfigInvalidError).problems[0]!.message).toMatch(/flag --verbosity/);
  });
});
