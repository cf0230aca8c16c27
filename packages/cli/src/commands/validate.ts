import {
  ConfigFileError,
  ConfigInvalidError,
  loadConfig,
  redactProblem,
  type Problem,
} from '@launch-agent/config';
import type { Command } from 'commander';
import { addConfigFlags, configOverrides, type ConfigFlagOptions } from '../config-flags.js';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';

interface ValidateOptions extends ConfigFlagOptions {
  format: 'text' | 'json';
}

function describe(settings: Awaited<ReturnType<typeof loadConfig>>['settings']): string {
  const builder = settings.builder;
  const parts = [
    `builder ${builder.type === 'auto' ? 'auto (docker if an engine answers, else noop)' : builder.type}`,
  ];
  if (builder.destination)
    parts.push(`destination ${builder.destination.reference} (${builder.destination.kind})`);
  if (builder.buildContextStore) parts.push(`context store ${builder.buildContextStore.uri}`);
  parts.push(`queues ${settings.queues.join(', ')}`);
  parts.push(`max_jobs ${settings.maxJobs === -1 ? 'unlimited' : settings.maxJobs}`);
  return parts.join('; ');
}

export function registerValidateCommand(program: Command, out: Output): void {
  const command = program
    .command('validate')
    .description(
      'Check a launch-config.yaml: exit 0 when valid, 1 when not (one line per problem), 2 when unreadable.',
    )
    .option('--format <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      '\nEach problem names the key by its dotted path, the file, line and column, the value\n' +
        'found and the form expected. Schema problems and the rules the schema cannot state\n' +
        'are reported together, in file order. Warnings go to stderr and do not change the\n' +
        'exit code.\n' +
        'LAUNCH_AGENT_QUEUES, LAUNCH_AGENT_MAX_JOBS and LAUNCH_AGENT_VERBOSITY are checked too,\n' +
        'and so are --queue, --max-jobs and --verbosity, which override them.',
    );
  addConfigFlags(command).action(async (options: ValidateOptions) => {
    if (options.format !== 'text' && options.format !== 'json') {
      program.error(`error: --format must be text or json, not "${options.format}"`, {
        exitCode: EXIT.usage,
      });
    }
    let file = options.config ?? '(defaults)';
    let errors: Problem[] = [];
    let warnings: Problem[];
    let summary: string | undefined;
    try {
      const loaded = await loadConfig({
        configPath: options.config,
        flags: configOverrides(options),
      });
      file = loaded.file ?? '(defaults: no config file found)';
      warnings = loaded.warnings;
      summary = describe(loaded.settings);
    } catch (error) {
      if (error instanceof ConfigFileError && options.format === 'json') {
        // The file could not be read at all (too large, not UTF-8, a pipe): still one JSON answer.
        const problem = { path: '(file)', message: error.message };
        out.line(
          JSON.stringify(
            { file, valid: false, errors: [redactProblem(problem)], warnings: [] },
            null,
            2,
          ),
        );
        process.exitCode = EXIT.usage;
        return;
      }
      if (!(error instanceof ConfigInvalidError)) throw error;
      file = error.file ?? file;
      errors = error.problems;
      warnings = error.warnings;
    }
    if (options.format === 'json') {
      const safe = {
        file,
        valid: errors.length === 0,
        errors: errors.map(redactProblem),
        warnings: warnings.map(redactProblem),
      };
      out.line(JSON.stringify(safe, null, 2));
    } else {
      out.problems(errors, warnings);
      if (errors.length === 0) {
        out.line(`${file} is valid: ${summary}`);
      } else {
        out.note(`${file}: ${errors.length} problem${errors.length === 1 ? '' : 's'}`);
      }
    }
    process.exitCode = errors.length === 0 ? EXIT.ok : EXIT.failure;
  });
}
