// How S3 requests are addressed, without the S3 SDK: the agent's store and the kaniko pods'
// environment both need it, and the kaniko side must not load the SDK to know it.

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
  options: { endpoint?: string; addressingStyle?: 'path' | 'virtual' },
  env: NodeJS.ProcessEnv = process.env,
): S3Addressing {
  const endpoint = options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const pathStyle = options.addressingStyle
    ? options.addressingStyle === 'path'
    : endpoint !== undefined;
  return { ...(endpoint ? { endpoint } : {}), pathStyle };
}
