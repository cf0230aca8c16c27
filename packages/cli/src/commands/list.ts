import { loadConfig } from '@launch-agent/config';
import type { LaunchJob } from '@launch-agent/runtime';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import { formatTable, listRows } from '../list-view.js';
import type { Output } from '../output.js';
import { loadRuntime, type Runtime } from '../runtime.js';
import { kubeConfigFor } from './start.js';

interface ListOptions {
  config?: string;
  namespace?: string;
  allNamespaces?: boolean;
  queue?: string;
  watch?: boolean;
  json?: boolean;
}

type KubeConfig = ReturnType<Runtime['loadKubeConfig']>;

/** Where to list: one namespace's collection, or every namespace's. */
interface Scope {
  path: string;
  allNamespaces: boolean;
  what: string;
  list: () => Promise<{ items: LaunchJob[]; metadata?: { resourceVersion?: string } }>;
}

const forbidden = (error: unknown) => (error as { code?: number }).code === 403;

/** Prints the rows the jobs make: the table, or one JSON line. */
function printer(out: Output, options: ListOptions, runtime: Runtime) {
  return (jobs: LaunchJob[]) => {
    const shown = options.queue ? jobs.filter((job) => job.spec.queue === options.queue) : jobs;
    // Positions count every job listed in the queue, so --queue does not change them.
    const rows = listRows(shown, runtime.queuePositions(jobs));
    if (options.json) out.line(JSON.stringify(rows));
    else if (rows.length === 0) out.line('No LaunchJobs.');
    else formatTable(rows, new Date()).forEach((line) => out.line(line));
  };
}

/** A 403 said plainly: which list was refused, and what to do instead. */
function refusal(scope: Scope, error: unknown): unknown {
  if (!forbidden(error)) return error;
  if (scope.allNamespaces) {
    return new Error(
      'your account may not list LaunchJobs across all namespaces (a cluster-wide list is forbidden); list one namespace with -n NS',
    );
  }
  return new Error(`your account may not list LaunchJobs in ${scope.what}`);
}

/** The jobs once; a refused list says so. */
async function listOnce(scope: Scope): Promise<LaunchJob[]> {
  try {
    return (await scope.list()).items;
  } catch (error) {
    throw refusal(scope, error);
  }
}

/** Prints the list, then again on every change the watch brings, until interrupted. */
async function watchList(
  kubeConfig: KubeConfig,
  scope: Scope,
  print: (jobs: LaunchJob[]) => void,
  runtime: Runtime,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const informer = new runtime.Informer<LaunchJob>({
      kubeConfig,
      path: scope.path,
      what: `LaunchJobs in ${scope.what}`,
      isFatal: forbidden,
      onFatal: (error) => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        clearInterval(synced);
        reject(refusal(scope, error));
      },
    });
    let pending: NodeJS.Timeout | undefined;
    // Changes that come together (a claim writes status, then an Event) print once.
    const changed = () => {
      if (!informer.hasSynced() || pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        print(informer.list());
      }, 100);
    };
    informer.on({ add: changed, update: changed, delete: changed });
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearInterval(synced);
      informer.stop();
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    informer.start();
    // The first print: once the first list is in.
    const synced = setInterval(() => {
      if (!informer.hasSynced()) return;
      clearInterval(synced);
      print(informer.list());
    }, 50);
  });
}

export function registerListCommand(program: Command, out: Output): void {
  program
    .command('list')
    .description('List LaunchJobs: queue, phase, latest reason, place in the queue, age, image.')
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('-n, --namespace <ns>', 'the namespace to list (default: as status picks it)')
    .option('-A, --all-namespaces', 'list every namespace (needs a cluster-wide list permission)')
    .option('-q, --queue <queue>', 'only the jobs of this queue')
    .option('-w, --watch', 'print again on every change (a watch, not polling) until interrupted')
    .option('--json', 'print the rows as JSON (one line per print)')
    .addHelpText(
      'after',
      '\nPOSITION: for a job no agent has claimed yet, its place in the order agents claim the\n' +
        "queue's jobs (oldest first, then by namespace/name), among the jobs listed. See docs/cli.md.",
    )
    .action(async (options: ListOptions) => {
      if (options.allNamespaces && options.namespace) {
        throw new UsageError('--all-namespaces and --namespace are exclusive: give one');
      }
      const runtime = await loadRuntime();
      const { LaunchJobClient, agentNamespace } = runtime;
      const loaded = await loadConfig({ configPath: options.config });
      const kubeConfig = await kubeConfigFor('list');
      const client = new LaunchJobClient(kubeConfig);
      let scope: Scope;
      if (options.allNamespaces) {
        scope = {
          path: LaunchJobClient.allPath(),
          allNamespaces: true,
          what: 'all namespaces',
          list: () => client.listAll(),
        };
      } else {
        const namespace =
          options.namespace ?? agentNamespace(kubeConfig, loaded.settings.kubernetes.namespace);
        scope = {
          path: LaunchJobClient.path(namespace),
          allNamespaces: false,
          what: `namespace ${namespace}`,
          list: () => client.list(namespace),
        };
      }
      const print = printer(out, options, runtime);
      if (options.watch) await watchList(kubeConfig, scope, print, runtime);
      else print(await listOnce(scope));
      process.exitCode = EXIT.ok;
    });
}
