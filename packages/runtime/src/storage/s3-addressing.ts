// Where S3 requests go, apart from the S3 store itself: the kaniko builder passes the same
// endpoint and style to its pods, and must not load the AWS SDK to find them.

export interface S3AddressingOptions {
  /** builder.s3-endpoint; default AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else Amazon S3. */
  endpoint?: string;
  /** builder.s3-addressing-style; default path with an endpoint, virtual for Amazon S3. */
  addressingStyle?: 'path' | 'virtual';
}

/** Where S3 requests go and how they name the bucket; kaniko pods get the same. */
export interface S3Addressing {
  endpoint?: string;
  pathStyle: boolean;
}

/**
 * The endpoint (config, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL) and the addressing
 * style (config; else path-style with an endpoint, which emulators and MinIO need, and
 * virtual-hosted for Amazon S3).
 */
export function s3Addressing(
  options: S3AddressingOptions,
  env: NodeJS.ProcessEnv = process.env,
): S3Addressing {
  const endpoint = options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const pathStyle = options.addressingStyle
    ? options.addressingStyle === 'path'
    : endpoint !== undefined;
  return { ...(endpoint ? { endpoint } : {}), pathStyle };
}
