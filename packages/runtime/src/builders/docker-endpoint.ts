/**
 * Where the Docker engine is, for messages: the same rule dockerode applies. Its own module so
 * that naming the endpoint does not load dockerode.
 */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}
