// Image builds for LaunchJobs: the one step that takes minutes. A reconcile starts a build and
// returns; the build runs here, and when it settles its job's key is queued again, so the next
// reconcile reads the outcome and moves the job on. Nothing about a build is only in memory for
// long: its kaniko Job has a name derived from the job, so a retry or another agent that takes
// the job over follows the same Job instead of starting a second one.
import type * as k8s from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import { buildImage, type BuildReport } from '../build-engine.js';
import type { Builder } from '../builders/builder.js';
import { selectBuilder } from '../builders/select-builder.js';
import { createBuildPlan } from '../context/build-plan.js';
import type { CachedLaunchJob, LaunchJob } from '../kubernetes/launchjob-types.js';
import type { RegistryOptions } from '../registries/select-registry.js';
import type { BuildContextStore } from '../storage/context-store.js';
import type { AgentLogger } from './agent-log.js';
import { checkContextSourceHash, localBuildContext } from './build-context-source.js';
import { bytesUnder, fetchGitSource } from './git-source.js';
import { requirePinnedDigest, resolvePrebuiltImage, type PrebuiltPin } from './image-pinning.js';
import { SourceBudget } from './source-budget.js';

export interface BuildOutcome {
  report?: BuildReport;
  /** This job's build made the image (false: another job's build of the same source did). */
  leader?: boolean;
  error?: unknown;
}

interface Operation {
  abort: AbortController;
  settled: boolean;
  outcome?: BuildOutcome;
  /** Resolves once the outcome is recorded (the build and its clean-up have ended). */
  done?: Promise<void>;
}

/** One in-flight build that several jobs wait on. */
interface SharedBuild {
  promise: Promise<BuildReport>;
  waiters: number;
  abort: AbortController;
}

export interface BuildsOptions {
  kubeConfig: k8s.KubeConfig;
  settings: AgentSettings;
  namespace: string;
  log: AgentLogger;
  contextStore?: BuildContextStore;
  registryOptions?: RegistryOptions;
  builder?: () => Promise<Builder>;
  /** Where sources are written; default the system's temporary directory. */
  sourceDir?: string;
  /** Called when a job's build settles: the controller queues its key. */
  settled: (key: string) => void;
}

/** What the job's source is, for messages: the context key, or the git URL and ref. */
export function describeSource(job: CachedLaunchJob): string {
  const { context, git } = job.spec.source;
  if (context) return context.key;
  return `${git!.url}${git!.ref ? `@${git!.ref}` : ''}`;
}

export class Builds {
  private readonly operations = new Map<string, Operation>();
  private readonly shared = new Map<string, SharedBuild>();
  private builderPromise: Promise<Builder> | undefined;
  /** launchjobs.source-budget-bytes: /tmp shared by the sources of all builds in progress. */
  readonly sourceBudget: SourceBudget;

  constructor(private readonly options: BuildsOptions) {
    this.sourceBudget = new SourceBudget(options.settings.launchJobs.sourceBudgetBytes);
  }

  /** The job's build: undefined when none was started (or it was taken). */
  get(key: string): { settled: boolean; outcome?: BuildOutcome } | undefined {
    return this.operations.get(key);
  }

  inFlight(): number {
    let count = 0;
    for (const operation of this.operations.values()) if (!operation.settled) count += 1;
    return count;
  }

  /**
   * Starts the job's build unless one is already under way. The reconcile has refused what
   * needs no build to refuse (a token in a git URL, no builder.destination). `job` is the whole
   * LaunchJob (its dockerfile and buildArgs), read for this step; it is kept only while the
   * build runs.
   */
  start(key: string, job: LaunchJob): void {
    if (this.operations.has(key)) return;
    const source = job.spec.source;
    const destination = this.options.settings.builder.destination!;
    const operation: Operation = { abort: new AbortController(), settled: false };
    this.operations.set(key, operation);
    // Jobs with the same source, Dockerfile, build args and platform (a sweep) share one fetch,
    // hash, registry check and build while it is in flight.
    const shareKey = JSON.stringify([
      // The digest too: jobs that name one key with different digests are checked apart.
      source.context
        ? ['context', source.context.key, source.context.digest ?? '']
        : ['git', source.git!.url, source.git!.ref],
      job.spec.dockerfile ?? 'Dockerfile',
      job.spec.buildArgs ?? {},
      this.options.settings.builder.platform ?? '',
    ]);
    const what = describeSource(job);
    this.options.log.info('building', { job: key, source: what });
    operation.done = this.join(shareKey, operation.abort.signal, (signal) =>
      this.buildSource(job, destination, signal),
    ).then(
      ({ report, leader }) => this.settle(key, operation, { report, leader }),
      (error: unknown) => this.settle(key, operation, { error }),
    );
  }

  /** The outcome was recorded in the job's status: forget it. */
  clear(key: string): void {
    this.operations.delete(key);
  }

  /** Stops the job's build (deleted, taken over, or the agent stops). */
  abort(key: string, reason?: unknown): void {
    const operation = this.operations.get(key);
    if (!operation) return;
    this.operations.delete(key);
    if (!operation.settled) operation.abort.abort(reason ?? new Error('the build was cancelled'));
  }

