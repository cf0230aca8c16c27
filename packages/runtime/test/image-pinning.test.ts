// Image references pinned by digest, and what the agent runs when a digest is or is not known.
// resolvePrebuiltImage talks to a local HTTP server that speaks the manifest HEAD of the OCI
// distribution API (the integration tests use a real registry).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isImageDigest, parseImageReference, pinImage } from '../src/registries/image-reference.js';
import { requirePinnedDigest, resolvePrebuiltImage } from '../src/agent/image-pinning.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['busybox', { name: 'busybox' }],
    ['busybox:1.36', { name: 'busybox', tag: '1.36' }],
    ['localhost:5000/team/app', { name: 'localhost:5000/team/app' }],
    ['localhost:5000/team/app:abc', { name: 'localhost:5000/team/app', tag: 'abc' }],
    [`localhost:5000/team/app@${D1}`, { name: 'localhost:5000/team/app', digest: D1 }],
    [`r.io/a:t@${D1}`, { name: 'r.io/a', tag: 't', digest: D1 }],
  ])('parses %s', (reference, parts) => {
    expect(parseImageReference(reference)).toEqual(parts);
  });

  it('refuses a digest that is not sha256 and 64 lowercase hex, and empty names or tags', () => {
    expect(() => parseImageReference('r.io/a@sha256:abc')).toThrow(/"sha256:abc" is not a digest/);
    expect(() => parseImageReference(`r.io/a@md5:${'1'.repeat(32)}`)).toThrow(/not a digest/);
    expect(() => parseImageReference('r.io/a:')).toThrow(/has no tag/);
    expect(isImageDigest(D1.toUpperCase())).toBe(false);
  });

  it('pins a tag to a digest, keeps the tag for people, and never swaps a digest already there', () => {
    expect(pinImage('localhost:5000/app:abc', D1)).toBe(`localhost:5000/app:abc@${D1}`);
    expect(pinImage('localhost:5000/app', D1)).toBe(`localhost:5000/app@${D1}`);
    expect(pinImage(`r.io/a@${D1}`, D1)).toBe(`r.io/a@${D1}`);
    expect(() => pinImage(`r.io/a@${D1}`, D2)).toThrow(`is pinned to ${D1}, not to ${D2}`);
    expect(() => pinImage('r.io/a:t', 'sha256:built')).toThrow(/not a digest/);
  });
});

describe('requirePinnedDigest', () => {
  it('passes a report with a digest and fails one without, with ImageDigestUnknown', () => {
    expect(() =>
      requirePinnedDigest({ image: 'r.io/a:t', digest: D1, status: 'built' }),
    ).not.toThrow();
    expect(() => requirePinnedDigest({ image: 'r.io/a:t', status: 'reused' })).toThrow(
      expect.objectContaining({
        reason: 'ImageDigestUnknown',
        message: expect.stringContaining('no manifest digest for r.io/a:t (when it was found)'),
      }),
    );
    expect(() =>
      requirePinnedDigest({ image: 'r.io/a:t', digest: 'sha256:nope', status: 'built' }),
    ).toThrow(expect.objectContaining({ reason: 'ImageDigestUnknown' }));
  });
});

describe('resolvePrebuiltImage', () => {
  let server: http.Server;
  let host: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/team/app/manifests/v1') {
        return void res.writeHead(200, { 'Docker-Content-Digest': D2 }).end();
      }
      if (req.url === '/v2/team/app/manifests/latest') {
        return void res.writeHead(200, { 'Docker-Content-Digest': D1 }).end();
      }
      if (req.url === '/v2/team/private/manifests/v1') return void res.writeHead(403).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('keeps a digest the image carries without asking the registry', async () => {
    seen.length = 0;
    await expect(resolvePrebuiltImage(`${host}/team/app:v1@${D1}`)).resolves.toEqual({
      digest: D1,
    });
    expect(seen).toEqual([]);
  });

  it('resolves a tag (latest when none) to the digest the registry answers now', async () => {
    await expect(resolvePrebuiltImage(`${host}/team/app:v1`)).resolves.toEqual({ digest: D2 });
    await expect(resolvePrebuiltImage(`${host}/team/app`)).resolves.toEqual({ digest: D1 });
  });

  it('runs by tag, saying why, when the registry refuses, lacks the tag or cannot be reached', async () => {
    await expect(resolvePrebuiltImage(`${host}/team/private:v1`)).resolves.toEqual({
      pinNote: expect.stringMatching(/^runs by tag: the agent could not resolve .*HTTP 403/),
    });
    await expect(resolvePrebuiltImage(`${host}/team/gone:v1`)).resolves.toEqual({
      pinNote: expect.stringContaining('does not exist'),
    });
    await expect(resolvePrebuiltImage('127.0.0.1:1/team/app:v1')).resolves.toEqual({
      pinNote: expect.stringContaining('is not reachable'),
    });
  });
});
