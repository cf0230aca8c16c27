// The agent's checks of a stored build context: its bytes against spec.source.context.digest
// (while it streams in) and its unpacked source against the hash its key names. The archives are
// made as `launch-agent submit` makes them (createContextTar + parallelGzip) and read from a
// directory store (the PVC store's code, on a temporary directory).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { createBuildPlan, createContextTar, parallelGzip } from '@launch-agent/runtime';
import {
  checkContextSourceHash,
  localBuildContext,
  sourceHashInKey,
} from '../src/agent/build-context-source.js';
import { PvcContextStore } from '../src/storage/pvc-context-store.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Packs `src` as submit does into the claim under contexts/<tag>.tar.gz. */
async function submitted(
  claim: string,
  src: string,
  options: { dockerfile?: string; buildArgs?: Record<string, string> } = {},
) {
  const plan = await createBuildPlan({ contextDir: src, cacheDir: false, ...options });
  const tar = createContextTar(plan);
  const bytes = await buffer(parallelGzip(tar.stream));
  const key = `contexts/${plan.tag}.tar.gz`;
  mkdirSync(join(claim, 'contexts'), { recursive: true });
  writeFileSync(join(claim, key), bytes);
  return { key, digest: sha256(bytes), dockerfileName: tar.dockerfileName, plan };
}

function source(files: Record<string, string>): string {
  const src = tempDir('verify-src-');
  for (const [name, body] of Object.entries(files)) writeFileSync(join(src, name), body);
  return src;
}

/** What the agent does: download (digest checked), plan with the job's Dockerfile and args, check the key. */
async function agentChecks(
  store: PvcContextStore,
  context: { key: string; digest?: string },
  dockerfile: string,
  buildArgs: Record<string, string> = {},
) {
  const local = await localBuildContext(store, context);
  try {
    const plan = await createBuildPlan({
      contextDir: local.directory,
      contextDockerfile: dockerfile,
      buildArgs,
      cacheDir: false,
    });
    checkContextSourceHash(context.key, plan);
    return plan;
  } finally {
    await local.cleanup();
  }
}

describe('stored context verification', () => {
  it('accepts a context as submitted: the digest matches and it unpacks to the source its key names', async () => {
    const claim = tempDir('verify-claim-');
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const up = await submitted(claim, source({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a\n' }));
    const plan = await agentChecks(store, up, up.dockerfileName);
    expect(plan.tag).toBe(up.plan.tag);
  });

  it('accepts a context submitted with a Dockerfile from outside it, and with build args', async () => {
    const claim = tempDir('verify-claim-');
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const outside = tempDir('verify-df-');
    writeFileSync(join(outside, 'Dockerfile.train'), 'FROM scratch\nARG LR\n');
    const up = await submitted(claim, source({ 'a.txt': 'a\n' }), {
      dockerfile: join(outside, 'Dockerfile.train'),
      buildArgs: { LR: '0.1' },
    });
    expect(up.dockerfileName).toMatch(/^\.launch-agent-dockerfile-/);
    await expect(agentChecks(store, up, up.dockerfileName, { LR: '0.1' })).resolves.toBeDefined();
    // Other build args are another source: the key does not name it.
    await expect(agentChecks(store, up, up.dockerfileName, { LR: '0.2' })).rejects.toMatchObject({
      reason: 'BuildContextMismatch',
      message: expect.stringContaining('source hash'),
    });
  });

  it('refuses bytes that changed after submit, naming the digest check', async () => {
    const claim = tempDir('verify-claim-');
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const up = await submitted(claim, source({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a\n' }));
    // Another valid archive in its place: only the digest tells them apart before unpacking.
    const otherClaim = tempDir('verify-other-');
    const other = await submitted(
      otherClaim,
      source({ Dockerfile: 'FROM scratch\n', 'a.txt': 'b\n' }),
    );
    writeFileSync(join(claim, up.key), readFileSync(join(otherClaim, other.key)));
    await expect(agentChecks(store, up, up.dockerfileName)).rejects.toMatchObject({
      reason: 'BuildContextMismatch',
      message: expect.stringMatching(
        /^archive digest: .* but spec\.source\.context\.digest is sha256:/,
      ),
    });
  });

  it('refuses a context whose content is not the source its key names, naming the source-hash check', async () => {
    const claim = tempDir('verify-claim-');
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: claim });
    const real = await submitted(claim, source({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a\n' }));
    const planted = await submitted(
      claim,
      source({ Dockerfile: 'FROM scratch\n', 'a.txt': 'evil\n' }),
    );
    // The planted archive under the real source's key, with its own (correct) digest.
    writeFileSync(join(claim, real.key), readFileSync(join(claim, planted.key)));
    await expect(
      agentChecks(store, { key: real.key, digest: planted.digest }, real.dockerfileName),
    ).rejects.toMatchObject({
      reason: 'BuildContextMismatch',
      message: expect.stringContaining(
        `source hash: the build context ${real.key} unpacks to source ${planted.plan.tag}`,
      ),
    });
  });

  it('refuses a context that can be checked against nothing, before reading it', async () => {
    const store = new PvcContextStore({ claim: 'c', prefix: '', mountPath: tempDir('verify-') });
    await expect(localBuildContext(store, { key: 'uploads/model.tar.gz' })).rejects.toMatchObject({
      reason: 'BuildContextUnverified',
    });
  });

  it('reads the source hash from keys submit writes, and none from other keys', () => {
    const tag = 'a'.repeat(32);
    expect(sourceHashInKey(`contexts/${tag}.tar.gz`)).toBe(tag);
    expect(sourceHashInKey(`${'b'.repeat(64)}.tar.gz`)).toBe('b'.repeat(64));
    expect(sourceHashInKey('contexts/0000.tar.gz')).toBeUndefined();
    expect(sourceHashInKey(`contexts/x${tag}.tar.gz`)).toBeUndefined();
    expect(sourceHashInKey(`contexts/${tag}.tar`)).toBeUndefined();
  });
});
