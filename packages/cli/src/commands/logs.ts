import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { NAMESPACE_OPTION_HELP, readLaunchJob } from '../tenant-namespace.js';

interface LogsOptions {
  config?: string;
  namespace?: string;
  follow?: boolean;
}

export function registerLogsCommand(program: Command, out: Output): void {
  program
    .command('logs')
    .description("Print the log of a LaunchJob's run Job (its newest pod).")
    .argument('<name>', 'the LaunchJob')
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('-n, --namespace <ns>', NAMESPACE_OPTION_HELP)
    .option('-f, --follow', 'keep printing until the container ends')
    .addHelpText(
      'after',
      '\nExit code 1 when the job has no run Job or pod yet. See docs/agent.md.',
    )
    .action(async (name: string, options: LogsOptions) => {
      const { runtime, kubeConfig, job } = await readLaunchJob({
        name,
        configPath: options.config,
        namespace: options.namespace,
        command: 'logs',
        out,
      });
      await runtime.writeRunJobLog(kubeConfig, job, out.stdout, options.follow ?? false);
      process.exitCode = EXIT.ok;
    });
}
