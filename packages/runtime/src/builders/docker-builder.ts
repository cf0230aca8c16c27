import Docker from 'dockerode';
import { createContextTar } from '../context/tar.js';
import type { RegistryCredentials } from '../registries/registry.js';
import {
  BuildFailedError,
  PushFailedError,
  type Builder,
  type BuildRequest,
  type BuildResult,
  type ProgressReporter,
} from './builder.js';
import { DockerStreamError, readDockerStream, type DockerStreamMessage } from './docker-stream.js';
import { BoundedTail, LineSplitter } from './log-lines.js';
import { dockerEndpoint } from './docker-endpoint.js';

export { dockerEndpoint };

export interface DockerBuilderOptions {
  /** A client for the engine; default: dockerode configured from DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
  docker?: Docker;
}

/** Lines that open a Dockerfile step: Docker's `Step 2/5 : RUN ...`, podman/buildah's `STEP 2/5: RUN ...`. */
const STEP_LINE = /^(?:Step|STEP) \d+\/\d+ ?: /;
const DIGEST_IN_STATUS = /digest: (sha256:[a-f0-9]{64})/;

/** Follows a `/build` stream: forwards output, remembers the current step, returns the image id. */
async function followBuild(
  stream: NodeJS.ReadableStream,
  progress: ProgressReporter,
): Promise<string | undefined> {
  let step: string | undefined;
  // The current step's output, capped: a RUN step's output is the job's to choose.
  let stepOutput = new BoundedTail();
  let imageId: string | undefined;
  let succeeded = false;
  const lines = new LineSplitter((line) => {
    progress.output(`${line}\n`);
    if (STEP_LINE.test(line)) {
      step = line.trim();
      stepOutput = new BoundedTail();
    } else if (line !== '') {
      stepOutput.push(line);
    }
    const built = /^Successfully built ([0-9a-f]+)/.exec(line);
    if (built) {
      succeeded = true;
      imageId ??= built[1];
    }
  });
  try {
    await readDockerStream(stream, (message: DockerStreamMessage) => {
      if (message.stream !== undefined) lines.write(message.stream);
      if (message.aux?.ID) {
        imageId = message.aux.ID;
        succeeded = true;
      }
      if (message.status !== undefined && message.id !== undefined) {
        progress.transfer(
          message.id,
          message.status,
          message.progressDetail?.current,
          message.progressDetail?.total,
        );
      }
    });
  } catch (error) {
    lines.end();
    if (error instanceof DockerStreamError) {
      throw new BuildFailedError(
        `the image build failed: ${error.message.trim()}`,
        stepOutput.text(),
        step,
      );
    }
    throw new BuildFailedError(
      `the image build stream broke off: ${(error as Error).message}`,
      stepOutput.text(),
      step,
    );
  }
  lines.end();
  if (!succeeded) {
    throw new BuildFailedError(
      'the engine ended the build without reporting an image',
      stepOutput.text(),
      step,
    );
  }
  return imageId;
}

/** Follows a push stream; returns the digest the engine reported, if any. */
async function followPush(
  stream: NodeJS.ReadableStream,
  progress: ProgressReporter,
): Promise<string | undefined> {
  let digest: string | undefined;
  await readDockerStream(stream, (message) => {
    if (message.aux?.Digest) digest = message.aux.Digest;
    if (message.status !== undefined) {
      const inStatus = DIGEST_IN_STATUS.exec(message.status);
      if (inStatus) digest ??= inStatus[1];
      if (message.id !== undefined) {
        progress.transfer(
          message.id,
          message.status,
          message.progressDetail?.current,
          message.progressDetail?.total,
        );
      }
    }
  });
  return digest;
}

/**
 * Builds through a Docker Engine API (Docker, or podman's compatible service): streams the
 * context tar to `/build`, then pushes with `X-Registry-Auth` from the registry's credentials.
 * Every message of both streams is parsed and an error message fails the step; an image whose
 * build failed is never pushed.
 */
export class DockerBuilder implements Builder {
  readonly name = 'docker';
  private readonly docker: Docker;

