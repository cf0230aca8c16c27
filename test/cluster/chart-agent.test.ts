// The chart, installed with `helm install --wait` on the cluster profile: the agent's pod is
// scheduled, pulled, started by the kubelet, passes its readiness probe (GET /readyz through the
// pod network), and `kubectl logs` returns its JSON log.
//
// The agent image is a stand-in for a released one: images/agent-node (this machine's Node.js,
// FROM scratch) with the repository, built by `tsc -b packages/cli`, mounted at /app by hostPath
// through the chart's extraVolumes. There is no kube-proxy, so the pod reaches the API server
// through the bridge's gateway (KUBERNETES_SERVICE_HOST/PORT set through extraEnv; see
// docs/testing.md, "Cluster profile").
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { repoRoot, uniqueName } from '../integration/testenv.js';
import { clusterKubeConfig, loadClusterEnv, type ClusterEnv } from './cluster-env.js';

const run = promisify(execFile);
/** helm from PATH, else where scripts/install-chart-tools puts it. */
const HELM = process.env.HELM ?? 'helm';
const toolsBin = path.join(
  process.env.LAUNCH_AGENT_TOOLS_DIR ?? path.join(os.homedir(), '.cache/launch-agent-tools'),
  'bin',
);
const TIMEOUT = 300_000;

let env: ClusterEnv;
let extra: Record<string, string>;

beforeAll(async () => {
  env = loadClusterEnv();
  const { stdout } = await run(`${repoRoot}/scripts/testenv`, ['cluster', 'env']);
  extra = Object.fromEntries(
    stdout
      .split('\n')
      .map((l) => /^export ([A-Z_]+)='(.*)'$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
  // The agent runs from the repository's build output.
  await run(path.join(repoRoot, 'node_modules/.bin/tsc'), ['-b', 'packages/cli'], {
    cwd: repoRoot,
  });
}, TIMEOUT);

async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(HELM, args, {
      env: {
        ...process.env,
        KUBECONFIG: env.clusterKubeconfig,
        PATH: `${process.env.PATH}:${toolsBin}`,
      },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: error });
  }
}

test(
  'helm install --wait brings the agent up; kubectl logs shows its log',
  async () => {
    const namespace = uniqueName('chart');
    const release = 'agent';
    const [gatewayHost, gatewayPort] = extra.TESTENV_CLUSTER_APISERVER_FROM_PODS!.split(':');
    const nodeImage = extra.TESTENV_CLUSTER_NODE_IMAGE!;
    const values = {
      agentConfig: { queues: ['default'], builder: { type: 'noop' } },
      image: {
        repository: nodeImage.slice(0, nodeImage.lastIndexOf(':')),
        tag: nodeImage.slice(nodeImage.lastIndexOf(':') + 1),
      },
      extraEnv: [
        { name: 'KUBERNETES_SERVICE_HOST', value: gatewayHost },
        { name: 'KUBERNETES_SERVICE_PORT', value: gatewayPort },
      ],
      extraVolumes: [{ name: 'app', hostPath: { path: repoRoot, type: 'Directory' } }],
      extraVolumeMounts: [{ name: 'app', mountPath: '/app', readOnly: true }],
    };
    const valuesFile = path.join(os.tmpdir(), `${namespace}-values.json`);
    writeFileSync(valuesFile, JSON.stringify(values));
    const started = Date.now();
    try {
      await helm([
        'install',
        release,
        path.join(repoRoot, 'charts/launch-agent'),
        '--namespace',
        namespace,
        '--create-namespace',
        '--values',
        valuesFile,
        '--wait',
        '--timeout',
        '4m',
      ]);
    } catch (err) {
      const { stdout } = await run(env.kubectl, [
        '--kubeconfig',
        env.clusterKubeconfig,
        '-n',
        namespace,
        'describe',
        'pods',
      ]).catch(() => ({ stdout: '' }));
      throw new Error(`${(err as Error).message}\n${stdout}`, { cause: err });
    }
    const kc = clusterKubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const deployments = await apps.listNamespacedDeployment({ namespace });
    expect(deployments.items).toHaveLength(1);
    expect(deployments.items[0]!.status?.readyReplicas).toBe(1);
    console.log(`helm install --wait: ${Date.now() - started} ms`);

    const { stdout: logs } = await run(env.kubectl, [
      '--kubeconfig',
      env.clusterKubeconfig,
      '-n',
      namespace,
      'logs',
      `deployment/${deployments.items[0]!.metadata!.name!}`,
    ]);
    const first = logs.split('\n').find((l) => l.startsWith('{'));
    expect(first).toBeDefined();
    expect(() => JSON.parse(first!) as unknown).not.toThrow();

    await helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '2m']);
    await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: namespace });
  },
  TIMEOUT,
);
