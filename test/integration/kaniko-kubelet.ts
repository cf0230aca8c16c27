// Plays the Job controller and the kubelet for kaniko build Jobs in a test environment that has
// neither: the build pod is created from the Job's template, its kaniko init container is given
// an end (OOMKilled, Error, a deadline or an image pull that never succeeds, or success, after
// which the push container reports `<ref>@<digest>` in its termination message), and the Job's
// conditions are written as the controller would write them.
import * as k8s from '@kubernetes/client-node';
import { parseDestination } from '@launch-agent/config';
import { gunzipSync } from 'node:zlib';
import {
  BUILD_ID_LABEL,
  BUILD_JOB_LABEL,
  MANAGED_BY_LABEL,
} from '../../packages/runtime/src/builders/kaniko/kaniko-job-spec.js';
import { EcrRegistry } from '../../packages/runtime/src/registries/ecr-registry.js';
import {
  RegistryCredentials,
  type Registry,
} from '../../packages/runtime/src/registries/registry.js';

/**
 * What the uploaded tar.gz holds: regular files and their bytes. A plain ustar reader, so the
 * check does not share code with the writer: 512-byte headers, octal sizes, zero blocks at the end.
 */
export function untar(gz: Buffer): Map<string, { mode: number; bytes: Buffer }> {
  const data = gunzipSync(gz);
  const files = new Map<string, { mode: number; bytes: Buffer }>();
  const field = (block: Buffer, start: number, length: number) =>
    block
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  let offset = 0;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = field(header, 156, 1) || '0';
    const mode = parseInt(field(header, 100, 8).trim() || '0', 8);
    const body = data.subarray(offset + 512, offset + 512 + size);
    if (type === '0') files.set(name, { mode, bytes: Buffer.from(body) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

export type Ending =
  | { kind: 'complete'; nodeName?: string }
  | { kind: 'oom' }
  | { kind: 'error' }
  | { kind: 'deadline' }
  | { kind: 'image-pull' };

export interface Seen {
  job: k8s.V1Job;
  /** The per-build push credential Secrets the builder created for the Job. */
  secrets: k8s.V1Secret[];
  context: Map<string, { mode: number; bytes: Buffer }>;
}

export async function until<T>(what: string, get: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Plays the Job controller and kubelet for the one build Job that appears in the namespace.
 * `readContext` fetches the uploaded object by the key the Job's annotation names.
 */
export async function playKubelet(options: {
  batch: k8s.BatchV1Api;
  core: k8s.CoreV1Api;
  namespace: string;
  ending: Ending;
  /** What a completed build reports as the pushed digest. */
  digest: string;
  readContext: (key: string) => Promise<Buffer>;
}): Promise<Seen> {
  const { batch, core, namespace: ns, ending, digest, readContext } = options;
  const job = await until('the build Job', async () => {
    const jobs = await batch.listNamespacedJob({
      namespace: ns,
      // Build Jobs only: run Jobs the agent creates carry the same managed-by label.
      labelSelector: `${MANAGED_BY_LABEL}=launch-agent,${BUILD_ID_LABEL}`,
    });
    return jobs.items[0];
  });
  const name = job.metadata!.name!;
  const wanted = (job.spec!.template.spec!.volumes ?? []).filter(
    (v) => v.secret?.secretName === `${name}-push`,
  ).length;
  const secrets = await until('its push credential Secret', async () => {
    const list = await core.listNamespacedSecret({
      namespace: ns,
      labelSelector: `${BUILD_JOB_LABEL}=${name}`,
    });
    return list.items.length >= wanted ? list.items : undefined;
  });
  const context = await untar(
    await readContext(job.metadata!.annotations!['launch-agent.dev/context-key']!),
  );

  // The Job controller's part: the pod from the template, owned by the Job.
  const template = job.spec!.template;
  const pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: `${name}-abcde`,
        labels: { ...template.metadata!.labels, 'batch.kubernetes.io/job-name': name },
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata!.uid!, controller: true },
        ],
      },
      spec: {
        ...template.spec!,
        ...(ending.kind === 'complete' && ending.nodeName ? { nodeName: ending.nodeName } : {}),
      },
    },
  });
  const status = (container: k8s.V1Container, state: k8s.V1ContainerState) => ({
    name: container.name,
    image: container.image!,
    imageID: '',
    ready: false,
    restartCount: 0,
    state,
  });
  const kaniko = template.spec!.initContainers!.find((c) => c.name === 'kaniko')!;
  const push = template.spec!.containers.find((c) => c.name === 'push')!;
  // The kubelet's part: the container's end (or a wait that never ends).
  const now = new Date();
  const states: Record<Ending['kind'], k8s.V1ContainerState> = {
    complete: {
      terminated: {
        exitCode: 0,
        reason: 'Completed',
        // kaniko's --digest-file, deliberately not the pushed digest: the builder must read the
        // push step's line, the digest the registry got.
        message: `sha256:${'f'.repeat(64)}\n`,
        startedAt: now,
        finishedAt: now,
      },
    },
    oom: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: now, finishedAt: now } },
    error: {
      terminated: {
        exitCode: 1,
        reason: 'Error',
        // FallbackToLogsOnError: the log's tail becomes the termination message.
        message: 'INFO Unpacking rootfs\nerror building image: RUN pip install nope: exit status 1',
        startedAt: now,
        finishedAt: now,
      },
    },
    deadline: { running: { startedAt: now } },
    'image-pull': {
      waiting: {
        reason: 'ImagePullBackOff',
        message: 'Back-off pulling image "ghcr.io/x/kaniko:v0"',
      },
    },
  };
  pod.status = {
    phase:
      ending.kind === 'complete'
        ? 'Succeeded'
        : ending.kind === 'deadline' || ending.kind === 'image-pull'
          ? 'Pending'
          : 'Failed',
    initContainerStatuses: [status(kaniko, states[ending.kind])],
    containerStatuses: [
      status(
        push,
        ending.kind === 'complete'
          ? {
              terminated: {
                exitCode: 0,
                reason: 'Completed',
                message: `${push.args![2]}@${digest}`,
                startedAt: now,
                finishedAt: now,
              },
            }
          : { waiting: { reason: 'PodInitializing' } },
      ),
    ],
  };
  await core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: pod });

  // The Job controller's part again: the Job's conditions.
  if (ending.kind !== 'image-pull') {
    const fresh = await batch.readNamespacedJob({ name, namespace: ns });
    const t = new Date();
    fresh.status =
      ending.kind === 'complete'
        ? {
            startTime: t,
            completionTime: t,
            succeeded: 1,
            conditions: [
              {
                type: 'SuccessCriteriaMet',
                status: 'True',
                lastTransitionTime: t,
                lastProbeTime: t,
              },
              { type: 'Complete', status: 'True', lastTransitionTime: t, lastProbeTime: t },
            ],
          }
        : {
            startTime: t,
            failed: 1,
            // The controller marks FailureTarget first, then Failed, with the same reason.
            conditions: ['FailureTarget', 'Failed'].map((type) => ({
              type,
              status: 'True',
              reason: ending.kind === 'deadline' ? 'DeadlineExceeded' : 'BackoffLimitExceeded',
              message:
                ending.kind === 'deadline'
                  ? 'Job was active longer than specified deadline'
                  : 'Job has reached the specified backoff limit',
              lastTransitionTime: t,
              lastProbeTime: t,
            })),
          };
    await batch.replaceNamespacedJobStatus({ name, namespace: ns, body: fresh });
  }
  return { job, secrets, context };
}

