import type { Destination } from '@launch-agent/config';
import { createBuildPlan, type BuildPlan, type BuildPlanOptions } from './context/build-plan.js';
import { silentProgress, type Builder, type ProgressReporter } from './builders/builder.js';
import type { Registry } from './registries/registry.js';
import { createRegistry, type RegistryOptions } from './registries/select-registry.js';

export interface BuildImageRequest {
  /** A plan already made, or what to make one from. */
  plan: BuildPlan | BuildPlanOptions;
  destination: Destination;
  /** Default: `createRegistry(destination, registryOptions)`. */
  registry?: Registry;
  registryOptions?: RegistryOptions;
  /** Called only when the image has to be built, so a noop setup can still reuse images. */
  builder: () => Builder | Promise<Builder>;
  /** Plan and check only: never build or push. */
  dryRun?: boolean;
  progress?: ProgressReporter;
  signal?: AbortSignal;
  /**
   * Names this build for builders that create objects for it (the kaniko Job): the same id
   * gives the same names, so a retry follows the build it started instead of making another.
   */
  buildId?: string;
}

/** What happened, for people and machines. */
export interface BuildReport {
  /** `destination:tag`. */
  image: string;
  destination: string;
  tag: string;
  sourceHash: string;
  /** built: pushed now; reused: the tag was already there; planned: a dry run (see `existed`). */
  status: 'built' | 'reused' | 'planned';
  /** Whether the tag existed before this run. */
  existed: boolean;
  digest?: string;
  builder?: string;
  context: {
    directory: string;
    dockerfile: string;
    ignoreFile?: string;
    files: number;
    bytes: number;
    hashedFiles: number;
    cachedFiles: number;
  };
  timings: { planMs: number; checkMs: number; buildMs?: number; pushMs?: number; totalMs: number };
}

function isPlan(plan: BuildPlan | BuildPlanOptions): plan is BuildPlan {
  return 'sourceHash' in plan;
}

/**
 * The build engine: plan (source hash → tag), ask the registry whether that tag exists, build
 * and push only when it does not, and report. It knows registries and builders only through
 * their interfaces.
 */
export async function buildImage(request: BuildImageRequest): Promise<BuildReport> {
  const started = performance.now();
  const progress = request.progress ?? silentProgress;
  progress.phase('plan', isPlan(request.plan) ? request.plan.contextDir : request.plan.contextDir);
  const plan = isPlan(request.plan) ? request.plan : await createBuildPlan(request.plan);
  const planMs = isPlan(request.plan) ? 0 : performance.now() - started;

  const registry =
    request.registry ?? (await createRegistry(request.destination, request.registryOptions));
  const image = registry.imageReference(plan.tag);
  progress.phase('check', image);
  const checkStarted = performance.now();
  const found = await registry.exists(plan.tag);
  const checkMs = performance.now() - checkStarted;

  const report: BuildReport = {
    image,
    destination: registry.repositoryUri,
    tag: plan.tag,
    sourceHash: plan.sourceHash,
    status: found.exists && !request.dryRun ? 'reused' : 'planned',
    existed: found.exists,
    ...(found.digest ? { digest: found.digest } : {}),
    context: {
      directory: plan.contextDir,
      dockerfile: plan.dockerfilePath,
      ...(plan.ignoreFile ? { ignoreFile: plan.ignoreFile } : {}),
      files: plan.stats.files,
      bytes: plan.stats.bytes,
      hashedFiles: plan.stats.hashedFiles,
      cachedFiles: plan.stats.cachedFiles,
    },
    timings: { planMs, checkMs, totalMs: 0 },
  };
  if (found.exists || request.dryRun) {
    report.timings.totalMs = performance.now() - started;
    return report;
  }

  const builder = await request.builder();
  report.builder = builder.name;
  // Before the build, so a missing repository fails in seconds rather than after the build.
  await registry.prepareForPush();
  const result = await builder.build({
    plan,
    destination: request.destination,
    tag: plan.tag,
    imageReference: image,
    registry,
    progress,
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.buildId ? { buildId: request.buildId } : {}),
  });
  report.status = 'built';
  report.digest = result.digest;
  report.timings.buildMs = result.buildMs;
  report.timings.pushMs = result.pushMs;
  report.timings.totalMs = performance.now() - started;
  return report;
}
