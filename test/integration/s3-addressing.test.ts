// The S3 context store in both addressing styles against moto. moto serves virtual-hosted style
// when the bucket is the first label of the Host header (and the rest is not an IP address);
// `<bucket>.localhost` does not resolve on every system, so these clients resolve every name
// to 127.0.0.1 themselves. Each request's host and path are recorded, so the test sees which
// style went over the wire, not only that the round trip worked.
import { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  S3ContextStore,
  s3ClientConfig,
} from '../../packages/runtime/src/storage/s3-context-store.js';
import { requireServices, uniqueName } from './testenv.js';

const toLoopback: LookupFunction = (_hostname, options, callback) => {
  if ((options as { all?: boolean }).all) {
    (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(
      null,
      [{ address: '127.0.0.1', family: 4 }],
    );
  } else callback(null, '127.0.0.1', 4);
};

interface Wire {
  host: string;
  path: string;
}

function recordingClient(options: Parameters<typeof s3ClientConfig>[0], wire: Wire[]): S3Client {
  const client = new S3Client({
    ...s3ClientConfig(options),
    requestHandler: { httpAgent: new Agent({ lookup: toLoopback }) },
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { hostname: string; path: string };
      wire.push({ host: request.hostname, path: request.path });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordHost' },
  );
  return client;
}

describe('S3 context store addressing styles (moto)', () => {
  const bucket = uniqueName('ctx-style');
  let endpoint: string;

  beforeAll(async () => {
    const env = await requireServices('aws');
    // localhost:PORT: moto reads a bare "localhost" Host as path style, and "<bucket>.localhost"
    // as virtual-hosted style with that bucket.
    endpoint = env.awsEndpoint.replace('127.0.0.1', 'localhost');
    const admin = recordingClient({ endpoint, addressingStyle: 'path' }, []);
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
  });

  interface StyleCase {
    style: 'path' | 'virtual';
    /** The Host the request must go to. */
    host: (bucket: string) => string;
    /** Whether the request path names the bucket as that style does. */
    pathOk: (bucket: string, path: string) => boolean;
  }
  const cases: StyleCase[] = [
    { style: 'path', host: () => 'localhost', pathOk: (b, p) => p.startsWith(`/${b}/`) },
    { style: 'virtual', host: (b) => `${b}.localhost`, pathOk: (b, p) => !p.includes(b) },
  ];

  it.each(cases)(
    '$style style: puts, checks, reads and deletes',
    async ({ style, host, pathOk }) => {
      const wire: Wire[] = [];
      const client = recordingClient({ endpoint, addressingStyle: style }, wire);
      const store = new S3ContextStore({ bucket, prefix: `style-${style}`, client });
      const body = Buffer.from(`context for ${style} style`);
      await store.put('run.tgz', body);
      expect(await store.exists('run.tgz')).toBe(true);
      const chunks: Buffer[] = [];
      for await (const chunk of await store.open('run.tgz')) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe(body.toString());
      await store.delete('run.tgz');
      expect(await store.exists('run.tgz')).toBe(false);
      client.destroy();

      expect(wire.length).toBeGreaterThanOrEqual(4);
      for (const request of wire) {
        expect(request.host).toBe(host(bucket));
        expect(pathOk(bucket, request.path)).toBe(true);
      }
    },
  );

  it('defaults to path style with an endpoint and virtual-hosted style without one', () => {
    expect(s3ClientConfig({ endpoint }, {}).forcePathStyle).toBe(true);
    expect(s3ClientConfig({}, {}).forcePathStyle).toBe(false);
    expect(s3ClientConfig({ endpoint, addressingStyle: 'virtual' }, {}).forcePathStyle).toBe(false);
  });
});
