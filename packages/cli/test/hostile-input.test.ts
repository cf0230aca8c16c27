import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

// Config and values files are untrusted input; secrets typed on the command line or written in
// a file never come back in an error. Every case has a deadline: nothing may hang or read forever.

const dir = mkdtempSync(join(tmpdir(), 'launch-agent-hostile-'));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `config-${n++}.yaml`);
  writeFileSync(path, content);
  return path;
}

/** Runs the CLI and fails if it takes longer than `ms`. */
async function cli(args: string[], ms = 10_000) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`launch-agent ${args[0]} ran over ${ms} ms`)), ms);
  });
  try {
    const result = await Promise.race([runCli(args), deadline]);
    expect(performance.now() - started).toBeLessThan(ms);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

describe('secrets never come back in errors', () => {
  test('render does not repeat a --set value under a secret-looking key', async () => {
    const result = await cli([
      'render',
      '--set',
      'credentials.env.AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCY,broken',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('credentials.env.AWS_SECRET_ACCESS_KEY=[redacted]');
    expect(result.stderr).not.toContain('wJalrXUtnFEMIK7MDENGbPxRfiCY');
  });

  test('render does not repeat a docker config auth', async () => {
    const result = await cli([
      'render',
      '--set',
      'kaniko.dockerConfigSecret.dockerConfigJson={"auths":{"r.example.com":{"auth":"dXNlcjpodW50ZXIy"}}}',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).not.toContain('dXNlcjpodW50ZXIy');
  });

  test('validate names a password in a destination URL as credentials, without the password', async () => {
    const config = file(
      'builder:\n  type: docker\n  destination: https://ci:hunter2@registry.example.com/ml/app\n',
    );
    for (const format of ['text', 'json']) {
      const result = await cli(['validate', '--config', config, '--format', format]);
      expect(result.code).toBe(1);
      const text = result.stdout + result.stderr;
      expect(text).toContain('may not carry credentials');
      expect(text).not.toContain('digest');
      expect(text).not.toContain('hunter2');
    }
  });

  test('validate does not repeat an Azure SAS signature, in text or JSON', async () => {
    const config = file(
      'builder:\n  type: kaniko\n  destination: registry.example.com/ml/app\n' +
        '  build-context-store: "https://acct.blob.core.windows.net/ctx?sv=2022&sig=c2VjcmV0c2ln%3D"\n',
    );
    for (const format of ['text', 'json']) {
      const result = await cli(['validate', '--config', config, '--format', format]);
      expect(result.code).toBe(1);
      expect(result.stdout + result.stderr).toContain('builder.build-context-store');
      expect(result.stdout + result.stderr).not.toContain('c2VjcmV0c2ln');
    }
  });

  test("a wrongly typed key names the key and line, not its mapping's secret values", async () => {
    const config = file(
      'builder: {type: noop}\nenvironment: [{secret: s3cr3t-value, password: pw-value}]\n',
    );
    const result = await cli(['validate', '--config', config, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      errors: Array<{ path: string; location: { line: number } }>;
    };
    expect(report.errors[0]).toMatchObject({ path: 'environment', location: { line: 2 } });
    expect(result.stdout).not.toMatch(/s3cr3t-value|pw-value/);
  });
});

describe('config files are read as untrusted input', () => {
  test('a FIFO config is refused, not waited on', async () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const result = await cli(['validate', '--config', fifo], 5000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not a regular file');
  });

  test('/dev/zero is refused without reading it', async () => {
    const result = await cli(['validate', '--config', '/dev/zero', '--format', 'json'], 5000);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: false, errors: [{ path: '(file)' }] });
  });

  test('a config over 4 MiB is refused with the limit', async () => {
    const big = file(Buffer.alloc(50 << 20, 0x20));
    const result = await cli(['validate', '--config', big], 5000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is larger than 4194304 bytes (4 MiB)');
  });

  test('invalid UTF-8 is an error with the byte offset, not a silent U+FFFD', async () => {
    const bad = file(
      Buffer.concat([Buffer.from('queues: ["a'), Buffer.from([0xc3, 0x28]), Buffer.from('"]\n')]),
    );
    const result = await cli(['validate', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not UTF-8 text: byte 11 (0xc3)');
  });

  test('a values file that is a FIFO is refused by render', async () => {
    const fifo = join(dir, 'values-fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const result = await cli(['render', '-f', fifo], 5000);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('is not a regular file');
  });

  test('an alias bomb is an error with its line, and JSON under --format json', async () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
    ]) {
      rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = file(`${rows.join('\n')}\n`);
    const result = await cli(['validate', '--config', bomb, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      errors: Array<{ message: string; location: { line: number } }>;
    };
    expect(report.errors[0]!.message).toContain('YAML aliases expand too far');
    expect(report.errors[0]!.location.line).toBe(2);
  });

  test('render refuses a launch-config.yaml over the 1 MiB ConfigMap limit', async () => {
    const args = Array.from({ length: 10_500 }, (_, i) => `    - --label=x${i}=${'a'.repeat(80)}`);
    const values = file(
      'agentConfig:\n  builder:\n    type: kaniko\n    build-context-store: s3://bucket/contexts\n' +
        '    kaniko-config:\n      spec:\n        template:\n          spec:\n            containers:\n' +
        `            - name: kaniko\n              args:\n${args.map((a) => `          ${a}`).join('\n')}\n`,
    );
    const result = await cli(['render', '-f', values], 20_000);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('a Kubernetes ConfigMap holds at most 1048576 (1 MiB)');
  });
});

describe('launch-agent build with a hostile context', () => {
  const config = () => file('builder:\n  type: noop\n  destination: localhost:5999/team/app\n');

  test('refuses a Dockerfile that links out of the context, naming it (exit 2)', async () => {
    const context = mkdtempSync(join(dir, 'ctx-'));
    writeFileSync(join(dir, 'token'), 'agent-token-never-read');
    symlinkSync(join(dir, 'token'), join(context, 'Dockerfile'));
    const result = await cli(['build', context, '--dry-run', '--config', config()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Dockerfile Dockerfile resolves outside the build context');
    expect(result.stdout + result.stderr).not.toContain('agent-token-never-read');
  });

  test('refuses a FIFO .dockerignore without waiting on it (exit 2)', async () => {
    const context = mkdtempSync(join(dir, 'ctx-'));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
    execFileSync('mkfifo', [join(context, '.dockerignore')]);
    const result = await cli(['build', context, '--dry-run', '--config', config()], 5000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('.dockerignore');
    expect(result.stderr).toContain('is not a regular file');
  });
});
