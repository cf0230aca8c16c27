import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runCli } from './run-cli.js';

const fixtures = resolve(
  fileURLToPath(new URL('../../../test/fixtures/wandb-values', import.meta.url)),
);

async function writeValues(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'migrate-values-'));
  const file = join(dir, 'values.yaml');
  await writeFile(file, text);
  return file;
}

describe('launch-agent migrate-values', () => {
  it('prints the converted values on stdout and the report on stderr', async () => {
    const result = await runCli(['migrate-values', join(fixtures, 'eks-irsa.yaml')]);
    expect(result.code).toBe(0);
    const values = parse(result.stdout) as Record<string, unknown>;
    expect(values.namespaceOverride).toBe('launch');
    expect(result.stderr).toMatch(/^mapped {4}agent\.nodeSelector:16 -> nodeSelector/m);
    expect(result.stderr).toMatch(/^dropped {3}agent\.apiKey:3: there is no W&B backend/m);
  });

  it('never prints a secret value, on either stream', async () => {
    for (const name of ['eks-irsa.yaml', 'coreweave-pvc.yaml']) {
      const result = await runCli(['migrate-values', join(fixtures, name)]);
      expect(result.code).toBe(0);
      for (const secret of ['0123456789abcdef', 'hf_supersecretvalue', 'ghp_gitsecret']) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    }
  });

  it('exits 1 with nothing on stdout for a file that is not YAML', async () => {
    const file = await writeValues('agent:\n  image: [unclosed\nnamespace: x\n');
    const result = await runCli(['migrate-values', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${file}:`);
    expect(result.stderr).toMatch(/not valid YAML/);
  });

  it('names the line inside the file for an invalid launchConfig string', async () => {
    const file = await writeValues(
      'namespace: wandb\nlaunchConfig: |\n  queues: [a]\n  builder:\n    type: podman\n',
    );
    const result = await runCli(['migrate-values', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${file}:5:11: launchConfig: builder.type`);
    expect(result.stderr).toContain('podman');
  });

  it('names an unknown key and its line, with a suggestion', async () => {
    const file = await writeValues('namespace: wandb\nkanikoPvcNmae: contexts\n');
    const result = await runCli(['migrate-values', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      `${file}:2:1: kanikoPvcNmae: not a key of W&B's launch-agent chart; did you mean "kanikoPvcName"?`,
    );
  });

  it('says so when the file is already in this chart’s form', async () => {
    const file = await writeValues('agentConfig:\n  queues: [a]\n');
    const result = await runCli(['migrate-values', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('it is a key of this chart');
  });

  it('exits 2 for a file it cannot read', async () => {
    const result = await runCli(['migrate-values', '/nonexistent/values.yaml']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('no such file');
  });

  it('has --help', async () => {
    const result = await runCli(['migrate-values', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Exit codes: 0 converted; 1');
  });
});
