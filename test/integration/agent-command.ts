// `launch-agent start` run in-process as the tests run it: KUBECONFIG set to the agent's own
// kubeconfig file, JSON logs captured, the health server on a free port.
import { PassThrough } from 'node:stream';
import { main } from '../../packages/cli/src/main.js';
import { Output } from '../../packages/cli/src/output.js';
import { waitFor } from './agent-harness.js';

export interface AgentCommand {
  /** The health server's port (/healthz, /readyz, /metrics). */
  port: number;
  /** Everything the agent logged so far. */
  log(): string;
  /** The agent's JSON log lines so far. */
  lines(): Array<Record<string, unknown>>;
  /** SIGTERM, then the command's exit code; the environment is restored. Safe to call twice. */
  stop(): Promise<number>;
}

export async function startAgentCommand(options: {
  configFile: string;
  kubeconfigFile: string;
  namespace: string;
  identity: string;
}): Promise<AgentCommand> {
  const stderr = new PassThrough();
  let log = '';
  stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const saved = { KUBECONFIG: process.env.KUBECONFIG, FORMAT: process.env.LAUNCH_AGENT_LOG_FORMAT };
  process.env.KUBECONFIG = options.kubeconfigFile;
  process.env.LAUNCH_AGENT_LOG_FORMAT = 'json';
  const exited = main(
    [
      'start',
      '--config',
      options.configFile,
      '--port',
      '0',
      '--namespace',
      options.namespace,
    ].concat(['--identity', options.identity]),
    new Output(new PassThrough(), stderr, { NO_COLOR: '1' }),
  );
  let stopped: Promise<number> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      process.emit('SIGTERM', 'SIGTERM');
      try {
        return await exited;
      } finally {
        if (saved.KUBECONFIG === undefined) delete process.env.KUBECONFIG;
        else process.env.KUBECONFIG = saved.KUBECONFIG;
        if (saved.FORMAT === undefined) delete process.env.LAUNCH_AGENT_LOG_FORMAT;
        else process.env.LAUNCH_AGENT_LOG_FORMAT = saved.FORMAT;
      }
    })();
    return stopped;
  };
  const lines = () =>
    log
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  try {
    const listening = await waitFor(
      'the health server',
      async () => lines().find((line) => line.msg === 'health server listening'),
      (line) => line !== undefined,
    );
    return { port: listening!.port as number, log: () => log, lines, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
