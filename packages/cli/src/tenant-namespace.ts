// Where `submit`, `status` and `logs` address a LaunchJob: a tenant namespace the agent serves.
// A LaunchJob is created, runs and is looked up there; the agent's own namespace holds its Lease,
// build Jobs and credentials, and the agent fails any LaunchJob created in it (NamespaceNotServed).
import { loadConfig, type AgentSettings } from '@launch-agent/config';
import { kubeConfigFor } from './commands/start.js';
import { UsageError } from './exit-codes.js';
import type { Output } from './output.js';
import { loadRuntime, type Runtime } from './runtime.js';

/** The `-n, --namespace` option of the commands that address LaunchJobs. */
export const NAMESPACE_OPTION_HELP =
  "the tenant namespace the LaunchJob lives and runs in (default: the kubeconfig context's namespace)";

export interface TenantNamespaceOptions {
  runtime: Pick<Runtime, 'agentNamespace'>;
  kubeConfig: Parameters<Runtime['agentNamespace']>[0];
  settings: Pick<AgentSettings, 'kubernetes'>;
  /** `-n, --namespace` as given, if given. */
  given: string | undefined;
  /** The command, for messages: `submit` refuses the agent's namespace even when named. */
  command: 'submit' | 'status' | 'logs';
  out: Output;
}

function servedList(settings: Pick<AgentSettings, 'kubernetes'>): string {
  const served = settings.kubernetes.targetNamespaces.filter(
    (ns) => ns !== settings.kubernetes.namespace,
  );
  return served.length > 0
    ? `it serves ${served.join(', ')}`
    : 'kubernetes.target-namespaces lists none it serves';
}

/**
 * The namespace `-n` names, else the kubeconfig context's (the pod's, in a cluster), as kubectl
 * picks it. Refuses the agent's own namespace (kubernetes.namespace) when it is the default, and
 * for `submit` always; warns when the config names the served namespaces and this is not one.
 */
export function tenantNamespace(options: TenantNamespaceOptions): string {
  const { settings, given, command, out } = options;
  const namespace = given ?? options.runtime.agentNamespace(options.kubeConfig);
  const agentOwn = settings.kubernetes.namespace;
  if (namespace === agentOwn && (given === undefined || command === 'submit')) {
    throw new UsageError(
      `${namespace} is the agent's own namespace (kubernetes.namespace): it holds the agent's credentials and runs no LaunchJob. ` +
        `Pass -n/--namespace with a namespace the agent serves (${servedList(settings)})` +
        (given === undefined ? ', or set one in your kubeconfig context' : ''),
    );
  }
  const served = settings.kubernetes.targetNamespaces;
  if (command === 'submit' && served.length > 0 && !served.includes(namespace)) {
    out.warning(
      `namespace ${namespace} is not in kubernetes.target-namespaces (${served.join(', ')}): an agent with this config fails the job with NamespaceNotServed`,
    );
  }
  return namespace;
}

/** What `status` and `logs` read: the runtime, the API connection, the LaunchJob `name`. */
export async function readLaunchJob(request: {
  name: string;
  configPath: string | undefined;
  namespace: string | undefined;
  command: 'status' | 'logs';
  out: Output;
}): Promise<{
  runtime: Runtime;
  kubeConfig: ReturnType<Runtime['loadKubeConfig']>;
  job: Awaited<ReturnType<InstanceType<Runtime['LaunchJobClient']>['get']>>;
}> {
  const runtime = await loadRuntime();
  const loaded = await loadConfig({ configPath: request.configPath });
  const kubeConfig = await kubeConfigFor(request.command);
  const namespace = tenantNamespace({
    runtime,
    kubeConfig,
    settings: loaded.settings,
    given: request.namespace,
    command: request.command,
    out: request.out,
  });
  const job = await new runtime.LaunchJobClient(kubeConfig).get(namespace, request.name);
  return { runtime, kubeConfig, job };
}
