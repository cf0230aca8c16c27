// A kaniko build log with a 64 MiB line and no newline, read by the real agent (`launch-agent
// start`, in-process, its /healthz on a port of its own) the way it reads every kaniko log: from
// the kube-apiserver of scripts/testenv, `pods/{name}/log?follow=true`. The test environment has
// no kubelet, so this test plays the kubelet's part for one node: a Node object whose address is
// 127.0.0.1 and whose kubelet port is an HTTPS server of the test's own, which answers the API
// server's /containerLogs request (the API server proxies to it as it would to a kubelet). The
// test also plays the Job controller: the build Job's pod, its running and failed states.
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { LaunchJobClient } from '@launch-agent/runtime';
import {
  BUILD_ID_LABEL,
  MANAGED_BY_LABEL,
} from '../../packages/runtime/src/builders/kaniko/kaniko-job-spec.js';
import { cutMarker, MAX_LOG_LINE_CHARS } from '../../packages/runtime/src/builders/log-lines.js';
import { startGitDaemon, type GitDaemon } from '../../packages/runtime/test/git-daemon.js';
import { loopbackCertificate } from '../../packages/runtime/test/loopback-tls.js';
import {
  applyLaunchJobCrd,
  namespacesWithChartRbac,
  removeTempDirs,
  tempDir,
  waitFor,
} from './agent-harness.js';
import { startAgentCommand } from './agent-command.js';
import { requireServices, uniqueName, type TestEnv } from './testenv.js';

const LINE_BYTES = 64 * 1024 * 1024;
/** How long /healthz may take to answer while the line is read. */
const ANSWER_WITHIN_MS = 2000;

let env: TestEnv;
let admin: KubeConfig;
let agentKubeConfig: KubeConfig;
let buildServiceAccount: string;
let namespace: string;
/** The tenant namespace the agent serves: the LaunchJob lives there; the build runs in `namespace`. */
let tenant: string;
let nodeName: string;
let kubelet: Server;
let daemon: GitDaemon;
const kubeletLog = { requests: [] as string[], sent: 0, done: false };

function httpGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, timeout: 30_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

/** Writes the kaniko log: a line, 64 MiB without a newline, then the error kaniko prints. */
async function writeHugeLog(res: NodeJS.WritableStream): Promise<void> {
  const piece = Buffer.alloc(64 * 1024, 'x'.charCodeAt(0));
  const write = (data: Buffer | string) =>
    new Promise<void>((resolve) => {
      if (res.write(data)) resolve();
      else res.once('drain', () => resolve());
    });
  await write('INFO[0000] Retrieving image manifest scratch\n');
  for (let sent = 0; sent < LINE_BYTES; sent += piece.length) {
    await write(piece);
    kubeletLog.sent = sent + piece.length;
  }
  await write('\nerror building image: the step printed too much\n');
  kubeletLog.done = true;
  res.end();
}

beforeAll(async () => {
  env = await requireServices('kubernetes', 'registry');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  await applyLaunchJobCrd(admin);
  namespace = uniqueName('buildlog-ns');
  tenant = uniqueName('buildlog-team');
  const core = admin.makeApiClient(CoreV1Api);
  ({ kubeConfig: agentKubeConfig, buildServiceAccount } = await namespacesWithChartRbac(
    admin,
    env.kubeconfig,
    { agentNamespace: namespace, tenants: [tenant] },
  ));

  const certDir = tempDir('fake-kubelet-');
  const certificate = loopbackCertificate(certDir);
  kubelet = createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    kubeletLog.requests.push(req.url!);
    if (!req.url!.startsWith('/containerLogs/')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    void writeHugeLog(res);
  });
  await new Promise<void>((resolve) => kubelet.listen(0, '127.0.0.1', resolve));
  const port = (kubelet.address() as { port: number }).port;
  nodeName = uniqueName('fake-kubelet');
  await core.createNode({ body: { metadata: { name: nodeName } } });
  const node = await core.readNode({ name: nodeName });
  node.status = {
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
    daemonEndpoints: { kubeletEndpoint: { Port: port } },
    conditions: [{ type: 'Ready', status: 'True' }],
  };
  await core.replaceNodeStatus({ name: nodeName, body: node });
  daemon = await startGitDaemon();
}, 120_000);

afterAll(async () => {
  kubelet?.closeAllConnections();
  kubelet?.close();
  await daemon?.stop();
  const core = admin.makeApiClient(CoreV1Api);
  if (nodeName) await core.deleteNode({ name: nodeName }).catch(() => undefined);
  if (namespace) await core.deleteNamespace({ name: namespace });
  if (tenant) await core.deleteNamespace({ name: tenant }).catch(() => undefined);
  removeTempDirs();
});

/** The Job controller's part: the build Job's pod on the fake node, its kaniko container running. */
async function runBuildPod(): Promise<{ job: V1Job; pod: string }> {
  const batch = admin.makeApiClient(BatchV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  const job = await waitFor(
    'the build Job',
    async () =>
      (
        await batch.listNamespacedJob({
          namespace,
          labelSelector: `${MANAGED_BY_LABEL}=launch-agent,${BUILD_ID_LABEL}`,
        })
      ).items[0],
    (j) => j !== undefined,
    60_000,
  );
  const name = job!.metadata!.name!;
  const template = job!.spec!.template;
  const pod = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name: `${name}-abcde`,
        labels: { ...template.metadata!.labels, 'batch.kubernetes.io/job-name': name },
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid: job!.metadata!.uid!, controller: true },
        ],
      },
      spec: { ...template.spec!, nodeName },
    },
  });
  pod.status = {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'kaniko',
        image: template.spec!.containers[0]!.image!,
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: new Date() } },
      },
    ],
  };
  await core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace, body: pod });
  return { job: job!, pod: pod.metadata!.name! };
}

