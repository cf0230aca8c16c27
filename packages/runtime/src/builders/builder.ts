import type { Destination } from '@launch-agent/config';
import type { BuildPlan } from '../context/build-plan.js';
import type { Registry } from '../registries/registry.js';

/** Where a builder tells the user what it is doing. Every method may be called often. */
export interface ProgressReporter {
  /** A new stage starts, e.g. `build` or `push`. */
  phase(name: string, detail?: string): void;
  /** Output of the build itself (a Dockerfile step's log), as the builder received it. */
  output(text: string): void;
  /** Progress of one transfer, e.g. a layer being pushed. */
  transfer(id: string, status: string, current?: number, total?: number): void;
}

export const silentProgress: ProgressReporter = {
  phase: () => {},
  output: () => {},
  transfer: () => {},
};

export interface BuildRequest {
  plan: BuildPlan;
  destination: Destination;
  /** The tag to push: the plan's source-hash tag. */
  tag: string;
  /** `destination:tag`. */
  imageReference: string;
  /** The destination's registry, for push credentials. */
  registry: Registry;
  progress: ProgressReporter;
  signal?: AbortSignal;
  /** Stable id of this build (see BuildImageRequest.buildId); default: a random one. */
  buildId?: string;
}

export interface BuildResult {
  /** Manifest digest of the pushed image (`sha256:...`). */
  digest: string;
  /** Local image id, when the builder has one. */
  imageId?: string;
  buildMs: number;
  pushMs: number;
}

/**
 * Turns a build plan into an image pushed to `destination:tag`. Implementations: docker (a
 * Docker Engine API), noop; kaniko (a Kubernetes Job) plugs in the same way. A builder never
 * pushes an image whose build failed.
 */
export interface Builder {
  /** `docker`, `noop`, `kaniko`: what reports and errors call it. */
  readonly name: string;
  build(request: BuildRequest): Promise<BuildResult>;
}

/** The build ran and failed. `output` is the failing step's log, as the builder printed it. */
export class BuildFailedError extends Error {
  constructor(
    message: string,
    readonly output: string,
    readonly step?: string,
  ) {
    super(
      output.trim() === '' ? message : `${message}\n${step ? `${step}\n` : ''}${output.trimEnd()}`,
    );
    this.name = 'BuildFailedError';
  }
}

/** The push ran and failed; the image was built but is not in the registry. */
export class PushFailedError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(`${message}. ${hint}`);
    this.name = 'PushFailedError';
  }
}

/** A build is needed but this builder cannot make one; the message says what to configure. */
export class BuilderUnavailableError extends Error {
  constructor(
    readonly builder: string,
    message: string,
  ) {
    super(message);
    this.name = 'BuilderUnavailableError';
  }
}
