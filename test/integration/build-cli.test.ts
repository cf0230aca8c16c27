// `launch-agent build` end to end: config file → plan → registry check → podman build → push to
// the test environment's open registry. Needs `scripts/testenv up`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConfigInvalidError } from '@launch-agent/config';
import { createRequire } from 'node:module';
import { registerBuildCommand } from '../../packages/cli/src/commands/build.js';
import { EXIT, UsageError } from '../../packages/cli/src/exit-codes.js';
import { buildProgram, main } from '../../packages/cli/src/main.js';
import { Output } from '../../packages/cli/src/output.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

// commander is the CLI package's dependency; load the copy the CLI itself uses.
const { Command, CommanderError } = createRequire(
  new URL('../../packages/cli/package.json', import.meta.url),
)('commander') as typeof import('commander');

let env: TestEnv;
const dirs: string[] = [];
beforeAll(async () => {
  env = await requireServices('docker', 'registry');
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/**
 * Runs `launch-agent ARGS` in-process. Through main() once it registers the build command;
 * until then through a program with just this command and main()'s exit-code rules.
 */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const output = new Output(stdout, stderr, { NO_COLOR: '1' });
  let code: number;
  if (
    buildProgram(new Output(new PassThrough(), new PassThrough())).commands.some(
      (c) => c.name() === 'build',
    )
  ) {
    code = await main(args, output);
  } else {
    const program = new Command('launch-agent').exitOverride();
    program.configureOutput({
      writeOut: (t) => output.stdout.write(t),
      writeErr: (t) => output.stderr.write(t),
    });
    registerBuildCommand(program, output);
    program.commands.forEach((c) => c.exitOverride());
    process.exitCode = undefined;
    try {
      await program.parseAsync(args, { from: 'user' });
      code = Number(process.exitCode ?? EXIT.ok);
    } catch (error) {
      if (error instanceof CommanderError) code = EXIT.usage;
      else if (error instanceof ConfigInvalidError) {
        output.problems(error.problems, error.warnings);
        code = EXIT.failure;
      } else if (error instanceof UsageError) {
        output.error(error.message);
        code = EXIT.usage;
      } else {
        output.error((error as Error).message);
        code = EXIT.failure;
      }
    }
    process.exitCode = undefined;
  }
  return { code, stdout: out, stderr: err };
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);

function setup(): { config: string; context: string; destination: string } {
  const destination = `${env.registry}/launch-cli/${uniqueName('app')}`;
  const configDir = tempDir('cli-config-');
  const config = join(configDir, 'launch-config.yaml');
  writeFileSync(config, `builder:\n  type: docker\n  destination: ${destination}\n`);
  const context = tempDir('cli-ctx-');
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nARG FLAVOR\nCOPY . /app/\n');
  writeFileSync(join(context, 'train.py'), 'print("train")\n');
  return { config, context, destination };
}

describe('launch-agent build', () => {
  it('builds and pushes, prints the reference last; the identical rebuild is skipped with the same reference', async () => {
    const { config, context, destination } = setup();
    const first = await run(['build', context, '--config', config]);
    expect(first.stderr).toMatch(/==> build/);
    expect(first.code).toBe(0);
    const reference = lastLine(first.stdout)!;
    expect(reference).toMatch(new RegExp(`^${destination.replace(/[.]/g, '\\.')}:[0-9a-f]{32}$`));
    expect(first.stdout).toMatch(/built and pushed/);

    const second = await run(['build', context, '--config', config]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already exists .*build skipped/);
    expect(lastLine(second.stdout)).toBe(reference);
    expect(second.stderr).not.toMatch(/==> build/);

    const dry = await run(['build', context, '--config', config, '--dry-run']);
    expect(dry.stdout).toMatch(/dry run: .* exists/);
    expect(lastLine(dry.stdout)).toBe(reference);
  });

  it('--dry-run with other build args names a new reference, says it does not exist, and builds nothing', async () => {
    const { config, context } = setup();
    const plain = await run(['build', context, '--config', config, '--dry-run', '--json']);
    expect(plain.code).toBe(0);
    const report = JSON.parse(plain.stdout.trim()) as {
      status: string;
      existed: boolean;
      image: string;
      builder: string;
    };
    expect(report).toMatchObject({ status: 'planned', existed: false, builder: 'docker' });

    const flavored = await run([
      'build',
      context,
      '--config',
      config,
      '--dry-run',
      '--build-arg',
      'FLAVOR=gpu',
    ]);
    expect(flavored.code).toBe(0);
    expect(flavored.stdout).toMatch(/does not exist; it would be built with docker/);
    expect(lastLine(flavored.stdout)).not.toBe(report.image);
    const again = await run(['build', context, '--config', config, '--dry-run', '--json']);
    expect((JSON.parse(again.stdout) as { existed: boolean }).existed).toBe(false);
  });

  it('exits 1 with the failing step when the build fails, and 1 naming builder.destination when there is none', async () => {
    const { config, context } = setup();
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY nothing-here /\n');
    const failed = await run(['build', context, '--config', config]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/error: .*nothing-here/);
    expect(failed.stdout).toBe('');

    const noDestination = join(tempDir('cli-config-'), 'launch-config.yaml');
    writeFileSync(noDestination, 'builder:\n  type: docker\n');
    const missing = await run(['build', context, '--config', noDestination]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/builder\.destination/);
  });

  it('exits 2 on usage errors: a context that is not a directory, a malformed --build-arg or --platform', async () => {
    const { config, context } = setup();
    expect((await run(['build', join(context, 'nope'), '--config', config])).code).toBe(2);
    expect((await run(['build', context, '--config', config, '--build-arg', '=x'])).code).toBe(2);
    expect((await run(['build', context, '--config', config, '--platform', 'amd64'])).code).toBe(2);
  });
});
