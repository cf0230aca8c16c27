// The one place that decides what counts as a secret in text the agent and the CLI print:
// config problems, `render` and `validate` errors, and the agent's log lines all pass through
// here, so a secret never reaches a terminal, a log or a LaunchJob's status.

export const REDACTED = '[redacted]';

/**
 * Key names whose values are secret: `*secret*`, `*password*`, `*token*`, `*key*` (API, access
 * and private keys), `auth`/`auths` (docker config), credentials and authorization headers.
 */
const SECRET_KEY = /secret|passw(or)?d|passwd|token|credential|authorization|^auths?$|key/i;

/** True when a value stored under `name` (a key, an environment variable) is secret. */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

// user:password@ in any scheme:// URL.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@\s/]+@/gi;
// The signing part of signed URLs: Azure SAS (sig), S3 (X-Amz-*), GCS (X-Goog-*), and tokens.
const QUERY_SECRET =
  /([?&](?:sig|signature|token|access_token|code|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential)=)[^&\s"'\\]+/gi;
// KEY=VALUE as `--set` and env files write it, when the key (or its last dotted part) is secret.
const ASSIGNMENT =
  /((?:^|[\s,"'{])[A-Za-z0-9_.[\]-]*(?:secret|passw(?:or)?d|token|credential|key|auth)[A-Za-z0-9_.[\]-]*=)(?!\[redacted\])[^\s,"']*/gi;
// "auth": "…", "password": "…" inside JSON text (a docker config.json), quotes escaped or not.
const JSON_SECRET =
  /(\\?"(?:auth|password|identitytoken|registrytoken|secret|token)\\?"\s*:\s*\\?")(?:[^"\\]|\\[^"])*/gi;

/** `text` with URL passwords, signed-URL signatures, secret assignments and docker auths replaced. */
export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(QUERY_SECRET, `$1${REDACTED}`)
    .replace(JSON_SECRET, `$1${REDACTED}`)
    .replace(ASSIGNMENT, `$1${REDACTED}`);
}

/** A deep copy of `value` with secret-looking keys' values replaced and every string redacted. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactText(value.message);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    // Kubernetes EnvVar objects: {name: "API_TOKEN", value: "..."}.
    const isEnvVar = key === 'value' && typeof (value as { name?: unknown }).name === 'string';
    const secretName = isEnvVar && isSecretKey((value as { name: string }).name);
    out[key] = isSecretKey(key) || secretName ? REDACTED : redactValue(item, depth + 1);
  }
  return out;
}
