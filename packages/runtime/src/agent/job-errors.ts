import { BuildPlanError } from '../context/build-plan.js';
import { BuildFailedError, BuilderUnavailableError, PushFailedError } from '../builders/builder.js';
import { KubeRequestError } from '../kubernetes/raw-request.js';
import { RegistryError } from '../registries/registry.js';
import { BuildContextUnavailableError } from './build-context-source.js';

/** The job cannot run as asked; `reason` goes into status.conditions. */
export class JobRejectedError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobRejectedError';
  }
}

/** The condition reason a failed job gets, from what failed. */
export function failureReason(error: unknown): string {
  if (error instanceof JobRejectedError || error instanceof BuildContextUnavailableError)
    return error.reason;
  if (error instanceof BuildFailedError) return 'BuildFailed';
  if (error instanceof PushFailedError) return 'PushFailed';
  if (error instanceof BuilderUnavailableError) return 'BuilderUnavailable';
  if (error instanceof BuildPlanError) return 'InvalidBuildContext';
  if (error instanceof RegistryError) return 'RegistryUnavailable';
  return 'AgentError';
}

/** The status reason for a create the API server refused with `code`. */
export function createRefusalReason(code: number, error: unknown): string {
  const reason = error instanceof KubeRequestError ? error.reason : undefined;
  const text = error instanceof Error ? error.message : '';
  if (code === 403 && /exceeded quota|quota/i.test(text)) return 'QuotaExceeded';
  if (code === 403) return 'Forbidden';
  if (code === 404) return 'NamespaceNotFound';
  if (code === 422 || reason === 'Invalid') return 'RunJobInvalid';
  return reason ?? `RunJobRefused${code}`;
}
