// What the agent's integration tests share: the chart's LaunchJob CRD applied to the test
// environment's API server, the chart's ServiceAccount and Roles as `helm template` renders them
// (with a token for that account), the Job controller's part played by writing run Job status,
// the CLI driven in-process, and config files and source directories in temporary directories.
//
// The test environment has no controller-manager and no kubelet: nothing runs the run Jobs'
// pods. endRunJob writes the Job's status (Complete or Failed conditions) the way the real
// controller would when the pod ends; the agent only ever sees it through its Job watch.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1RoleBinding,
} from '@kubernetes/client-node';
import { checkConfigText, normalizeConfig, type AgentSettings } from '@launch-agent/config';
import type { LaunchJob } from '@launch-agent/runtime';
import { runCli } from '../../packages/cli/test/run-cli.js';
import { kubeRequest, repoRoot, serviceAccountKubeConfig } from './testenv.js';

const run = promisify(execFile);
const { parseAllDocuments } = createRequire(join(repoRoot, 'packages', 'config', 'package.json'))(
  'yaml',
) as typeof import('yaml');
export const chartDir = join(repoRoot, 'charts', 'launch-agent');
const crdFile = join(chartDir, 'crds', 'launchjobs.launch-agent.dev.yaml');

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const tempDirs: string[] = [];

/** A new directory under the system's temp directory; removeTempDirs() deletes it. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Deletes every directory tempDir made in this test file (call it in afterAll). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A config file as a user writes it, and the settings the agent gets from it. The test fails
 * here when the config has errors.
 */
export function configFile(lines: string[]): { path: string; settings: AgentSettings } {
  const text = `${lines.join('\n')}\n`;
  const checked = checkConfigText(text, 'launch-config.yaml');
  expect(checked.errors).toEqual([]);
  const path = join(tempDir('agent-config-'), 'launch-config.yaml');
  writeFileSync(path, text);
  return { path, settings: normalizeConfig(checked.config!) };
}

/** A source directory with a Dockerfile that builds FROM scratch (nothing to pull). */
export function sourceDir(marker: string): string {
  const dir = tempDir('agent-src-');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY src/ /src/\n');
  writeFileSync(join(dir, 'src', 'main.txt'), `${marker}\n`);
  return dir;
}

/** Re-reads until `check` passes (test code: the agent under test uses watches). */
export async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (check(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last, null, 1)}`);
}

/** The environment `helm` needs: scripts/install-chart-tools' PATH and HELM_* variables. */
export async function helmEnv(kubeconfig: string): Promise<NodeJS.ProcessEnv> {
  const { stdout } = await run(join(repoRoot, 'scripts', 'install-chart-tools'), ['--env']);
  const out: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
  for (const line of stdout.split('\n')) {
    const m = /^export (\w+)="(.*)"$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace('$PATH', process.env.PATH ?? '');
  }
  return out;
}

/**
 * Server-side applies the chart's CRD file as it ships (raw YAML: the typed client would drop the
 * x-kubernetes-* keys) and waits until the API server serves it.
 */
export async function applyLaunchJobCrd(admin: KubeConfig): Promise<void> {
  const name = 'launchjobs.launch-agent.dev';
  const { status, body } = await kubeRequest(
    admin,
    'PATCH',
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=launch-agent-tests&force=true`,
    readFileSync(crdFile),
    'application/apply-patch+yaml',
  );
  if (status !== 200 && status !== 201)
    throw new Error(`applying ${name}: HTTP ${status}: ${body}`);
  const api = admin.makeApiClient(ApiextensionsV1Api);
  for (let i = 0; i < 100; i++) {
    const current = await api.readCustomResourceDefinition({ name });
    if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
      return;
    await sleep(100);
  }
  throw new Error(`${name} was not established`);
}

/**
 * Applies chart templates as `helm template` renders them (release `agent` in `namespace`, with
 * `--set` values), with the admin's rights.
 */