  /**
   * Stops every build and resolves once each has ended, its clean-up included (a kaniko build
   * deletes its Job, ConfigMap and stored context on abort): the process may then exit.
   */
  async abortAll(reason: unknown): Promise<void> {
    const pending = [...this.operations.entries()].filter(([, operation]) => !operation.settled);
    const ending = [
      ...pending.map(([, operation]) => operation.done),
      ...[...this.shared.values()].map((build) => build.promise),
    ];
    for (const [key] of pending) this.abort(key, reason);
    await Promise.allSettled(ending);
  }

  private settle(key: string, operation: Operation, outcome: BuildOutcome): void {
    operation.settled = true;
    operation.outcome = outcome;
    // A build cancelled because its job went away has nobody left to tell.
    if (this.operations.get(key) === operation) this.options.settled(key);
  }

  private async buildSource(
    job: LaunchJob,
    destination: NonNullable<AgentSettings['builder']['destination']>,
    signal: AbortSignal,
  ): Promise<BuildReport> {
    const source = job.spec.source;
    // Unpacking and checking out are capped (launchjobs.max-source-bytes / -entries), and all
    // sources on disk together are held to launchjobs.source-budget-bytes.
    const { sourceLimits: limits, gitSources } = this.options.settings.launchJobs;
    const budget = this.sourceBudget;
    if (budget.reservedBytes() + limits.maxBytes > budget.totalBytes) {
      this.options.log.info('waiting for room in launchjobs.source-budget-bytes', {
        job: job.metadata.name,
        reservedBytes: budget.reservedBytes(),
        budgetBytes: budget.totalBytes,
      });
    }
    const reservation = await budget.reserve(limits.maxBytes, signal);
    let local: Awaited<ReturnType<typeof localBuildContext>>;
    try {
      const parentDir = this.options.sourceDir;
      local = source.context
        ? // Checked against spec.source.context.digest while it downloads.
          await localBuildContext(this.options.contextStore, source.context, limits, parentDir)
        : await fetchGitSource(source.git!, {
            policy: gitSources,
            limits,
            signal,
            ...(parentDir ? { parentDir } : {}),
          });
      reservation.shrink(await bytesUnder(local.directory));
    } catch (error) {
      reservation.release();
      throw error;
    }
    try {
      const { platform } = this.options.settings.builder;
      const plan = await createBuildPlan({
        contextDir: local.directory,
        // Relative to the context: the plan refuses a path or a link that leaves it.
        contextDockerfile: job.spec.dockerfile ?? 'Dockerfile',
        ...(job.spec.buildArgs ? { buildArgs: job.spec.buildArgs } : {}),
        ...(platform ? { platform } : {}),
        cacheDir: false,
      });
      // What was unpacked must be the source its key names, before anything is built from it.
      if (source.context) checkContextSourceHash(source.context.key, plan);
      const report = await buildImage({
        plan,
        destination,
        // The build's name follows the job that leads it: a retry finds its kaniko Job again.
        buildId: job.metadata.uid!,
        ...(this.options.registryOptions ? { registryOptions: this.options.registryOptions } : {}),
        builder: () => this.builder(),
        signal,
      });
      // The run uses this digest, never the tag, which anyone with push rights can move.
      requirePinnedDigest(report);
      return report;
    } finally {
      await local.cleanup();
      reservation.release();
    }
  }

  /**
   * A prebuilt `spec.source.image` by tag, resolved to the digest its registry answers now with
   * the agent's credentials; when it cannot answer, the job runs by tag and `note` says why.
   */
  pinPrebuilt(image: string): Promise<PrebuiltPin> {
    return resolvePrebuiltImage(image, this.options.registryOptions);
  }

  /**
   * Runs `build` once for every job that asks with the same key while it is in flight. The
   * first job to ask leads; the others wait for its result (and report the image as reused).
   * The shared work is aborted only when every job waiting on it was aborted.
   */
  private join(
    key: string,
    signal: AbortSignal,
    build: (signal: AbortSignal) => Promise<BuildReport>,
  ): Promise<{ report: BuildReport; leader: boolean }> {
    let shared = this.shared.get(key);
    const leader = shared === undefined;
    if (!shared) {
      const abort = new AbortController();
      const created: SharedBuild = { abort, waiters: 0, promise: build(abort.signal) };
      created.promise
        .catch(() => undefined)
        .finally(() => {
          if (this.shared.get(key) === created) this.shared.delete(key);
        });
      this.shared.set(key, created);
      shared = created;
    }
    const current = shared;
    current.waiters += 1;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        current.waiters -= 1;
        if (current.waiters === 0) {
          current.abort.abort(signal.reason);
          if (this.shared.get(key) === current) this.shared.delete(key);
        }
        reject(signal.reason);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      current.promise
        .then(
          (report) => resolve({ report, leader }),
          (error: unknown) => reject(error),
        )
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private builder(): Promise<Builder> {
    const { settings, namespace, kubeConfig, contextStore } = this.options;
    this.builderPromise ??= this.options.builder
      ? this.options.builder()
      : selectBuilder(settings.builder, {
          // Build Jobs go where the agent works, as the agent: its namespace and connection.
          agent: { ...settings, kubernetes: { ...settings.kubernetes, namespace } },
          kubeConfig,
          ...(contextStore ? { contextStore } : {}),
        }).then((selected) => selected.builder);
    return this.builderPromise;
  }
}
