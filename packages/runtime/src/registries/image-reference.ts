// Image references and the manifest digests that pin them. A tag can be moved by anyone who can
// push to the repository; a digest names one manifest for good. The agent runs every image it
// can by `name[:tag]@sha256:...` so what runs is what was built, resolved or asked for.

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Whether `value` is a manifest digest as the agent accepts one (`sha256:` and 64 lowercase hex). */
export function isImageDigest(value: string | undefined): value is string {
  return value !== undefined && DIGEST.test(value);
}

/** The parts of `[host[:port]/]path[:tag][@digest]`. */
export interface ImageReferenceParts {
  /** `[host[:port]/]path`, without tag or digest. */
  name: string;
  tag?: string;
  digest?: string;
}

/** Splits an image reference; a digest that is not `sha256:<64 hex>` is an error naming it. */
export function parseImageReference(reference: string): ImageReferenceParts {
  const at = reference.indexOf('@');
  const digest = at === -1 ? undefined : reference.slice(at + 1);
  const named = at === -1 ? reference : reference.slice(0, at);
  if (digest !== undefined && !isImageDigest(digest)) {
    throw new Error(
      `image reference ${reference}: "${digest}" is not a digest (expected sha256: and 64 lowercase hex digits)`,
    );
  }
  // A colon after the last slash starts the tag; one before it is the registry's port.
  const colon = named.lastIndexOf(':');
  const tag = colon > named.lastIndexOf('/') ? named.slice(colon + 1) : undefined;
  const name = tag === undefined ? named : named.slice(0, colon);
  if (name === '' || tag === '') {
    throw new Error(`image reference ${reference} has no ${name === '' ? 'name' : 'tag'}`);
  }
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/**
 * `image@digest`: the reference a run Job's container pulls. The tag stays in it for people
 * (`repo:tag@sha256:...`); the runtime pulls by the digest alone. An image that carries a digest
 * already keeps it, and a different one is an error: the agent never runs other than what it
 * recorded.
 */
export function pinImage(image: string, digest: string): string {
  if (!isImageDigest(digest)) {
    throw new Error(
      `cannot pin ${image} to "${digest}": not a digest (expected sha256: and 64 lowercase hex digits)`,
    );
  }
  const parts = parseImageReference(image);
  if (parts.digest !== undefined) {
    if (parts.digest !== digest) {
      throw new Error(`${image} is pinned to ${parts.digest}, not to ${digest}`);
    }
    return image;
  }
  return `${image}@${digest}`;
}
