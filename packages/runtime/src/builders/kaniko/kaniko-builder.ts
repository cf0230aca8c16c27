import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { TextDecoder } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { BuilderSettings, ContextStore } from '@launch-agent/config';
import { createContextTar } from '../../context/tar.js';
import { parallelGzip, type ParallelGzipOptions } from '../../context/parallel-gzip.js';
import {
  apiStatus,
  deleteIgnoringMissing,
  isConflict,
  isNotFound,
} from '../../kubernetes/kube-client.js';
import { kubeJsonRequest, withQuery } from '../../kubernetes/raw-request.js';
import type { BuildContextStore } from '../../storage/context-store.js';
import {
  BuildFailedError,
  PushFailedError,
  type Builder,
  type BuildRequest,
  type BuildResult,
  type ProgressReporter,
} from '../builder.js';
import { BoundedTail, LineSplitter, splitChunk } from '../log-lines.js';
import {
  failedContainerStatus,
  followBuildJob,
  kanikoContainerStatus,
  pushContainerStatus,
} from './job-watch.js';
import { buildKanikoJob, buildSuffix, kanikoJobName, pushSecretName } from './kaniko-job-spec.js';

/** crane's `--image-refs` line: `<ref>@sha256:<hex>`. */
const PUSHED_DIGEST = /@(sha256:[a-f0-9]{64})\s*$/;
/** Prefix of every build log line in the agent's log. */
export const KANIKO_LOG_PREFIX = '[kaniko] ';

export interface KanikoBuilderOptions {
  kubeConfig: k8s.KubeConfig;
  /** The agent's namespace: the Job and its push credential Secret go here. */
  namespace: string;
  settings: Pick<
    BuilderSettings,
    | 'buildJobName'
    | 'buildTimeoutSeconds'
    | 'kanikoImage'
    | 'kanikoPushImage'
    | 'kanikoConfig'
    | 'kanikoCache'
    | 'credentialsSecret'
    | 'dockerConfigSecret'
    | 'pullDockerConfigSecret'
    | 'azureStorageSecret'
  >;
  /** builder.build-context-store, parsed. */
  storeConfig: ContextStore;
  store: BuildContextStore;
  /** kubernetes.build-service-account (else the agent's, as the reference does). */
  serviceAccountName?: string;
  region?: string;
  gzip?: ParallelGzipOptions;
  /** Seconds the agent waits past activeDeadlineSeconds before giving up itself. Default 60. */
  deadlineGraceSeconds?: number;
}

/**
 * Keeps the last lines of the kaniko log, and forwards each complete line with a prefix. Lines
 * and the tail are capped (log-lines.ts): the log is written by the job's Dockerfile.
 */
class LogTail {
  readonly tail = new BoundedTail();
  readonly splitter: LineSplitter;
  constructor(private readonly progress: ProgressReporter) {
    this.splitter = new LineSplitter((line) => this.line(line));
  }
  end(): void {
    this.splitter.end();
  }
  private line(line: string): void {
    this.progress.output(`${KANIKO_LOG_PREFIX}${line}\n`);
    this.tail.push(line);
  }
}

/**
 * Builds with kaniko in a Kubernetes Job: streams the context as tar.gz into the build-context
 * store, mints push credentials for this build, creates the Job (kaniko builds to a tarball,
 * a separate push container pushes it) and the per-build Secret only the push container mounts,
 * follows Job and pod through watches, streams the logs when a kubelet serves them, reads the
 * pushed digest from the push container's termination message, and always removes the Job,
 * the Secret and the context.
 */
export class KanikoBuilder implements Builder {
  readonly name = 'kaniko';
  constructor(private readonly options: KanikoBuilderOptions) {}

