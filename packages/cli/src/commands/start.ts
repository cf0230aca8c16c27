import { hostname } from 'node:os';
import { loadConfig } from '@launch-agent/config';
import type { Command } from 'commander';
import { addConfigFlags, configOverrides, type ConfigFlagOptions } from '../config-flags.js';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { loadRuntime, type Runtime } from '../runtime.js';

interface StartOptions extends ConfigFlagOptions {
  port: string;
  namespace?: string;
  identity?: string;
  pvcMountPath?: string;
}

/** The chart's container port `http`, which its probes and a ServiceMonitor use. */
export const DEFAULT_HEALTH_PORT = 8080;

/** The API server connection, or a message that says how to give one (exit code 2). */
export async function kubeConfigFor(
  command: string,
): Promise<ReturnType<Runtime['loadKubeConfig']>> {
  const { KubernetesUnavailableError, loadKubeConfig } = await loadRuntime();
  try {
    return loadKubeConfig();
  } catch (error) {
    if (error instanceof KubernetesUnavailableError) {
      throw new UsageError(
        `launch-agent ${command} needs a Kubernetes API server: run it in a cluster, or set KUBECONFIG`,
      );
    }
    throw error;
  }
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be a TCP port (0-65535), not "${value}"`);
  }
  return port;
}

export function registerStartCommand(program: Command, out: Output): void {
  const command = program
    .command('start')
    .description(
      'Run the agent: take LaunchJobs from the configured queues, build when needed, run them as Kubernetes Jobs.',
    )
    .option('--port <port>', 'port for /healthz, /readyz and /metrics', String(DEFAULT_HEALTH_PORT))
    .option(
      '--namespace <ns>',
      "the agent's own namespace, for its Lease and build Jobs (default: kubernetes.namespace, else the pod or kubeconfig namespace); it serves kubernetes.target-namespaces",
    )
    .option(
      '--identity <name>',
      'this agent in status.agent (default: POD_NAME, else the hostname)',
    )
    .option(
      '--pvc-mount-path <dir>',
      'where the pvc:// context store is mounted here (default: builder.context-pvc-mount-path)',
    )
    .addHelpText(
      'after',
      '\nRuns until SIGTERM or SIGINT, then hands its unfinished LaunchJobs back and exits 0.\n' +
        'Kubernetes access: in a cluster the pod ServiceAccount, else KUBECONFIG. Logs: JSON lines\n' +
        'when LAUNCH_AGENT_LOG_FORMAT=json or stderr is not a terminal. See docs/agent.md.',
    );
  addConfigFlags(command).action(async (options: StartOptions) => {
    const {
      LaunchAgent,
      agentNamespace,
      createLogger,
      logFormatFor,
      selectContextStore,
      startHealthServer,
    } = await loadRuntime();
    const port = parsePort(options.port);
    const loaded = await loadConfig({
      configPath: options.config,
      flags: configOverrides(options),
    });
    out.problems([], loaded.warnings);
    const { settings } = loaded;
    const log = createLogger({
      format: logFormatFor(process.env, out.stderr),
      level: settings.verbosity > 0 ? 'debug' : 'info',
      stream: out.stderr,
    });
    const kubeConfig = await kubeConfigFor('start');
    const namespace =
      options.namespace ?? agentNamespace(kubeConfig, settings.kubernetes.namespace);
    const contextStore = await selectContextStore(settings, {
      ...(options.pvcMountPath ? { pvcMountPath: options.pvcMountPath } : {}),
    });
    const agent = new LaunchAgent({
      kubeConfig,
      settings,
      namespace,
      identity: options.identity ?? process.env.POD_NAME ?? hostname(),
      log,
      ...(contextStore ? { contextStore } : {}),
    });
    // Up before the agent, so the liveness probe answers while the first lists load.
    const health = await startHealthServer(
      {
        live: () => agent.isLive(),
        ready: () => agent.isReady(),
        notReadyBecause: () => agent.notReadyBecause(),
        metrics: () => agent.metrics.render(),
      },
      port,
    );
    log.info('health server listening', {
      port: health.port,
      config: loaded.file ?? '(defaults)',
    });

    let signalled: (signal: NodeJS.Signals) => void = () => {};
    const stopSignal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
    const onSignal = (signal: NodeJS.Signals) => signalled(signal);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      await Promise.race([agent.start(), stopSignal]);
      const signal = await stopSignal;
      log.info('signal received; shutting down', { signal });
      await agent.stop();
      process.exitCode = EXIT.ok;
    } catch (error) {
      await agent.stop();
      throw error;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await health.close();
    }
  });
}
