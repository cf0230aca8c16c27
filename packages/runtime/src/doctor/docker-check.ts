import type Docker from 'dockerode';
import { dockerEndpoint } from '../builders/docker-endpoint.js';
import { failed, passed, type DoctorCheck } from './doctor-check.js';

/**
 * Asks the Docker engine API for its version, connecting as the docker builder does (DOCKER_HOST,
 * DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). `required` is false for a config without a builder block,
 * where no engine only means the agent falls back to noop.
 */
export async function checkDockerEngine(required: boolean, docker?: Docker): Promise<DoctorCheck> {
  const endpoint = dockerEndpoint();
  try {
    // dockerode is loaded here, not at start: only a config that may build with docker asks.
    const client = docker ?? new (await import('dockerode')).default();
    const version = await client.version();
    return passed(
      'docker.engine',
      `Docker engine ${version.Version} (API ${version.ApiVersion}) answers at ${endpoint}`,
    );
  } catch (error) {
    const reason = (error as Error).message;
    if (!required) {
      return passed(
        'docker.engine',
        `no Docker engine answers at ${endpoint} (${reason}): with no builder block the agent uses noop and builds nothing`,
      );
    }
    return failed(
      'docker.engine',
      `no Docker engine answers at ${endpoint}: ${reason}`,
      'Start the Docker engine or point DOCKER_HOST at one; in Kubernetes use builder.type: kaniko instead',
    );
  }
}
