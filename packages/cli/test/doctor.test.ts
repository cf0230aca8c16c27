import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { registerDoctorCommand } from '../src/commands/doctor.js';
import { Output } from '../src/output.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-doctor-')), 'launch-config.yaml');
  writeFileSync(file, text);
  return file;
}

/** Runs `doctor` on a fresh program with a controlled environment (no cluster, no engine). */
async function run(args: string[], env: Record<string, string | undefined>) {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const program = new Command('launch-agent').exitOverride();
  registerDoctorCommand(program, new Output(stdout, stderr, { NO_COLOR: '1' }));
  program.commands[0]!.exitOverride();
  const saved = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  process.exitCode = undefined;
  try {
    await program.parseAsync(['doctor', ...args], { from: 'user' });
    return { code: Number(process.exitCode ?? 0), stdout: out, stderr: err };
  } finally {
    process.env = saved;
    process.exitCode = undefined;
  }
}

const OUTSIDE = { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined };

describe('launch-agent doctor', () => {
  test('noop outside a cluster: everything is skipped, exit 0', async () => {
    const result = await run(['--config', configFile('builder: {type: noop}')], OUTSIDE);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('- registry: the noop builder pushes nothing (skipped)');
    expect(result.stdout).toContain(
      '- Kubernetes: not in a cluster and KUBECONFIG is not set (skipped)',
    );
    expect(result.stderr).toContain('all checks passed');
  });

  test('docker builder with no engine and an unreachable registry: ✗ with fixes, exit 1', async () => {
    const socket = join(tmpdir(), 'no-such-docker.sock');
    const result = await run(
      ['--config', configFile('builder: {type: docker, destination: 127.0.0.1:9/team/images}')],
      { ...OUTSIDE, DOCKER_HOST: `unix://${socket}` },
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`^✗ no Docker engine answers at unix://${socket}`, 'm'),
    );
    expect(result.stdout).toContain('    fix: Start the Docker engine or point DOCKER_HOST at one');
    expect(result.stdout).toMatch(
      /^✗ registry 127\.0\.0\.1:9\/team\/images: registry 127\.0\.0\.1:9 is not reachable/m,
    );
    expect(result.stderr).toContain('2 checks failed');
  });

  test('kaniko with an unmounted PVC store fails the store check; --format json lists every check', async () => {
    const config = configFile(
      'builder: {type: kaniko, destination: 127.0.0.1:9/x, build-context-store: pvc://contexts}',
    );
    const result = await run(
      ['--config', config, '--format', 'json', '--pvc-mount-path', '/nonexistent/contexts'],
      OUTSIDE,
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.map((c: { id: string }) => c.id)).toEqual([
      'registry.reachable',
      'context-store.write',
      'kubernetes.access',
    ]);
    expect(report.checks[1]).toMatchObject({
      ok: false,
      fix: expect.stringContaining('Mount the claim contexts at builder.context-pvc-mount-path'),
    });
  });

  test('a KUBECONFIG that cannot be read is a failed check, not a crash', async () => {
    const missing = join(tmpdir(), 'no-such-kubeconfig.yaml');
    const result = await run(['--config', configFile('builder: {type: noop}')], {
      KUBECONFIG: missing,
      KUBERNETES_SERVICE_HOST: undefined,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`✗ Kubernetes: cannot load KUBECONFIG (${missing})`);
    expect(result.stdout).toContain('    fix: Point KUBECONFIG at a valid kubeconfig file');
  });

  test('an unknown format is a usage error', async () => {
    await expect(
      run(['--config', configFile('builder: {type: noop}'), '--format', 'xml'], OUTSIDE),
    ).rejects.toThrow(/--format must be text or json/);
  });
});
