import { loadConfig } from '@launch-agent/config';
import type { LaunchJob, LaunchJobCancel } from '@launch-agent/runtime';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { loadRuntime, type Runtime } from '../runtime.js';
import { kubeConfigFor } from './start.js';

interface CancelOptions {
  config?: string;
  namespace?: string;
  reason?: string;
}

type KubeConfig = ReturnType<Runtime['loadKubeConfig']>;

/** What happened to one job, as one line. */
export type CancelOutcome =
  | { result: 'requested' | 'alreadyRequested' | 'finished'; job: LaunchJob }
  | { result: 'notFound' | 'forbidden'; namespace: string; name: string; verb: 'get' | 'patch' };

export function describeCancel(outcome: CancelOutcome): string {
  if (outcome.result === 'notFound') {
    return `launchjob ${outcome.namespace}/${outcome.name} not found`;
  }
  if (outcome.result === 'forbidden') {
    return outcome.verb === 'patch'
      ? `you may not cancel launchjob ${outcome.namespace}/${outcome.name}: your RBAC does not allow patch on launchjobs in ${outcome.namespace} (the chart's submitter role grants it)`
      : `you may not read launchjob ${outcome.namespace}/${outcome.name}: your RBAC does not allow get on launchjobs in ${outcome.namespace}`;
  }
  const { job } = outcome as Extract<CancelOutcome, { job: LaunchJob }>;
  const id = `launchjob ${job.metadata.namespace}/${job.metadata.name}`;
  if (outcome.result === 'finished') {
    return `${id} already ended ${job.status!.phase}; nothing to cancel`;
  }
  if (outcome.result === 'alreadyRequested') return `${id}: cancel already requested`;
  return `${id}: cancel requested (phase ${job.status?.phase ?? 'Pending'})`;
}

/**
 * Who is asking, for spec.cancel.requestedBy: the API server's answer (a SelfSubjectReview),
 * else the kubeconfig's user name. What the canceller says, not proof.
 */
async function whoAmI(kubeConfig: KubeConfig, runtime: Runtime): Promise<string | undefined> {
  try {
    const review = (await runtime.kubeJsonRequest(
      kubeConfig,
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    )) as { status?: { userInfo?: { username?: string } } };
    const name = review.status?.userInfo?.username;
    if (name) return name;
  } catch {
    // Older API servers have no SelfSubjectReview: the kubeconfig's name is the next best.
  }
  return kubeConfig.getCurrentUser()?.name || undefined;
}

async function cancelOne(
  client: InstanceType<Runtime['LaunchJobClient']>,
  runtime: Runtime,
  target: { namespace: string; name: string },
  cancel: LaunchJobCancel,
): Promise<CancelOutcome> {
  const code = (error: unknown) => (error as { code?: number }).code;
  let job: LaunchJob;
  try {
    job = await client.get(target.namespace, target.name);
  } catch (error) {
    if (code(error) === 404) return { result: 'notFound', ...target, verb: 'get' };
    if (code(error) === 403) return { result: 'forbidden', ...target, verb: 'get' };
    throw error;
  }
  if (runtime.isTerminal(job)) return { result: 'finished', job };
  if (runtime.cancelRequest(job)) return { result: 'alreadyRequested', job };
  try {
    return {
      result: 'requested',
      job: await client.requestCancel(target.namespace, target.name, cancel),
    };
  } catch (error) {
    if (code(error) === 404) return { result: 'notFound', ...target, verb: 'patch' };
    if (code(error) === 403) return { result: 'forbidden', ...target, verb: 'patch' };
    throw error;
  }
}

export function registerCancelCommand(program: Command, out: Output): void {
  program
    .command('cancel')
    .description('Cancel LaunchJobs at whatever step they are: the agent stops the build or run.')
    .argument('<name...>', 'the LaunchJobs')
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('-n, --namespace <ns>', 'the namespace of the LaunchJobs (default: as status picks it)')
    .option('--reason <text>', 'why, shown in the Cancelled condition and Event')
    .addHelpText(
      'after',
      '\nSets spec.cancel with a merge patch (needs patch on launchjobs); the agent ends the job\n' +
        'Cancelled: a build is aborted, a run gets SIGTERM and stopped_run_timeout seconds before\n' +
        'SIGKILL. A finished job is left as it is. Exit code 1 when a job could not be cancelled.\n' +
        'See docs/cli.md.',
    )
    .action(async (names: string[], options: CancelOptions) => {
      const runtime = await loadRuntime();
      const loaded = await loadConfig({ configPath: options.config });
      const kubeConfig = await kubeConfigFor('cancel');
      const namespace =
        options.namespace ??
        runtime.agentNamespace(kubeConfig, loaded.settings.kubernetes.namespace);
      const client = new runtime.LaunchJobClient(kubeConfig);
      const requestedBy = await whoAmI(kubeConfig, runtime);
      const cancel: LaunchJobCancel = {
        requested: true,
        ...(options.reason ? { reason: options.reason } : {}),
        ...(requestedBy ? { requestedBy } : {}),
        requestedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      };
      let failed = false;
      for (const name of names) {
        const outcome = await cancelOne(client, runtime, { namespace, name }, cancel);
        if (outcome.result === 'notFound' || outcome.result === 'forbidden') {
          failed = true;
          out.error(describeCancel(outcome));
        } else out.line(describeCancel(outcome));
      }
      process.exitCode = failed ? EXIT.failure : EXIT.ok;
    });
}