export async function applyChartTemplates(options: {
  kubeconfigFile: string;
  namespace: string;
  sets: string[];
  templates: string[];
}): Promise<void> {
  const helm = await helmEnv(options.kubeconfigFile);
  const { stdout } = await run(
    'helm',
    [
      'template',
      'agent',
      chartDir,
      '--namespace',
      options.namespace,
      ...options.sets.flatMap((set) => ['--set', set]),
      ...options.templates.flatMap((t) => ['--show-only', `templates/${t}`]),
    ],
    { env: helm },
  );
  const file = join(tempDir('chart-objects-'), 'objects.yaml');
  writeFileSync(file, stdout);
  await run('kubectl', ['apply', '-f', file], { env: helm });
}

/**
 * Creates the chart's ServiceAccounts, Roles and RoleBindings (in `namespace` and in each
 * target namespace) as `helm template` renders them. Returns a kubeconfig that authenticates
 * with a token of the agent's account, and the name of the account build pods run as.
 */
export async function chartAgentKubeConfig(
  admin: KubeConfig,
  kubeconfigFile: string,
  namespace: string,
  targetNamespaces: string[] = [],
): Promise<{ kubeConfig: KubeConfig; buildServiceAccount: string }> {
  const { stdout } = await run(
    'helm',
    [
      'template',
      'agent',
      chartDir,
      '--namespace',
      namespace,
      ...targetNamespaces.flatMap((ns, i) => ['--set', `additionalTargetNamespaces[${i}]=${ns}`]),
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
    ],
    { env: await helmEnv(kubeconfigFile) },
  );
  type Doc = { kind: string; metadata: { name: string; namespace?: string } };
  const docs = parseAllDocuments(stdout)
    .map((doc) => doc.toJSON() as Doc | null)
    .filter((doc): doc is Doc => doc !== null);
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  let account = '';
  const accounts: string[] = [];
  for (const doc of docs) {
    const ns = doc.metadata.namespace ?? namespace;
    if (doc.kind === 'ServiceAccount') {
      accounts.push(doc.metadata.name);
      await core.createNamespacedServiceAccount({ namespace: ns, body: doc });
    } else if (doc.kind === 'Role') {
      await rbac.createNamespacedRole({ namespace: ns, body: doc });
    } else if (doc.kind === 'RoleBinding') {
      const binding = doc as unknown as V1RoleBinding;
      // The agent's account is the one the chart binds its Roles to (the other is for builds).
      account = binding.subjects![0]!.name;
      await rbac.createNamespacedRoleBinding({ namespace: ns, body: binding });
    } else {
      throw new Error(`unexpected ${doc.kind} in the chart's RBAC templates`);
    }
  }
  const buildServiceAccount = accounts.find((name) => name !== account);
  if (!buildServiceAccount) throw new Error('the chart rendered no build ServiceAccount');
  return {
    kubeConfig: await serviceAccountKubeConfig(admin, namespace, account, 3600),
    buildServiceAccount,
  };
}

/** Plays the Job controller: the run Job's pod ended. */
export async function endRunJob(
  batch: BatchV1Api,
  job: LaunchJob,
  outcome: 'Complete' | 'Failed',
): Promise<void> {
  const name = job.status!.runJobName!;
  const namespace = job.status!.runJobNamespace ?? job.metadata.namespace!;
  const current = await batch.readNamespacedJob({ name, namespace });
  const now = new Date();
  const conditions =
    outcome === 'Complete'
      ? [
          {
            type: 'SuccessCriteriaMet',
            status: 'True',
            lastTransitionTime: now,
          },
          { type: 'Complete', status: 'True', lastTransitionTime: now },
        ]
      : ['FailureTarget', 'Failed'].map((type) => ({
          type,
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
          lastTransitionTime: now,
        }));
  current.status = {
    startTime: now,
    ...(outcome === 'Complete' ? { completionTime: now, succeeded: 1 } : { failed: 1 }),
    conditions,
  };
  await batch.replaceNamespacedJobStatus({ name, namespace, body: current });
}

/** Runs the launch-agent command in-process against `kubeconfig`, capturing its output. */
export function runCliWith(
  args: string[],
  kubeconfig: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { KUBECONFIG: kubeconfig });
}
