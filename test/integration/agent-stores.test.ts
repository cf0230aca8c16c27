// The agent building contexts that `launch-agent submit` put in each object store (moto S3,
// fake-gcs-server, Azurite), with the docker builder (podman) and with the kaniko builder: one
// build per sweep, and a job whose context is missing from its store. LaunchJobs and run Jobs
// live in a tenant namespace the agent serves, build Jobs in the agent's own. The agent acts as
// the chart's ServiceAccount (agent-stores-testbed.ts); its retention is in agent-retention.test.ts.
//
// The test environment has no kubelet and no controller-manager. THE TEST PLAYS THE KUBELET for
// kaniko build Jobs (playKubelet: it reads the context kaniko would read, creates the pod and
// reports a digest), as described in kaniko-kubelet.ts.
import { buffer } from 'node:stream/consumers';
import { selectContextStore, type LaunchJob } from '@launch-agent/runtime';
import { configFile, sourceDir, waitFor } from './agent-harness.js';
import {
  adminJobs,
  agentNamespace,
  batch,
  bucket,
  buildJobs,
  buildServiceAccount,
  core,
  env,
  kubernetesConfig,
  namespace,
  phaseIs,
  startAgent,
  storeUri,
  stores,
  submit,
  useStoresTestbed,
} from './agent-stores-testbed.js';
import { playKubelet } from './kaniko-kubelet.js';
import { uniqueName } from './testenv.js';

const DIGEST = `sha256:${'fedcba9876543210'.repeat(4)}`;

useStoresTestbed();

describe('the agent builds contexts submitted to an object store', () => {
  it.each([
    ['s3', 'docker'],
    ['gcs', 'kaniko'],
    ['azure', 'kaniko'],
  ] as Array<[keyof typeof stores, 'docker' | 'kaniko']>)(
    '%s store, %s builder: submit uploads, the agent downloads, builds and runs it',
    async (store, builder) => {
      const queue = `${store}-${builder}`;
      const repository = `${env.registry}/agent-stores/${queue}`;
      const { path, settings } = configFile([
        `queues: [${queue}]`,
        'builder:',
        `  type: ${builder}`,
        `  destination: ${repository}`,
        `  build-context-store: ${storeUri(store)}`,
        kubernetesConfig(`build-service-account: ${buildServiceAccount}`),
      ]);
      const source = sourceDir(uniqueName(queue));
      const submitted = await submit(path, source, queue, ['--', '/src/main.txt']);
      const key = submitted.spec.source.context!.key;
      expect(await stores[store].exists(key)).toBe(true);

      await startAgent(settings);
      let kaniko: Awaited<ReturnType<typeof playKubelet>> | undefined;
      if (builder === 'kaniko') {
        kaniko = await playKubelet({
          batch,
          core,
          namespace: agentNamespace,
          ending: { kind: 'complete' },
          digest: DIGEST,
          // What kaniko would read: the context the kaniko builder uploaded for its Job.
          readContext: async (objectKey) =>
            buffer(await (await selectContextStore(settings))!.open(objectKey)),
        });
      }
      const running = await phaseIs(submitted.metadata.name!, 'Running', 120_000);
      expect(running.status).toMatchObject({
        imageStatus: 'built',
        image: expect.stringMatching(new RegExp(`^${repository}:[0-9a-f]{32,}$`)),
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      });
      const runJob = await batch.readNamespacedJob({
        name: running.status!.runJobName!,
        namespace,
      });
      expect(runJob.spec!.template.spec!.containers[0]).toMatchObject({
        // By digest; the tag stays in the reference for people.
        image: `${running.status!.image}@${running.status!.digest}`,
        args: ['/src/main.txt'],
      });
      if (kaniko) {
        // The build pod got the same files submit packed, re-sent by the kaniko builder.
        expect([...kaniko.context.keys()].sort()).toEqual(['Dockerfile', 'src/main.txt']);
        expect(running.status!.digest).toBe(DIGEST);
        const kanikoKey = kaniko.job.metadata!.annotations!['launch-agent.dev/context-key']!;
        // Its own upload is gone once the build is over; the submitted context stays.
        await waitFor(
          'the kaniko context to be deleted',
          () => stores[store].exists(kanikoKey),
          (e) => !e,
        );
        await waitFor('the build Job to be deleted', buildJobs, (jobs) => jobs.length === 0);
      }
      expect(await stores[store].exists(key)).toBe(true);
    },
    180_000,
  );

  it('jobs of one sweep (same context, Dockerfile and args) share one build', async () => {
    const queue = 'sweep';
    const repository = `${env.registry}/agent-stores/sweep`;
    const { path, settings } = configFile([
      `queues: [${queue}]`,
      'max_jobs: 4',
      'builder:',
      '  type: docker',
      `  destination: ${repository}`,
      `  build-context-store: ${storeUri('s3')}`,
      kubernetesConfig(),
    ]);
    const source = sourceDir(uniqueName(queue));
    const jobs: LaunchJob[] = [];
    for (let i = 0; i < 4; i++) {
      jobs.push(await submit(path, source, queue, ['--', '/src/main.txt', `--lr=0.${i}`]));
    }
    const agent = await startAgent(settings);
    const running = await Promise.all(
      jobs.map((job) => phaseIs(job.metadata.name!, 'Running', 120_000)),
    );
    expect(new Set(running.map((job) => job.status!.image)).size).toBe(1);
    expect(running.map((job) => job.status!.imageStatus).sort()).toEqual([
      'built',
      'reused',
      'reused',
      'reused',
    ]);
    const metrics = await agent.metrics.render();
    expect(metrics).toContain('launch_agent_images_total{result="built"} 1\n');
    expect(metrics).toContain('launch_agent_build_duration_seconds_count 1\n');
  }, 180_000);

  it('fails a job whose context is not in the store, saying which object', async () => {
    const queue = 'missing-context';
    const { settings } = configFile([
      `queues: [${queue}]`,
      'builder:',
      '  type: docker',
      `  destination: ${env.registry}/agent-stores/missing`,
      `  build-context-store: ${storeUri('s3')}`,
      kubernetesConfig(),
    ]);
    await startAgent(settings);
    const job = await adminJobs.create(
      namespace,
      { name: uniqueName('lj') },
      {
        queue,
        source: { context: { key: 'contexts/0000.tar.gz', digest: `sha256:${'0'.repeat(64)}` } },
      },
    );
    const failed = await phaseIs(job.metadata.name!, 'Failed');
    expect(failed.status!.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Failed', reason: 'BuildContextNotFound' }),
      ]),
    );
    expect(failed.status!.message).toContain(`s3://${bucket}/launch/contexts/0000.tar.gz`);
  }, 60_000);
});
