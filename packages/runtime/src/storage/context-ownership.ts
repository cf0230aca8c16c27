// Who may have a stored context deleted. A LaunchJob names a context by key, and anyone who can
// create a LaunchJob can name any key: the name proves nothing. What proves that a job's
// submission wrote the object is a random upload token: `launch-agent submit` makes one per
// upload, stores its SHA-256 and the LaunchJob's namespace in the object's metadata, and puts
// the token itself in the LaunchJob (spec.source.context.uploadToken). The agent deletes a
// context for a job only when the object's metadata holds the hash of that job's token and the
// job's namespace: a reader of the store sees only the hash, and a submission that reused an
// object it did not write carries no token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CONTEXT_METADATA, type StoredObject } from './context-store.js';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A new upload token: 32 random bytes, base64url (43 characters). */
export function newUploadToken(): string {
  return randomBytes(32).toString('base64url');
}

/** `sha256:<hex>` of a token: what the object's metadata keeps. */
export function uploadTokenHash(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** The metadata `launch-agent submit` stores with a context it uploads. */
export function contextUploadMetadata(upload: {
  namespace: string;
  uploadToken: string;
}): Record<string, string> {
  return {
    [CONTEXT_METADATA.namespace]: upload.namespace,
    [CONTEXT_METADATA.uploadTokenHash]: uploadTokenHash(upload.uploadToken),
  };
}

export type UploadProof = { proven: true } | { proven: false; why: string };

/**
 * Whether `stored` is the object the job's own submission uploaded: its metadata names the job's
 * namespace and the hash of the job's upload token.
 */
export function provesUpload(
  stored: StoredObject,
  job: { namespace: string | undefined; uploadToken: string | undefined },
): UploadProof {
  if (job.uploadToken === undefined) {
    return {
      proven: false,
      why: 'the job carries no upload token (its submission reused a stored context, or it was written by hand)',
    };
  }
  if (!TOKEN.test(job.uploadToken)) {
    return {
      proven: false,
      why: 'the job carries an upload token that is not one launch-agent submit makes',
    };
  }
  const storedHash = stored.metadata[CONTEXT_METADATA.uploadTokenHash];
  if (storedHash === undefined) {
    return { proven: false, why: 'the stored object records no upload token' };
  }
  const expected = Buffer.from(uploadTokenHash(job.uploadToken));
  const actual = Buffer.from(storedHash);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return {
      proven: false,
      why: "the stored object was uploaded with another token than the job's",
    };
  }
  if (stored.metadata[CONTEXT_METADATA.namespace] !== job.namespace) {
    return {
      proven: false,
      why: "the stored object was uploaded for another namespace than the job's",
    };
  }
  return { proven: true };
}
