import {
  BuilderUnavailableError,
  type Builder,
  type BuildRequest,
  type BuildResult,
} from './builder.js';

/**
 * Never builds (`builder.type: noop`, or no builder block and no Docker engine). The image
 * check still runs before it is asked, so an image that already exists is simply reused.
 */
export class NoopBuilder implements Builder {
  readonly name = 'noop';

  /** @param reason why this builder was chosen, for the message. */
  constructor(private readonly reason = 'builder.type is noop') {}

  async build(request: BuildRequest): Promise<BuildResult> {
    throw new BuilderUnavailableError(
      'noop',
      `${request.imageReference} does not exist and ${this.reason}, so it cannot be built. ` +
        'Set builder.type: docker and make a Docker engine reachable (DOCKER_HOST), or set builder.type: kaniko ' +
        'with builder.build-context-store, or push that image yourself.',
    );
  }
}
