import type { ConfigOverrides } from '@launch-agent/config';
import type { Command } from 'commander';

/** Options of a command that reads the agent config and accepts the three overridable settings. */
export interface ConfigFlagOptions {
  config?: string;
  queue?: string[];
  maxJobs?: string;
  verbosity?: string;
}

/**
 * Adds `--config` and the flags that override the file and the environment for queues, max_jobs
 * and verbosity (file < environment < flags). The values are validated by loadConfig.
 */
export function addConfigFlags(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option(
      '-q, --queue <name>',
      'a queue to take jobs from; repeat for more (replaces the config and LAUNCH_AGENT_QUEUES)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--max-jobs <n>',
      'jobs run at once, -1 for unlimited (overrides LAUNCH_AGENT_MAX_JOBS)',
    )
    .option('--verbosity <level>', '0, 1 or 2 (overrides LAUNCH_AGENT_VERBOSITY)');
}

export function configOverrides(options: ConfigFlagOptions): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  if (options.queue !== undefined) overrides.queues = options.queue;
  if (options.maxJobs !== undefined) overrides.maxJobs = options.maxJobs;
  if (options.verbosity !== undefined) overrides.verbosity = options.verbosity;
  return overrides;
}
