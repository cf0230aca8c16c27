import { azureRegistryName, parseDestination } from '../src/uri/destination.js';

describe('parseDestination', () => {
  test.each([
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images',
      'ecr',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'launch-images',
    ],
    [
      '123456789012.dkr.ecr.eu-west-2.amazonaws.com/team/nested.name/images',
      'ecr',
      '123456789012.dkr.ecr.eu-west-2.amazonaws.com',
      'team/nested.name/images',
    ],
    [
      'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/repo',
      'ecr',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'repo',
    ],
    [
      'us-central1-docker.pkg.dev/my-project/launch/images',
      'artifact-registry',
      'us-central1-docker.pkg.dev',
      'my-project/launch/images',
    ],
    [
      'europe-docker.pkg.dev/my-project/launch/team/images',
      'artifact-registry',
      'europe-docker.pkg.dev',
      'my-project/launch/team/images',
    ],
    [
      'https://myregistry.azurecr.io/launch-images',
      'acr',
      'myregistry.azurecr.io',
      'launch-images',
    ],
    [
      'myregistry.azurecr.io/team/project/images',
      'acr',
      'myregistry.azurecr.io',
      'team/project/images',
    ],
    ['localhost:5000/launch/images', 'oci', 'localhost:5000', 'launch/images'],
    ['registry.internal:30500/a/b/c', 'oci', 'registry.internal:30500', 'a/b/c'],
    ['127.0.0.1:5000/img', 'oci', '127.0.0.1:5000', 'img'],
    ['registry.example.com/team/images/', 'oci', 'registry.example.com', 'team/images'],
  ])('accepts %s as %s', (input, kind, host, repository) => {
    const result = parseDestination(input);
    expect(result.errors).toEqual([]);
    expect(result.value).toMatchObject({
      kind,
      host,
      repository,
      reference: `${host}/${repository}`,
    });
  });

  test('splits an ECR host into account and region', () => {
    expect(
      parseDestination('123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/x').value?.ecr,
    ).toEqual({
      account: '123456789012',
      region: 'ap-southeast-2',
    });
  });

  test('splits an Artifact Registry path into project, repository and a nested image', () => {
    expect(
      parseDestination('us-central1-docker.pkg.dev/proj-1/repo/team/img').value?.artifactRegistry,
    ).toEqual({
      location: 'us-central1',
      project: 'proj-1',
      repository: 'repo',
      image: 'team/img',
    });
  });

  test('reads the W&B launch agent guide\'s ECR host without "dkr" as the ECR host, with a warning', () => {
    const result = parseDestination('123456789012.ecr.us-east-1.amazonaws.com/launch-images');
    expect(result.errors).toEqual([]);
    expect(result.value?.reference).toBe(
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images',
    );
    expect(result.warnings[0]?.message).toMatch(/not an ECR registry host/);
  });

  test.each([
    ['localhost:5000/launch/images:latest', /may not carry a tag/],
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:v1', /may not carry a tag/],
    ['registry.example.com/img@sha256:abcd', /digest/],
    ['us-central1-docker.pkg.dev/my-project/launch', /image name/],
    ['registry.example.com/Team/Images', /component "Team"/],
    ['http://registry.example.com/img', /only a leading https:\/\//],
    ['registry.example.com/', /repository path is missing|not a registry host/],
    ['bad_host!.com/img', /not a registry host/],
    ['localhost:5000', /repository path is missing/],
    ['ubuntu:latest', /may not carry a tag/],
  ])('rejects %s', (input, message) => {
    const result = parseDestination(input, 'builder.destination');
    expect(result.value).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ path: 'builder.destination', value: input });
    expect(result.errors[0]?.message).toMatch(message);
  });

  test.each([
    ['myreg.azurecr.io/team/app', 'myreg'],
    ['abcde.azurecr.io/app', 'abcde'],
    [`${'a1'.repeat(25)}.azurecr.io/app`, 'a1'.repeat(25)],
    ['MyRegistry01.azurecr.io/app', 'myregistry01'],
  ])('accepts %s as the Azure Container Registry %s', (input, name) => {
    const result = parseDestination(input, 'builder.destination');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value).toMatchObject({ kind: 'acr', acr: { registryName: name } });
  });

  test.each([
    ['my-reg.azurecr.io/team/app', 'my-reg'],
    ['abcd.azurecr.io/app', 'abcd'],
    ['ab.azurecr.io/app', 'ab'],
    [`${'a'.repeat(51)}.azurecr.io/app`, 'a'.repeat(51)],
    ['my.reg.azurecr.io/app', 'my.reg'],
    ['my_reg1.azurecr.io/app', null],
  ])('refuses %s: an azurecr.io host whose name Azure does not allow', (input, name) => {
    const result = parseDestination(input, 'registry.uri');
    expect(result.value).toBeUndefined();
    expect(result.warnings).toEqual([]);
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors;
    expect(error).toMatchObject({ path: 'registry.uri', value: input });
    // An underscore is not a valid host at all, which is said first.
    if (name === null) return expect(error?.message).toMatch(/not a registry host/);
    expect(error?.message).toBe(
      `"${name}" is not a valid Azure Container Registry name: a registry name is 5 to 50 letters and digits, with no hyphens, dots or other characters`,
    );
    expect(error?.expected).toMatch(/5 to 50 letters and digits/);
  });

  test('azureRegistryName reads only azurecr.io hosts, with or without a port', () => {
    expect(azureRegistryName('registry.example.com')).toBeUndefined();
    expect(azureRegistryName('azurecr.io.example.com')).toBeUndefined();
    expect(azureRegistryName('myregistry.azurecr.io')).toEqual({ name: 'myregistry', valid: true });
    expect(azureRegistryName('my-reg.azurecr.io:443')).toEqual({ name: 'my-reg', valid: false });
  });

  test('warns that a registry it cannot identify gets the plain OCI API', () => {
    const result = parseDestination('registry.example.com/team/images');
    expect(result.value?.kind).toBe('oci');
    expect(result.warnings).toHaveLength(1);
  });

  test('reads a host-less name as Docker Hub, with a warning', () => {
    const result = parseDestination('myteam/images');
    expect(result.value?.reference).toBe('docker.io/myteam/images');
    expect(result.warnings[0]?.message).toMatch(/Docker Hub/);
  });
});
