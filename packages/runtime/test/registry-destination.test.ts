import { parseDestination } from '@launch-agent/config';
import { AcrRegistry } from '../src/registries/acr-registry.js';
import { ArtifactRegistry } from '../src/registries/artifact-registry.js';
import { EcrRegistry } from '../src/registries/ecr-registry.js';
import { OciRegistry } from '../src/registries/oci-registry.js';
import { createRegistry } from '../src/registries/select-registry.js';

/**
 * Destinations as the runtime sees them: always parsed by @launch-agent/config, then mapped to
 * one registry API. The forms are the reference agent's (which it accepts and which it
 * rejects) plus what it gets wrong: ports and nested repository paths.
 */
const fakeAzureCredential = {
  getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }),
};
const registryOptions = { acr: { credential: fakeAzureCredential } };

describe('destination → registry', () => {
  test.each([
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images', EcrRegistry],
    ['123456789012.dkr.ecr.eu-west-2.amazonaws.com/team/nested.name/images', EcrRegistry],
    ['us-central1-docker.pkg.dev/my-project/launch/images', ArtifactRegistry],
    ['europe-docker.pkg.dev/my-project/launch/team/images', ArtifactRegistry],
    ['https://myregistry.azurecr.io/launch-images', AcrRegistry],
    ['myregistry.azurecr.io/team/project/images', AcrRegistry],
    ['localhost:5000/launch/images', OciRegistry],
    ['registry.internal:30500/a/b/c', OciRegistry],
    ['[::1]:5000/img', OciRegistry],
  ])(
    '%s is served by %p, and tags append after the repository, never after a port',
    async (input, kind) => {
      const destination = parseDestination(input).value!;
      const registry = await createRegistry(destination, registryOptions);
      expect(registry).toBeInstanceOf(kind);
      expect(registry.repositoryUri).toBe(destination.reference);
      const reference = registry.imageReference('0123456789abcdef0123456789abcdef');
      expect(reference).toBe(`${destination.reference}:0123456789abcdef0123456789abcdef`);
      // Split the way a tag is split: after the last slash. The reference's `split(":")` broke on ports.
      const lastSlash = reference.lastIndexOf('/');
      expect(reference.slice(0, lastSlash + reference.slice(lastSlash).indexOf(':'))).toBe(
        destination.reference,
      );
    },
  );

  it('refuses a Destination on an azurecr.io host with a name Azure does not allow, whoever built it', async () => {
    // parseDestination never returns this; code that builds a Destination itself still must not
    // get a plain OCI registry for it.
    const destination = {
      kind: 'oci' as const,
      host: 'my-reg.azurecr.io',
      repository: 'team/app',
      reference: 'my-reg.azurecr.io/team/app',
    };
    await expect(createRegistry(destination, registryOptions)).rejects.toMatchObject({
      name: 'RegistryError',
      registry: 'my-reg.azurecr.io',
      message: expect.stringMatching(
        /"my-reg" is not a valid Azure Container Registry name.*5 to 50 letters and digits/,
      ),
    });
  });

  it('keeps Artifact Registry image names with slashes as one package, escaped once', () => {
    const registry = new ArtifactRegistry(
      parseDestination('us-central1-docker.pkg.dev/proj-1/repo/team/img').value!,
      {
        authClient: {} as never,
      },
    );
    expect(registry.tagName('abc')).toBe(
      'projects/proj-1/locations/us-central1/repositories/repo/packages/team%2Fimg/tags/abc',
    );
  });

  test.each([
    'localhost:5000/launch/images:latest',
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:v1',
    'registry.example.com/img@sha256:abcd',
    'us-central1-docker.pkg.dev/my-project/launch',
  ])('the runtime never sees %s: the config parser rejects it', (input) => {
    expect(parseDestination(input).value).toBeUndefined();
  });
});
