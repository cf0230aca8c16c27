// Images written straight through the OCI distribution API of a test registry: what someone with
// push rights can do to a tag (push another image under it) without a Docker engine. The image is
// one small layer and a config; `marker` makes each one a different manifest.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface RegistryLogin {
  user: string;
  password: string;
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function headers(login: RegistryLogin | undefined): Record<string, string> {
  if (!login) return {};
  const basic = Buffer.from(`${login.user}:${login.password}`).toString('base64');
  return { Authorization: `Basic ${basic}` };
}

async function pushBlob(
  host: string,
  repository: string,
  bytes: Buffer,
  login?: RegistryLogin,
): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`http://${host}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    headers: headers(login),
  });
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers(login), 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}`);
  return digest;
}

/** Pushes a one-layer image as `repository:tag`; returns its manifest digest. */
export async function pushTestImage(
  host: string,
  repository: string,
  tag: string,
  options: { marker: string; login?: RegistryLogin },
): Promise<string> {
  const { login } = options;
  // A tar holding nothing but its end-of-archive blocks, gzipped: the smallest valid layer.
  const layer = gzipSync(Buffer.alloc(1024));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { marker: options.marker } },
      rootfs: { type: 'layers', diff_ids: [sha256(Buffer.alloc(1024))] },
    }),
  );
  const layerDigest = await pushBlob(host, repository, layer, login);
  const configDigest = await pushBlob(host, repository, config, login);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: layerDigest,
          size: layer.length,
        },
      ],
    }),
  );
  const put = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers(login), 'Content-Type': MANIFEST_TYPE },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`manifest put: HTTP ${put.status} ${await put.text()}`);
  return sha256(manifest);
}

/** The digest the registry answers for `repository:tag` now. */
export async function tagDigest(
  host: string,
  repository: string,
  tag: string,
  login?: RegistryLogin,
): Promise<string> {
  const head = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      ...headers(login),
      Accept: [
        MANIFEST_TYPE,
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  if (head.status !== 200)
    throw new Error(`manifest head ${repository}:${tag}: HTTP ${head.status}`);
  return head.headers.get('docker-content-digest')!;
}
