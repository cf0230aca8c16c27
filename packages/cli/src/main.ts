import { readFileSync } from 'node:fs';
import { ConfigFileError, ConfigInvalidError } from '@launch-agent/config';
import { Command, CommanderError } from 'commander';
import { registerBuildCommand } from './commands/build.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerCancelCommand } from './commands/cancel.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerListCommand } from './commands/list.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerMigrateValuesCommand } from './commands/migrate-values.js';
import { registerPermissionsCommand } from './commands/permissions.js';
import { registerRenderCommand } from './commands/render.js';
import { registerSchemaCommand } from './commands/schema.js';
import { registerStartCommand } from './commands/start.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSubmitCommand } from './commands/submit.js';
import { registerValidateCommand } from './commands/validate.js';
import { EXIT, UsageError } from './exit-codes.js';
import { Output } from './output.js';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

export function buildProgram(out: Output = new Output()): Command {
  const program = new Command('launch-agent')
    .description(
      'A launch agent for Kubernetes: validate and render its config, build images, run jobs.',
    )
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => out.stdout.write(text),
      writeErr: (text) => out.stderr.write(text),
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 1 invalid config or failed work, 2 usage error or unreadable file,\n130 interrupted. Docs: docs/cli.md',
    );
  program.exitOverride();
  registerValidateCommand(program, out);
  registerSchemaCommand(program, out);
  registerRenderCommand(program, out);
  registerPermissionsCommand(program, out);
  registerBuildCommand(program, out);
  registerDoctorCommand(program, out);
  registerStartCommand(program, out);
  registerSubmitCommand(program, out);
  registerStatusCommand(program, out);
  registerLogsCommand(program, out);
  registerDashboardCommand(program, out);
  registerListCommand(program, out);
  registerCancelCommand(program, out);
  registerMigrateValuesCommand(program, out);
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => out.stdout.write(text),
      writeErr: (text) => out.stderr.write(text),
    });
  }
  return program;
}

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: string[], out: Output = new Output()): Promise<number> {
  const program = buildProgram(out);
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? EXIT.ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return EXIT.ok;
      }
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigInvalidError) {
      out.problems(error.problems, error.warnings);
      return EXIT.failure;
    }
    if (error instanceof ConfigFileError || error instanceof UsageError) {
      out.error(error.message);
      return EXIT.usage;
    }
    out.error(error instanceof Error ? error.message : String(error));
    if (process.env.LAUNCH_AGENT_DEBUG) out.note(String((error as Error).stack));
    return EXIT.failure;
  }
}
