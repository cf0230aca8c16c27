import type { Problem } from '../problems.js';

/** Which registry API the agent uses for a destination. */
export type RegistryKind = 'ecr' | 'artifact-registry' | 'acr' | 'oci';

/** A parsed `builder.destination`: where images are pushed, without a tag. */
export interface Destination {
  kind: RegistryKind;
  /** Registry host, with port when one was given (`localhost:5000`). */
  host: string;
  /** Repository path inside the registry (`team/launch-images`). */
  repository: string;
  /** `host/repository`, the reference every image tag is appended to. */
  reference: string;
  ecr?: { account: string; region: string };
  artifactRegistry?: { location: string; project: string; repository: string; image: string };
  acr?: { registryName: string };
}

export interface ParseResult<T> {
  value?: T;
  errors: Problem[];
  warnings: Problem[];
}

const ECR_HOST =
  /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$/;
const ECR_TYPO_HOST = /^(\d{12})\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;
const AR_HOST = /^([a-z0-9-]+)-docker\.pkg\.dev$/;
const ACR_SUFFIX = '.azurecr.io';
const GCR_HOST = /^(?:[a-z]+\.)?gcr\.io$/;
// One repository path component, as the distribution reference grammar defines it.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

const EXPECTED =
  'a repository without a tag: <account>.dkr.ecr.<region>.amazonaws.com/<repository>, ' +
  '<region>-docker.pkg.dev/<project>/<repository>/<image>, <name>.azurecr.io/<repository>, or host[:port]/path';

/** Azure's rule for a container registry's name, which is the first label of its login server. */
export const ACR_REGISTRY_NAME_RULE =
  'a registry name is 5 to 50 letters and digits, with no hyphens, dots or other characters';
const ACR_REGISTRY_NAME = /^[a-z0-9]{5,50}$/;

/**
 * For a host under azurecr.io, its registry name and whether Azure allows that name; undefined
 * for any other host. The host is compared lowercased, as DNS does: Azure's login servers are
 * the lowercase name.
 */
export function azureRegistryName(host: string): { name: string; valid: boolean } | undefined {
  const hostname = host.toLowerCase().replace(/:\d+$/, '');
  if (!hostname.endsWith(ACR_SUFFIX)) return undefined;
  const name = hostname.slice(0, -ACR_SUFFIX.length);
  return { name, valid: ACR_REGISTRY_NAME.test(name) };
}

/**
 * Parses a destination the way every part of the agent reads it. Ports and nested repository
 * paths work for every registry; a tag or digest is an error because the agent tags each image
 * with its source hash.
 */
export function parseDestination(
  input: string,
  path = 'builder.destination',
): ParseResult<Destination> {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const fail = (message: string, expected = EXPECTED): ParseResult<Destination> => {
    errors.push({ path, message, value: input, expected });
    return { errors, warnings };
  };

  let text = input.trim();
  if (/^http:\/\//i.test(text)) {
    return fail('a destination is a repository, not a URL; only a leading https:// is accepted');
  }
  text = text.replace(/^https:\/\//i, '').replace(/\/+$/, '');
  const authority = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  if (authority.includes('@')) {
    // The value is not repeated: it holds a password.
    errors.push({
      path,
      message:
        'a destination may not carry credentials (user:password@); give registry credentials through a docker config or the cloud identity',
      expected: EXPECTED,
    });
    return { errors, warnings };
  }
  if (text.includes('@')) return fail('a destination may not carry a digest');

  const slash = text.indexOf('/');
  let host: string;
  let repository: string;
  const first = slash === -1 ? text : text.slice(0, slash);
  const looksLikeHost = (part: string) =>
    part.includes('.') ||
    /:\d+$/.test(part) ||
    part === 'localhost' ||
    part.startsWith('localhost:');
  if (slash === -1 && looksLikeHost(first)) {
    return fail('the repository path is missing');
  }
  // Docker's rule: the first component is a registry host when it has a dot or a port or is localhost.
  if (slash !== -1 && looksLikeHost(first)) {
    host = first;
    repository = text.slice(slash + 1);
  } else {
    host = 'docker.io';
    repository = text;
    warnings.push({
      path,
      message: `no registry host given, so this means Docker Hub (docker.io/${text}); write the host explicitly to silence this`,
      value: input,
    });
  }

  if (!HOST.test(host)) return fail(`"${host}" is not a registry host`);
  const lastColon = repository.lastIndexOf(':');
  if (lastColon !== -1) {
    return fail(
      `a destination may not carry a tag (":${repository.slice(lastColon + 1)}"); every image is tagged with its source hash`,
    );
  }
  if (repository === '') return fail('the repository path is missing');
  const components = repository.split('/');
  const bad = components.find((c) => !PATH_COMPONENT.test(c));
  if (bad !== undefined) {
    return fail(
      `repository path component "${bad}" is not valid`,
      'lowercase letters and digits, separated by ".", "_", "__" or "-"',
    );
  }
  host = host.toLowerCase();
  const destination: Destination = {
    kind: 'oci',
    host,
    repository,
    reference: `${host}/${repository}`,
  };

  const ecr = ECR_HOST.exec(host);
  const ar = AR_HOST.exec(host);
  const acr = azureRegistryName(host);
  // An azurecr.io host is never a plain OCI registry: a name Azure cannot have is a typo.
  if (acr && !acr.valid) {
    return fail(
      `"${acr.name}" is not a valid Azure Container Registry name: ${ACR_REGISTRY_NAME_RULE}`,
      '<name>.azurecr.io/<repository>, where <name> is 5 to 50 letters and digits',
    );
  }
  if (ecr) {
    destination.kind = 'ecr';
    destination.ecr = { account: ecr[1]!, region: ecr[2]! };
  } else if (ECR_TYPO_HOST.test(host)) {
    // The W&B launch agent guide's AWS example writes the host without "dkr"; read it as the ECR host meant.
    const [, account, region] = ECR_TYPO_HOST.exec(host)!;
    const fixed = `${account}.dkr.ecr.${region}.amazonaws.com`;
    warnings.push({
      path,
      message: `"${host}" is not an ECR registry host; using ${fixed}, write that to silence this`,
      value: input,
      expected: '<account>.dkr.ecr.<region>.amazonaws.com/<repository>',
    });
    destination.kind = 'ecr';
    destination.host = fixed;
    destination.reference = `${fixed}/${repository}`;
    destination.ecr = { account: account!, region: region! };
  } else if (ar) {
    if (components.length < 3) {
      return fail(
        'an Artifact Registry destination needs the project, the repository and an image name',
        '<region>-docker.pkg.dev/<project>/<repository>/<image>',
      );
    }
    destination.kind = 'artifact-registry';
    destination.artifactRegistry = {
      location: ar[1]!,
      project: components[0]!,
      repository: components[1]!,
      image: components.slice(2).join('/'),
    };
  } else if (acr && !host.includes(':')) {
    destination.kind = 'acr';
    destination.acr = { registryName: acr.name };
  } else if (GCR_HOST.test(host)) {
    warnings.push({
      path,
      message:
        'Google Container Registry (gcr.io) has been shut down in favour of Artifact Registry; pushes may fail',
      value: input,
      expected: '<region>-docker.pkg.dev/<project>/<repository>/<image>',
    });
  } else if (host !== 'docker.io') {
    warnings.push({
      path,
      message: `"${host}" is not ECR, Artifact Registry or ACR; the agent will use the plain OCI distribution API and docker credentials for it`,
      value: input,
    });
  }
  return { value: destination, errors, warnings };
}
