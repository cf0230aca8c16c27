import type { LaunchJob } from '@launch-agent/runtime';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { NAMESPACE_OPTION_HELP, readLaunchJob } from '../tenant-namespace.js';

interface StatusOptions {
  config?: string;
  namespace?: string;
  json?: boolean;
}

/** The lines `launch-agent status` prints for one LaunchJob. */
export function describeLaunchJob(job: LaunchJob): string[] {
  const status = job.status ?? {};
  const source = job.spec.source;
  const lines = [
    `name:      ${job.metadata.namespace}/${job.metadata.name}`,
    `queue:     ${job.spec.queue}`,
    `phase:     ${status.phase ?? 'Pending'}${status.agent ? ` (agent ${status.agent})` : ''}`,
    `source:    ${source.image ? `image ${source.image}` : source.context ? `context ${source.context.key}` : source.git ? `git ${source.git.url}${source.git.ref ? `@${source.git.ref}` : ''}` : '-'}`,
  ];
  if (status.image) {
    lines.push(`image:     ${status.image}${status.imageStatus ? ` (${status.imageStatus})` : ''}`);
  }
  if (status.digest) lines.push(`digest:    ${status.digest}`);
  if (status.runJobName) lines.push(`run job:   ${status.runJobNamespace}/${status.runJobName}`);
  if (status.startTime) lines.push(`started:   ${status.startTime}`);
  if (status.completionTime) lines.push(`finished:  ${status.completionTime}`);
  if (status.message) lines.push(`message:   ${status.message}`);
  for (const condition of status.conditions ?? []) {
    lines.push(
      `condition: ${condition.type}=${condition.status}${condition.reason ? ` ${condition.reason}` : ''}${condition.message ? `: ${condition.message}` : ''}`,
    );
  }
  return lines;
}

export function registerStatusCommand(program: Command, out: Output): void {
  program
    .command('status')
    .description("Show a LaunchJob's phase, image, run Job and conditions.")
    .argument('<name>', 'the LaunchJob')
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('-n, --namespace <ns>', NAMESPACE_OPTION_HELP)
    .option('--json', 'print the LaunchJob as JSON')
    .addHelpText('after', '\nExit code 1 when the job Failed. See docs/agent.md.')
    .action(async (name: string, options: StatusOptions) => {
      const { job } = await readLaunchJob({
        name,
        configPath: options.config,
        namespace: options.namespace,
        command: 'status',
        out,
      });
      if (options.json) out.line(JSON.stringify(job));
      else describeLaunchJob(job).forEach((line) => out.line(line));
      process.exitCode = job.status?.phase === 'Failed' ? EXIT.failure : EXIT.ok;
    });
}
