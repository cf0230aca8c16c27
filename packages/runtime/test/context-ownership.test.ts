// The proof that a job's own submission uploaded a stored context, which the agent requires
// before it deletes the context with the job; and the PVC store's write-once puts and
// version-conditioned deletes, on a temporary directory (the cloud stores are tested against
// their emulators in test/integration/context-store-write-once.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  contextUploadMetadata,
  newUploadToken,
  provesUpload,
  uploadTokenHash,
} from '../src/storage/context-ownership.js';
import { CONTEXT_METADATA } from '../src/storage/context-store.js';
import { PvcContextStore } from '../src/storage/pvc-context-store.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('provesUpload', () => {
  const token = newUploadToken();
  const stored = {
    metadata: contextUploadMetadata({ namespace: 'team-a', uploadToken: token }),
    version: '1',
  };

  it('holds for the job whose token and namespace the object records', () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(stored.metadata[CONTEXT_METADATA.uploadTokenHash]).toBe(uploadTokenHash(token));
    expect(JSON.stringify(stored.metadata)).not.toContain(token);
    expect(provesUpload(stored, { namespace: 'team-a', uploadToken: token })).toEqual({
      proven: true,
    });
  });

  it.each([
    ['no token', { namespace: 'team-a' }, 'carries no upload token'],
    [
      'the hash instead of the token',
      { namespace: 'team-a', uploadToken: uploadTokenHash(token) },
      'not one launch-agent submit makes',
    ],
    ['another token', { namespace: 'team-a', uploadToken: newUploadToken() }, 'another token'],
    ['another namespace', { namespace: 'team-b', uploadToken: token }, 'another namespace'],
  ])('fails for a job with %s', (_what, job, why) => {
    const proof = provesUpload(stored, {
      namespace: job.namespace,
      uploadToken: 'uploadToken' in job ? job.uploadToken : undefined,
    });
    expect(proof).toEqual({ proven: false, why: expect.stringContaining(why) });
  });

  it('fails for an object that records no token', () => {
    expect(
      provesUpload({ metadata: {}, version: '1' }, { namespace: 'team-a', uploadToken: token }),
    ).toEqual({
      proven: false,
      why: 'the stored object records no upload token',
    });
  });
});

describe('PVC store: written once, deleted by version', () => {
  it('never overwrites a key, keeps the first bytes and metadata, and deletes only the version it was given', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'pvc-once-'));
    dirs.push(mount);
    const store = new PvcContextStore({ claim: 'c', prefix: 'p', mountPath: mount });
    await store.put('contexts/a.tar.gz', Buffer.from('first'), { metadata: { owner: 'one' } });
    await expect(
      store.put('contexts/a.tar.gz', Buffer.from('second'), { metadata: { owner: 'two' } }),
    ).rejects.toMatchObject({ name: 'ContextExistsError' });
    expect((await buffer(await store.open('contexts/a.tar.gz'))).toString()).toBe('first');
    const first = await store.stat('contexts/a.tar.gz');
    expect(first).toEqual({ metadata: { owner: 'one' }, version: expect.any(String) });
    await expect(
      store.delete('contexts/a.tar.gz', { ifVersion: `${first!.version}0` }),
    ).resolves.toBe(false);
    expect(await store.exists('contexts/a.tar.gz')).toBe(true);
    await expect(store.delete('contexts/a.tar.gz', { ifVersion: first!.version })).resolves.toBe(
      true,
    );
    expect(await store.stat('contexts/a.tar.gz')).toBeUndefined();
    await expect(
      store.put('contexts/b', Buffer.from('x'), { metadata: { 'Bad-Name': 'x' } }),
    ).rejects.toThrow('is not lowercase letters and digits');
  });
});
