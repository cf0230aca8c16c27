// The PVC context store against a temporary directory standing in for the mounted claim.
import { chmodSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ContextStoreError } from '../../packages/runtime/src/storage/context-store.js';
import { PvcContextStore } from '../../packages/runtime/src/storage/pvc-context-store.js';

test('puts a stream under the prefix, checks, deletes; kaniko reads it as tar://', async () => {
  const mount = mkdtempSync(join(tmpdir(), 'pvc-'));
  const store = new PvcContextStore({
    claim: 'launch-contexts',
    prefix: 'builds',
    mountPath: mount,
  });
  const progress: number[] = [];
  const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(500, 2)];
  expect(await store.exists('run-1.tgz')).toBe(false);
  await store.put('run-1.tgz', Readable.from(chunks), { onProgress: (n) => progress.push(n) });
  expect(await store.exists('run-1.tgz')).toBe(true);
  expect(readFileSync(join(mount, 'builds', 'run-1.tgz'))).toEqual(Buffer.concat(chunks));
  expect(progress).toEqual([1000, 1500]);
  // No partial file is left behind.
  expect(readdirSync(join(mount, 'builds'))).toEqual(['run-1.tgz']);
  expect(store.uri('run-1.tgz')).toBe('tar:///context/builds/run-1.tgz');
  await store.delete('run-1.tgz');
  expect(await store.exists('run-1.tgz')).toBe(false);
  await store.delete('run-1.tgz');
});

test('keys may not escape the prefix', async () => {
  const store = new PvcContextStore({
    claim: 'c',
    prefix: '',
    mountPath: mkdtempSync(join(tmpdir(), 'pvc-')),
  });
  await expect(store.put('../escape.tgz', Buffer.from('x'))).rejects.toThrow(
    /not a valid context key/,
  );
  await expect(store.put('/abs.tgz', Buffer.from('x'))).rejects.toThrow(/not a valid context key/);
});

test('a missing mount or a read-only one says how to mount the claim', async () => {
  const missing = new PvcContextStore({
    claim: 'c',
    prefix: '',
    mountPath: '/nonexistent/launch-contexts',
  });
  const error = await missing.put('x.tgz', Buffer.from('x')).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ContextStoreError);
  expect((error as Error).message).toContain('Mount the claim c at builder.context-pvc-mount-path');

  if (process.getuid?.() === 0) return; // root writes through permission bits
  const mount = mkdtempSync(join(tmpdir(), 'pvc-ro-'));
  chmodSync(mount, 0o555);
  const readOnly = new PvcContextStore({ claim: 'c', prefix: 'p', mountPath: mount });
  await expect(readOnly.put('x.tgz', Buffer.from('x'))).rejects.toThrow(/read-write/);
});
