import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
} from '@aws-sdk/client-ecr';
import type { Destination } from '@launch-agent/config';
import {
  BaseRegistry,
  RegistryAuthError,
  RegistryCredentials,
  RegistryError,
  type ImageLookup,
  type TagMutability,
} from './registry.js';

export interface EcrRegistryOptions {
  /** Create the repository before the first push when it is missing (`builder.create-repository`). */
  createRepository?: boolean;
  /**
   * ECR API endpoint. Default: `AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`, else the regional
   * AWS endpoint. Made explicit (rather than left to the SDK) so tests and emulators can rely on it.
   */
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
  /** A prepared client (tests); otherwise one is made with the default credential chain. */
  client?: ECRClient;
}

/** The ECR API endpoint the registry will use, or undefined for the SDK's regional default. */
export function ecrEndpoint(
  options: Pick<EcrRegistryOptions, 'endpoint' | 'env'> = {},
): string | undefined {
  const env = options.env ?? process.env;
  return options.endpoint || env.AWS_ENDPOINT_URL_ECR || env.AWS_ENDPOINT_URL || undefined;
}

function errorName(error: unknown): string {
  return (error as { name?: string }).name ?? '';
}

/**
 * Amazon ECR: DescribeImages by tag for existence, GetAuthorizationToken for push credentials,
 * both through the AWS SDK's default credential chain (environment, shared config and SSO,
 * web identity / IRSA, container and instance metadata).
 */
export class EcrRegistry extends BaseRegistry {
  private readonly client: ECRClient;
  private readonly account: string;
  private readonly region: string;

  constructor(
    destination: Destination,
    private readonly options: EcrRegistryOptions = {},
  ) {
    super(destination);
    if (!destination.ecr) throw new Error(`${destination.reference} is not an ECR destination`);
    this.account = destination.ecr.account;
    this.region = destination.ecr.region;
    const endpoint = ecrEndpoint(options);
    this.client =
      options.client ?? new ECRClient({ region: this.region, ...(endpoint ? { endpoint } : {}) });
  }

  private translate(error: unknown, doing: string): RegistryError {
    const name = errorName(error);
    const host = this.destination.host;
    if (
      name === 'CredentialsProviderError' ||
      /Could not load credentials/i.test((error as Error).message ?? '')
    ) {
      return new RegistryAuthError(
        `no AWS credentials were found for ${doing}`,
        host,
        'Provide credentials through the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA (a service-account role) or an instance role',
        { cause: error },
      );
    }
    if (
      name === 'AccessDeniedException' ||
      name === 'UnrecognizedClientException' ||
      name === 'ExpiredTokenException'
    ) {
      return new RegistryAuthError(
        `AWS refused ${doing} (${name})`,
        host,
        `Grant ecr:DescribeImages, ecr:DescribeRepositories, ecr:GetAuthorizationToken and the push actions on arn:aws:ecr:${this.region}:${this.account}:repository/${this.destination.repository}`,
        { cause: error },
      );
    }
    return new RegistryError(
      `ECR failed ${doing}: ${(error as Error).message}`,
      host,
      'Check the region and account in builder.destination',
      {
        cause: error,
      },
    );
  }

  async exists(tag: string): Promise<ImageLookup> {
    try {
      const result = await this.client.send(
        new DescribeImagesCommand({
          registryId: this.account,
          repositoryName: this.destination.repository,
          imageIds: [{ imageTag: tag }],
        }),
      );
      const digest = result.imageDetails?.[0]?.imageDigest;
      return { exists: (result.imageDetails?.length ?? 0) > 0, ...(digest ? { digest } : {}) };
    } catch (error) {
      const name = errorName(error);
      // A missing repository holds no images; prepareForPush decides whether that is fatal.
      if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException')
        return { exists: false };
      throw this.translate(error, `checking ${this.imageReference(tag)}`);
    }
  }

  override async prepareForPush(): Promise<void> {
    const repositoryName = this.destination.repository;
    try {
      await this.client.send(
        new DescribeRepositoriesCommand({
          registryId: this.account,
          repositoryNames: [repositoryName],
        }),
      );
      return;
    } catch (error) {
      if (errorName(error) !== 'RepositoryNotFoundException')
        throw this.translate(error, `looking up repository ${repositoryName}`);
    }
    if (!this.options.createRepository) {
      throw new RegistryError(
        `ECR repository ${repositoryName} does not exist in account ${this.account}, region ${this.region}`,
        this.destination.host,
        'Create it (aws ecr create-repository --repository-name ' +
          `${repositoryName} --region ${this.region}), or set builder.create-repository: true to let the agent create it (needs ecr:CreateRepository)`,
      );
    }
    try {
      await this.client.send(
        // Tags stay mutable (ECR's default): two agents building the same source at once both push the same tag.
        new CreateRepositoryCommand({
          registryId: this.account,
          repositoryName,
          imageTagMutability: 'MUTABLE',
        }),
      );
    } catch (error) {
      // Another agent may have created it in the meantime.
      if (errorName(error) !== 'RepositoryAlreadyExistsException')
        throw this.translate(error, `creating repository ${repositoryName}`);
    }
  }

  /** DescribeRepositories' imageTagMutability; undefined when the repository does not exist yet. */
  async tagMutability(): Promise<TagMutability | undefined> {
    const repositoryName = this.destination.repository;
    try {
      const result = await this.client.send(
        new DescribeRepositoriesCommand({
          registryId: this.account,
          repositoryNames: [repositoryName],
        }),
      );
      // ECR's default, when a repository reports none, is MUTABLE.
      const setting = result.repositories?.[0]?.imageTagMutability ?? 'MUTABLE';
      // MUTABLE_WITH_EXCLUSION and IMMUTABLE_WITH_EXCLUSION leave some tags the other way.
      return { mutable: setting !== 'IMMUTABLE', setting };
    } catch (error) {
      if (errorName(error) === 'RepositoryNotFoundException') return undefined;
      throw this.translate(error, `looking up repository ${repositoryName}`);
    }
  }

  async credentials(): Promise<RegistryCredentials> {
    let token: string | undefined;
    try {
      const result = await this.client.send(new GetAuthorizationTokenCommand({}));
      token = result.authorizationData?.[0]?.authorizationToken;
    } catch (error) {
      throw this.translate(error, 'getting an ECR authorization token');
    }
    const decoded = token ? Buffer.from(token, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon === -1) {
      throw new RegistryAuthError(
        'ECR returned no usable authorization token',
        this.destination.host,
        'Check ecr:GetAuthorizationToken permissions',
      );
    }
    return RegistryCredentials.password(
      this.destination.host,
      decoded.slice(0, colon),
      decoded.slice(colon + 1),
    );
  }
}
