// The bundle itself (jest project `bundle`): what only a built dist/bin.js can show.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE, runCli } from './run-cli.js';

describe('packages/cli/dist/bin.js', () => {
  test('carries a source map that points at the TypeScript sources', () => {
    expect(readFileSync(BUNDLE, 'utf8')).toMatch(/\/\/# sourceMappingURL=bin\.js\.map\s*$/);
    const map = JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources.some((source) => source.endsWith('../src/main.ts'))).toBe(true);
  });

  test('loads no cloud SDK or dockerode before a command selects one', () => {
    const eager = readFileSync(BUNDLE, 'utf8');
    expect(eager).not.toMatch(/from\s*["'](@aws-sdk|@azure|@google-cloud|dockerode)/);
    // The runtime loads on demand, and its cloud registries and stores in their own chunks.
    // (The runtime's entry, packages/runtime/src/index.ts, is the chunk esbuild names `src-*`.)
    expect(eager).toMatch(/import\(["']\.\/chunks\/src-[A-Z0-9]+\.js["']\)/);
  });

  test('permissions reads its templates from the copy beside the bundle', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'launch-agent-bundle-')), 'launch-config.yaml');
    writeFileSync(
      config,
      'environment: {type: aws, region: us-east-1}\nbuilder:\n  type: kaniko\n' +
        '  destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app\n' +
        '  build-context-store: s3://contexts/launch\n',
    );
    const result = await runCli(['permissions', '--config', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ecr:InitiateLayerUpload/);
  });
});