/** The kubelet's and the Job controller's part at the end: the container failed, so did the Job. */
async function failBuild(job: V1Job, podName: string): Promise<void> {
  const batch = admin.makeApiClient(BatchV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: podName, namespace });
  const now = new Date();
  pod.status = {
    phase: 'Failed',
    containerStatuses: [
      {
        ...pod.status!.containerStatuses![0]!,
        ready: false,
        state: { terminated: { exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now } },
      },
    ],
  };
  await core.replaceNamespacedPodStatus({ name: podName, namespace, body: pod });
  const fresh = await batch.readNamespacedJob({ name: job.metadata!.name!, namespace });
  fresh.status = {
    startTime: now,
    failed: 1,
    conditions: ['FailureTarget', 'Failed'].map((type) => ({
      type,
      status: 'True',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit',
      lastTransitionTime: now,
      lastProbeTime: now,
    })),
  };
  await batch.replaceNamespacedJobStatus({ name: job.metadata!.name!, namespace, body: fresh });
}

describe('a kaniko build log with a 64 MiB line', () => {
  it('leaves the agent answering /healthz within 2 s while it reads the line, and keeps 8 KiB of it', async () => {
    const queue = 'huge-log-line';
    const dir = tempDir('buildlog-agent-');
    const kubeconfigFile = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigFile, agentKubeConfig.exportConfig(), { mode: 0o600 });
    const configFile = join(dir, 'launch-config.yaml');
    writeFileSync(
      configFile,
      [
        `queues: [${queue}]`,
        'builder:',
        '  type: kaniko',
        `  destination: ${env.registry}/agent-it/${uniqueName('log')}`,
        '  build-context-store: pvc://contexts/builds',
        `  context-pvc-mount-path: ${tempDir('buildlog-pvc-')}`,
        'kubernetes:',
        `  build-service-account: ${buildServiceAccount}`,
        `  target-namespaces: [${tenant}]`,
        'launchjobs:',
        '  git-sources: {hosts: [127.0.0.1], schemes: [git]}',
        '',
      ].join('\n'),
    );
    const agent = await startAgentCommand({
      configFile,
      kubeconfigFile,
      namespace,
      identity: 'log-agent',
    });
    try {
      const { port } = agent;
      const url = daemon.makeRepo(uniqueName('log-src'), (src) =>
        writeFileSync(join(src, 'Dockerfile'), `FROM scratch\nLABEL marker=${uniqueName('m')}\n`),
      );
      const jobs = new LaunchJobClient(admin);
      const launchJob = await jobs.create(
        tenant,
        { name: uniqueName('lj') },
        { queue, source: { git: { url } } },
      );
      const { job, pod } = await runBuildPod();

      // While the log is streamed: /healthz, asked every 100 ms, answers each time within 2 s.
      let slowest = 0;
      let answers = 0;
      const unanswered: string[] = [];
      const deadline = Date.now() + 120_000;
      while (!kubeletLog.done && Date.now() < deadline) {
        const asked = performance.now();
        const status = await httpGet(port, '/healthz').catch((e: Error) => e.message);
        slowest = Math.max(slowest, performance.now() - asked);
        if (status !== 200) unanswered.push(String(status));
        answers += 1;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(slowest).toBeLessThan(ANSWER_WITHIN_MS);
      expect(unanswered).toEqual([]);
      expect(kubeletLog.done).toBe(true);
      expect(
        kubeletLog.requests.some((u) => u.startsWith(`/containerLogs/${namespace}/${pod}/kaniko`)),
      ).toBe(true);
      expect(answers).toBeGreaterThan(3);
      expect(slowest).toBeLessThan(ANSWER_WITHIN_MS);

      await failBuild(job, pod);
      const failed = await waitFor(
        `${launchJob.metadata.name} to fail`,
        () => jobs.get(tenant, launchJob.metadata.name!),
        (j) => j.status?.phase === 'Failed',
        60_000,
      );
      const condition = failed.status!.conditions!.find((c) => c.type === 'Failed')!;
      expect(condition.reason).toBe('BuildFailed');
      // The failure keeps the log's tail: the line cut to 8 KiB with its marker, and the last line.
      expect(condition.message).toContain(
        'failed: Error: Job has reached the specified backoff limit',
      );
      expect(condition.message).toContain(cutMarker(LINE_BYTES - MAX_LOG_LINE_CHARS));
      expect(condition.message).toMatch(/error building image: the step printed too much$/);
      expect(condition.message!.length).toBeLessThanOrEqual(4000);
      // Nothing the agent logged holds the line whole.
      expect(
        Math.max(
          ...agent
            .log()
            .split('\n')
            .map((l) => l.length),
        ),
      ).toBeLessThan(64 * 1024);

      expect(await agent.stop()).toBe(0);
    } finally {
      await agent.stop();
    }
  }, 240_000);
});
