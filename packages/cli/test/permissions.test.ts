import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { checkIamPolicyGrammar } from '@launch-agent/config';
import { Command } from 'commander';
import { registerPermissionsCommand } from '../src/commands/permissions.js';
import { Output } from '../src/output.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'launch-agent-perm-')), 'launch-config.yaml');
  writeFileSync(file, text);
  return file;
}

/** Runs `permissions` on a fresh program, as main() will once the command is registered there. */
async function run(args: string[]): Promise<{ stdout: string; stderr: string; error?: Error }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const program = new Command('launch-agent').exitOverride();
  registerPermissionsCommand(program, new Output(stdout, stderr, { NO_COLOR: '1' }));
  for (const command of program.commands) {
    command.exitOverride().configureOutput({
      writeOut: (text) => (out += text),
      writeErr: (text) => (err += text),
    });
  }
  try {
    await program.parseAsync(['permissions', ...args], { from: 'user' });
    return { stdout: out, stderr: err };
  } catch (error) {
    return { stdout: out, stderr: err, error: error as Error };
  }
}

const KANIKO_AWS = `
environment: {type: aws, region: us-west-2}
builder:
  type: kaniko
  destination: 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/images
  build-context-store: s3://contexts/launch
kubernetes: {namespace: launch, service-account: launch-agent, build-service-account: launch-build}
`;

describe('launch-agent permissions', () => {
  test('--format json prints the report with policy documents as JSON objects', async () => {
    const result = await run(['--config', configFile(KANIKO_AWS), '--format', 'json']);
    expect(result.error).toBeUndefined();
    const report = JSON.parse(result.stdout);
    expect(report.aws.roles).toHaveLength(2);
    for (const role of report.aws.roles) {
      expect(checkIamPolicyGrammar(role.policy)).toEqual([]);
      expect(checkIamPolicyGrammar(role.trustPolicy)).toEqual([]);
    }
    expect(report.placeholders.map((p: { name: string }) => p.name)).toEqual(['OIDC_PROVIDER']);
  });

  test('text output names the repository ARN, and flags fill the placeholders', async () => {
    const result = await run([
      '--config',
      configFile(KANIKO_AWS),
      '--oidc-provider',
      'oidc.eks.us-west-2.amazonaws.com/id/ABC',
    ]);
    expect(result.error).toBeUndefined();
    expect(result.stdout).toContain('arn:aws:ecr:us-west-2:123456789012:repository/team/images');
    expect(result.stdout).toContain(
      'arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC',
    );
    expect(result.stdout).not.toContain('<OIDC_PROVIDER>');
  });

  test('a flag that differs from the config wins with a warning', async () => {
    const result = await run(['--config', configFile(KANIKO_AWS), '--namespace', 'other']);
    expect(result.stderr).toContain('replaces kubernetes.namespace "launch"');
    expect(result.stdout).toContain('system:serviceaccount:other:launch-agent');
  });

  test('an unknown format is a usage error', async () => {
    const result = await run(['--config', configFile(KANIKO_AWS), '--format', 'yaml']);
    expect(result.error?.name).toBe('UsageError');
    expect(result.error?.message).toContain('--format must be text or json');
  });

  test('an invalid config fails with the config problems', async () => {
    const result = await run([
      '--config',
      configFile('builder: {type: kaniko, destination: "x:1"}'),
    ]);
    expect(result.error?.name).toBe('ConfigInvalidError');
  });
});
