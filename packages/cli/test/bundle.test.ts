// The bundle itself (jest project `bundle`): what only a built dist/bin.js can show.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
    expect(eager).toMatch(/import\(["']\.\/chunks\/runtime-exports-[A-Z0-9]+\.js["']\)/);
  });

  test('requires node:http rather than importing it, so Node.js 24 leaves its undici unloaded', () => {
    const chunks = join(dirname(BUNDLE), 'chunks');
    const files = [
      BUNDLE,
      ...readdirSync(chunks)
        .filter((f) => f.endsWith('.js'))
        .map((f) => join(chunks, f)),
    ];
    for (const file of files) {
      expect({
        file,
        imports: /from\s*["'](?:node:)?http["']/.test(readFileSync(file, 'utf8')),
      }).toEqual({
        file,
        imports: false,
      });
    }
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