  /** `/apis/batch/v1/namespaces/<ns>/jobs[/name]` and the like, in the builder's namespace. */
  private path(collection: 'jobs' | 'secrets', name?: string): string {
    const base =
      collection === 'jobs'
        ? `/apis/batch/v1/namespaces/${this.options.namespace}/jobs`
        : `/api/v1/namespaces/${this.options.namespace}/secrets`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async build(request: BuildRequest): Promise<BuildResult> {
    const { plan, progress, imageReference, tag } = request;
    const { namespace, store, settings } = this.options;
    const suffix = buildSuffix(tag, request.buildId ?? randomBytes(8).toString('hex'));
    const jobName = kanikoJobName(settings.buildJobName, suffix);
    // The object name carries the full source hash; the suffix keeps concurrent builds apart.
    const contextKey = `${plan.sourceHash}-${suffix}.tar.gz`;
    const started = performance.now();
    let uploaded = false;
    let jobCreated = false;
    const secretNames: string[] = [];
    const stopLogs: Array<() => void> = [];
    let deadlineSeconds = settings.buildTimeoutSeconds;
    try {
      // A build with this id may be under way already (started by this agent before an outage
      // or a restart, or by the agent that held the job before): follow it, never start a second.
      const existing = request.buildId ? await this.readJob(jobName) : undefined;
      if (existing) {
        progress.phase(
          'build',
          `following the kaniko Job ${namespace}/${jobName} already under way`,
        );
        uploaded = true;
        jobCreated = true;
        secretNames.push(pushSecretName(jobName));
      } else {
        // Minted before the upload, so a missing identity fails the build before any work. The
        // user's docker-config-secret, when set, is mounted instead and nothing is minted.
        const pushCredentials = settings.dockerConfigSecret
          ? undefined
          : await request.registry.credentials();
        progress.phase('upload', store.uri(contextKey));
        uploaded = true; // a failed upload may leave a partial object: delete it too
        const dockerfileName = await this.upload(request, contextKey);
        const spec = buildKanikoJob({
          jobName,
          namespace,
          settings,
          destination: request.destination,
          store: this.options.storeConfig,
          imageReference,
          tag,
          sourceHash: plan.sourceHash,
          contextKey,
          contextUri: store.uri(contextKey),
          dockerfile: dockerfileName,
          buildArgs: plan.buildArgs,
          labels: plan.labels,
          ...(plan.target ? { target: plan.target } : {}),
          ...(plan.platform ? { platform: plan.platform } : {}),
          ...(this.options.serviceAccountName
            ? { serviceAccountName: this.options.serviceAccountName }
            : {}),
          ...(this.options.region ? { region: this.options.region } : {}),
          ...(pushCredentials ? { pushCredentials } : {}),
        });
        progress.phase('build', `kaniko Job ${namespace}/${jobName}`);
        jobCreated = await this.createJob(spec, jobName);
        secretNames.push(...spec.secrets.map((secret) => secret.metadata!.name!));
        deadlineSeconds = spec.job.spec!.activeDeadlineSeconds ?? deadlineSeconds;
      }

      const tail = new LogTail(progress);
      const streamed = new Set<string>();
      const outcome = await followBuildJob({
        kubeConfig: this.options.kubeConfig,
        namespace,
        jobName,
        deadlineSeconds,
        ...(this.options.deadlineGraceSeconds !== undefined
          ? { graceSeconds: this.options.deadlineGraceSeconds }
          : {}),
        ...(request.signal ? { signal: request.signal } : {}),
        onPod: (pod) => {
          const name = pod.metadata?.name;
          if (!name || !pod.spec?.nodeName) return; // no kubelet serves logs for an unscheduled pod
          // The build's log, then the push step's, each once it has started.
          for (const status of [kanikoContainerStatus(pod), pushContainerStatus(pod)]) {
            const key = `${name}/${status?.name}`;
            if (!status || streamed.has(key)) continue;
            if (!(status.state?.running || status.state?.terminated)) continue;
            streamed.add(key);
            stopLogs.push(this.streamLogs(name, status.name, tail));
          }
        },
      });
      for (const stop of stopLogs) stop();
      tail.end();
      const buildMs = performance.now() - started;

      if (outcome.status === 'failed') {
        const message = failedContainerStatus(outcome.pod)?.state?.terminated?.message?.trim();
        const lines = tail.tail.lines.length > 0 ? tail.tail.text() : (message ?? '');
        throw new BuildFailedError(
          `the kaniko build Job ${namespace}/${jobName} failed: ${outcome.reason}: ${outcome.message}`,
          lines,
        );
      }
      const pushed = pushContainerStatus(outcome.pod)?.state?.terminated;
      let digest = PUSHED_DIGEST.exec(pushed?.message ?? '')?.[1];
      if (!digest) {
        // No termination message (pod already gone, or a kaniko-config that moved it): ask the registry.
        const found = await request.registry.exists(tag);
        if (!found.exists) {
          throw new PushFailedError(
            `the kaniko Job ${namespace}/${jobName} completed but ${imageReference} is not in the registry`,
            'Check the build log and that the push credentials may push to the destination',
          );
        }
        digest = found.digest;
      }
      if (!digest) {
        throw new PushFailedError(
          `no digest was reported for ${imageReference}`,
          'Check the push container log (crane --image-refs) and the registry',
        );
      }
      const pushMs =
        pushed?.startedAt && pushed.finishedAt
          ? Math.max(
              0,
              Date.parse(String(pushed.finishedAt)) - Date.parse(String(pushed.startedAt)),
            )
          : 0;
      return { digest, buildMs, pushMs };
    } finally {
      for (const stop of stopLogs) stop();
      await this.cleanUp(progress, {
        jobName: jobCreated ? jobName : undefined,
        secretNames,
        contextKey: uploaded ? contextKey : undefined,
      });
    }
  }

  /** The build Job by name, or undefined when there is none. */
  private async readJob(name: string): Promise<k8s.V1Job | undefined> {
    const { namespace } = this.options;
    try {
      return (await kubeJsonRequest(
        this.options.kubeConfig,
        'GET',
        this.path('jobs', name),
      )) as k8s.V1Job;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubernetesError(error, `read the kaniko Job ${namespace}/${name}`, 'get batch/jobs');
    }
  }

  /**
   * Creates the Job and the push credential Secret it mounts. A 409 means a Job of this name appeared since
   * it was looked for (the same build started elsewhere): it is followed like one found before.
   */
  private async createJob(spec: ReturnType<typeof buildKanikoJob>, jobName: string): Promise<true> {
    const { namespace } = this.options;
    let created: k8s.V1Job;
    try {
      created = (await kubeJsonRequest(
        this.options.kubeConfig,
        'POST',
        this.path('jobs'),
        spec.job,
      )) as k8s.V1Job;
    } catch (error) {
      if (isConflict(error)) return true;
      throw kubernetesError(
        error,
        `create the kaniko Job ${namespace}/${jobName}`,
        'create batch/jobs',
      );
    }
    // Owned by the Job, so the garbage collector removes it with it should the agent die. The
    // pod waits for it: the kubelet retries a Secret volume until the Secret exists.
    for (const secret of spec.secrets) {
      secret.metadata!.ownerReferences = [
        { apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: created.metadata!.uid! },
      ];
      await kubeJsonRequest(this.options.kubeConfig, 'POST', this.path('secrets'), secret).catch(
        (error: unknown) => {
          if (isConflict(error)) return;
          // The message names the Secret, never its contents.
          throw kubernetesError(
            error,
            `create the push credential Secret ${namespace}/${secret.metadata!.name}`,
            'create secrets',
          );
        },
      );
    }
    return true;
  }

  /** Streams tar → parallel gzip → the store, with progress; returns the Dockerfile's name in the tar. */
  private async upload(request: BuildRequest, key: string): Promise<string> {
    // The key is this build's own (its build id): an object under it is what an earlier attempt
    // of this build left, and stores write once, so it goes first.
    await this.options.store.delete(key);
    const context = createContextTar(request.plan);
    // A tar error (a file changed since it was hashed) ends the gzip stream, and so the upload.
    const body = parallelGzip(context.stream, this.options.gzip);
    await this.options.store.put(key, body, {
      onProgress: (sent) => request.progress.transfer('context', 'uploading', sent),
    });
    request.progress.transfer('context', 'uploaded');
    return context.dockerfileName;
  }

  /** Follows one container's log; tolerates a missing kubelet or log endpoint. */
  private streamLogs(podName: string, container: string, tail: LogTail): () => void {
    const decoder = new TextDecoder();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        // Sliced, with the event loop's turn between slices: a chunk may be large.
        splitChunk(tail.splitter, decoder, chunk).then(() => callback(), callback);
      },
    });
    let controller: AbortController | undefined;
    let stopped = false;
    new k8s.Log(this.options.kubeConfig)
      .log(this.options.namespace, podName, container, sink, { follow: true })
      .then((c) => {
        controller = c;
        if (stopped) c.abort();
      })
      .catch(() => {
        // No log (no kubelet, pod gone): the termination message still carries the tail.
      });
    return () => {
      stopped = true;
      controller?.abort();
    };
  }

  /** Removes what the build created; failures are reported, never hide the build's own result. */
  private async cleanUp(
    progress: ProgressReporter,
    what: { jobName: string | undefined; secretNames: string[]; contextKey: string | undefined },
  ): Promise<void> {
    const { namespace, store } = this.options;
    const steps: Array<[string, () => Promise<unknown>]> = [];
    if (what.jobName) {
      const name = what.jobName;
      steps.push([
        `Job ${namespace}/${name}`,
        () =>
          deleteIgnoringMissing(() =>
            kubeJsonRequest(
              this.options.kubeConfig,
              'DELETE',
              withQuery(this.path('jobs', name), { propagationPolicy: 'Background' }),
            ),
          ),
      ]);
    }
    for (const name of what.secretNames) {
      steps.push([
        `Secret ${namespace}/${name}`,
        () =>
          deleteIgnoringMissing(() =>
            kubeJsonRequest(this.options.kubeConfig, 'DELETE', this.path('secrets', name)),
          ),
      ]);
    }
    if (what.contextKey) {
      const key = what.contextKey;
      steps.push([store.uri(key), () => store.delete(key)]);
    }
    const results = await Promise.allSettled(steps.map(([, run]) => run()));
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        progress.output(
          `warning: could not delete ${steps[i]![0]}: ${(result.reason as Error).message}\n`,
        );
      }
    });
  }
}

/** An API call failed: say what the agent was doing, and for 401/403 which permission it needs. */
function kubernetesError(error: unknown, doing: string, permission: string): Error {
  const status = apiStatus(error);
  const body = (error as { body?: unknown }).body;
  const detail =
    typeof body === 'string'
      ? (/"message":"([^"]*)"/.exec(body)?.[1] ?? body)
      : ((error as Error).message ?? String(error));
  const hint =
    status === 401 || status === 403
      ? `. The agent's ServiceAccount needs ${permission} in its namespace: install the chart with rbac.create: true, or grant the Role in docs/kaniko.md#permissions`
      : '';
  return new Error(`could not ${doing}${status ? ` (HTTP ${status})` : ''}: ${detail}${hint}`, {
    cause: error,
  });
}
