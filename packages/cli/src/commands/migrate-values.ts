import { open } from 'node:fs/promises';
import {
  formatMigrationReport,
  MAX_VALUES_BYTES,
  MigrateValuesError,
  migratedValuesYaml,
  migrateWandbValues,
} from '@launch-agent/config';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';

/** Reads at most MAX_VALUES_BYTES + 1 bytes, so an oversized file is refused without loading it. */
async function readBounded(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reasons: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
    };
    throw new UsageError(
      `cannot read ${file}: ${(code && reasons[code]) ?? (error as Error).message}`,
    );
  }
  try {
    if ((await handle.stat()).isDirectory())
      throw new UsageError(`cannot read ${file}: it is a directory`);
    const buffer = Buffer.alloc(MAX_VALUES_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

export function registerMigrateValuesCommand(program: Command, out: Output): void {
  program
    .command('migrate-values')
    .description(
      "Convert a values file of W&B's launch-agent chart into values for this chart (stdout), with a report of every key (stderr).",
    )
    .argument('<file>', "the values file written for W&B's launch-agent chart")
    .addHelpText(
      'after',
      '\nThe embedded launchConfig string becomes a structured agentConfig, checked against the\n' +
        'agent schema. The report lists each key as mapped, dropped (with why), needing attention\n' +
        'or unset. Secret values (agent.apiKey, additionalSecretEnvVars, gitCreds,\n' +
        'azureStorageAccessKey) are never printed or copied: the output refers to Secrets the\n' +
        'report tells you to create.\n\n' +
        'Exit codes: 0 converted; 1 the file cannot be converted (not YAML, an invalid\n' +
        'launchConfig, an unknown key: each named with its line, nothing on stdout); 2 unreadable.\n\n' +
        'Example: launch-agent migrate-values wandb-values.yaml > values.yaml\n' +
        'Docs: docs/migrate-from-wandb.md',
    )
    .action(async (file: string) => {
      const text = await readBounded(file);
      try {
        const result = migrateWandbValues(text, file);
        out.line(migratedValuesYaml(result, file).trimEnd());
        out.note(formatMigrationReport(result, file).trimEnd());
        process.exitCode = EXIT.ok;
      } catch (error) {
        if (!(error instanceof MigrateValuesError)) throw error;
        out.problems(error.problems, []);
        out.note(`${file}: not converted; nothing was written to stdout`);
        process.exitCode = EXIT.failure;
      }
    });
}
