import { loadConfig } from '@launch-agent/config';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { kubeConfigFor } from './start.js';
import { loadRuntime } from '../runtime.js';

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
    .option('-n, --namespace <ns>', "the agent's namespace, where LaunchJobs live")
    .option('-f, --follow', 'keep printing until the container ends')
    .addHelpText(
      'after',
      '\nExit code 1 when the job has no run Job or pod yet. See docs/agent.md.',
    )
    .action(async (name: string, options: LogsOptions) => {
      const { LaunchJobClient, agentNamespace, writeRunJobLog } = await loadRuntime();
      const loaded = await loadConfig({ configPath: options.config });
      const kubeConfig = await kubeConfigFor('logs');
      const namespace =
        options.namespace ?? agentNamespace(kubeConfig, loaded.settings.kubernetes.namespace);
      const job = await new LaunchJobClient(kubeConfig).get(namespace, name);
      await writeRunJobLog(kubeConfig, job, out.stdout, options.follow ?? false);
      process.exitCode = EXIT.ok;
    });
}
