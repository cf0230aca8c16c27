import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { loadRuntime } from '../runtime.js';
import { kubeConfigFor } from './start.js';

interface DashboardFlags {
  port: string;
  namespace?: string[];
  allNamespaces?: boolean;
  open?: boolean;
  inCluster?: boolean;
  allowCancel?: boolean;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port: ${JSON.stringify(text)} is not a port (an integer 0-65535)`);
  }
  return port;
}

/** Opens the URL in the desktop's browser; a machine without one just has the printed URL. */
function openBrowser(url: string): void {
  const opener =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

export function registerDashboardCommand(program: Command, out: Output): void {
  program
    .command('dashboard')
    .description(
      'Serve a queue dashboard on 127.0.0.1: queues, jobs (live), each job with its Events and run log.',
    )
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', '8642')
    .option(
      '-n, --namespace <ns...>',
      'namespace(s) of the LaunchJobs to show (default: the kubeconfig context namespace)',
    )
    .option('-A, --all-namespaces', 'show LaunchJobs of every namespace your credentials may list')
    .option('--open', 'open the URL in your browser')
    .option(
      '--in-cluster',
      "run as the chart's dashboard: listen on 0.0.0.0 behind the operator's authenticating proxy, read-only unless --allow-cancel",
    )
    .option('--allow-cancel', 'with --in-cluster: offer the Cancel button (RBAC must allow patch)')
    .addHelpText(
      'after',
      '\nEverything is read with your kubeconfig, so you see exactly what your RBAC lets you read.\n' +
        'No login of its own and nothing fetched from elsewhere. Stop it with Ctrl-C. See docs/dashboard.md.',
    )
    .action(async (flags: DashboardFlags) => {
      if (flags.allNamespaces && flags.namespace) {
        throw new UsageError('--namespace and --all-namespaces: give one or the other');
      }
      if (flags.allowCancel && !flags.inCluster) {
        throw new UsageError(
          '--allow-cancel: only with --in-cluster (on a workstation Cancel is offered when your RBAC allows patch)',
        );
      }
      const port = parsePort(flags.port);
      const named = flags.namespace?.flatMap((ns) => ns.split(',')).filter(Boolean);
      const bad = named?.find((ns) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns));
      if (bad !== undefined) {
        throw new UsageError(
          `--namespace: ${JSON.stringify(bad)} is not a namespace name (lowercase letters, digits and '-', at most 63)`,
        );
      }
      const runtime = await loadRuntime();
      const kubeConfig = await kubeConfigFor('dashboard');
      const namespaces = named ?? [runtime.agentNamespace(kubeConfig, undefined)];
      // The server and its pages load here only: no other command pays for them.
      const { startDashboard } = await import('../dashboard/server.js');
      const dashboard = await startDashboard({
        runtime,
        kubeConfig,
        scope: flags.allNamespaces ? { allNamespaces: true } : { allNamespaces: false, namespaces },
        host: flags.inCluster ? '0.0.0.0' : '127.0.0.1',
        port,
        allowCancel: flags.inCluster ? (flags.allowCancel ?? false) : true,
        checkHost: !flags.inCluster,
      });
      out.stdout.write(`launch-agent dashboard: ${dashboard.url}\n`);
      if (flags.open) openBrowser(dashboard.url);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await dashboard.close();
    });
}