/** The build step (init container) or the push step of a build Job. */
function containerNamed(job: k8s.V1Job, name: 'kaniko' | 'push'): k8s.V1Container {
  const spec = job.spec!.template.spec!;
  return [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === name)!;
}

/** Never asked whether the image exists: the digest comes from the pod status. */
export function registryFor(destination: string): Registry {
  const host = destination.split('/')[0]!;
  const neverAsked = async () => {
    throw new Error('the registry must not be asked: the digest comes from the pod status');
  };
  if (host.includes('.dkr.ecr.')) {
    const ecr = new EcrRegistry(parseDestination(destination).value!);
    return { exists: neverAsked, credentials: () => ecr.credentials() } as unknown as Registry;
  }
  const credentials = host.endsWith('.azurecr.io')
    ? RegistryCredentials.password(host, '00000000-0000-0000-0000-000000000000', 'acr-refresh')
    : host.endsWith('-docker.pkg.dev')
      ? RegistryCredentials.password(host, 'oauth2accesstoken', 'ya29.access')
      : undefined;
  return { exists: neverAsked, credentials: async () => credentials } as unknown as Registry;
}

/** The `auths` of the one per-build Secret, decoded, and checks that only the push step mounts it. */
export function pushAuths(job: k8s.V1Job, secrets: k8s.V1Secret[]) {
  expect(secrets).toHaveLength(1);
  const secret = secrets[0]!;
  expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
  expect(secret.metadata!.ownerReferences![0]).toMatchObject({
    kind: 'Job',
    name: job.metadata!.name,
  });
  const volume = job.spec!.template.spec!.volumes!.find(
    (v) => v.secret?.secretName === secret.metadata!.name,
  )!;
  expect(containerNamed(job, 'push').volumeMounts!.map((m) => m.name)).toContain(volume.name);
  expect(containerNamed(job, 'kaniko').volumeMounts!.map((m) => m.name)).not.toContain(volume.name);
  const config = JSON.parse(
    Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8'),
  ) as { auths: Record<string, { auth: string }> };
  return Object.fromEntries(
    Object.entries(config.auths).map(([host, { auth }]) => [
      host,
      Buffer.from(auth, 'base64').toString('utf8'),
    ]),
  );
}