  constructor(options: DockerBuilderOptions = {}) {
    this.docker = options.docker ?? new Docker();
  }

  async build(request: BuildRequest): Promise<BuildResult> {
    const { plan, registry, progress, imageReference, tag } = request;
    const credentials = await registry.credentials();

    const buildStarted = performance.now();
    progress.phase('build', imageReference);
    const context = createContextTar(plan);
    const contextFailure = new Promise<never>((_, reject) => context.stream.once('error', reject));
    contextFailure.catch(() => {});
    let buildStream: NodeJS.ReadableStream;
    try {
      buildStream = await Promise.race([
        this.docker.buildImage(context.stream, {
          t: imageReference,
          dockerfile: context.dockerfileName,
          buildargs: plan.buildArgs,
          labels: plan.labels,
          rm: true,
          forcerm: true,
          ...(plan.target ? { target: plan.target } : {}),
          ...(plan.platform ? { platform: plan.platform } : {}),
          ...(credentials ? { registryconfig: registryConfig(credentials) } : {}),
          ...(request.signal ? { abortSignal: request.signal } : {}),
        } as Docker.ImageBuildOptions),
        contextFailure,
      ]);
    } catch (error) {
      throw engineError(error, 'start the build');
    }
    const imageId = await Promise.race([followBuild(buildStream, progress), contextFailure]);
    const buildMs = performance.now() - buildStarted;

    const pushStarted = performance.now();
    progress.phase('push', imageReference);
    let digest: string | undefined;
    try {
      const pushStream = (await this.docker.getImage(registry.repositoryUri).push({
        tag,
        ...(credentials ? { authconfig: credentials.toDockerAuthConfig() } : {}),
        ...(request.signal ? { abortSignal: request.signal } : {}),
      })) as NodeJS.ReadableStream;
      digest = await followPush(pushStream, progress);
    } catch (error) {
      if (error instanceof DockerStreamError) {
        throw new PushFailedError(
          `pushing ${imageReference} failed: ${error.message.trim()}`,
          `Check that the credentials for ${registry.destination.host} allow pushing to ${registry.destination.repository}`,
        );
      }
      throw engineError(error, `push ${imageReference}`);
    }
    if (!digest) {
      // Some engines do not report the digest; the registry knows it.
      const found = await registry.exists(tag);
      if (!found.exists) {
        throw new PushFailedError(
          `the engine finished pushing ${imageReference} but the registry does not have it`,
          'Check the engine log',
        );
      }
      digest = found.digest;
    }
    if (!digest)
      throw new PushFailedError(
        `no digest was reported for ${imageReference}`,
        'Check the engine and registry logs',
      );
    return {
      digest,
      ...(imageId ? { imageId } : {}),
      buildMs,
      pushMs: performance.now() - pushStarted,
    };
  }
}

/** `X-Registry-Config`: lets `FROM` pull from the destination registry with the same identity. */
function registryConfig(credentials: RegistryCredentials): Record<string, unknown> {
  return { [credentials.serverAddress]: credentials.toDockerAuthConfig() };
}

/** The engine itself refused a request (HTTP error, not a stream message). */
export class DockerEngineError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'DockerEngineError';
  }
}

function engineError(error: unknown, doing: string): Error {
  if (error instanceof BuildFailedError || error instanceof PushFailedError) return error;
  const e = error as {
    statusCode?: number;
    json?: { message?: string };
    message?: string;
    code?: string;
  };
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    return new DockerEngineError(
      `no Docker engine answers at ${dockerEndpoint()} (${e.code}), so the agent cannot ${doing}. Start one, or set DOCKER_HOST to where it listens`,
    );
  }
  const detail = e.json?.message ?? e.message ?? String(error);
  return new DockerEngineError(
    `the Docker engine at ${dockerEndpoint()} could not ${doing}: ${detail}`,
    e.statusCode,
  );
}
