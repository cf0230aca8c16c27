// scripts/launch-agent, the command from a clone: it runs the bundle on Node.js 24 with neither
// that node nor pnpm on PATH, passes the arguments and the exit code through, keeps stdout for
// the command, and knows when the build is missing or stale. Run here on a copy of the script
// beside a stand-in bundle, with LAUNCH_AGENT_SKIP_BOOTSTRAP=1, so nothing is installed or built
// (the README's commands are tried on a fresh clone, where the script does run scripts/bootstrap).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let clone: string;

function write(path: string, text: string, ageSeconds: number): void {
  const file = join(clone, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  const time = Date.now() / 1000 - ageSeconds;
  utimesSync(file, time, time);
}

function run(args: string[]) {
  const result = spawnSync(join(clone, 'scripts', 'launch-agent'), args, {
    encoding: 'utf8',
    // The machine's own directories only: no tools-cache node, no pnpm.
    env: {
      HOME: process.env.HOME!,
      PATH: '/usr/bin:/bin',
      LAUNCH_AGENT_SKIP_BOOTSTRAP: '1',
      ...(process.env.LAUNCH_AGENT_TOOLS_DIR
        ? { LAUNCH_AGENT_TOOLS_DIR: process.env.LAUNCH_AGENT_TOOLS_DIR }
        : {}),
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeEach(() => {
  clone = mkdtempSync(join(tmpdir(), 'launch-agent-script-'));
  for (const script of ['launch-agent', 'node-env', 'versions.env', 'bundle.mjs']) {
    mkdirSync(join(clone, 'scripts'), { recursive: true });
    copyFileSync(join(repo, 'scripts', script), join(clone, 'scripts', script));
    const old = Date.now() / 1000 - 100; // scripts/bundle.mjs counts as a source
    utimesSync(join(clone, 'scripts', script), old, old);
  }
  write('pnpm-lock.yaml', 'lockfileVersion: 9.0\n', 300);
  write('node_modules/.modules.yaml', '{}\n', 200);
  write('packages/cli/src/bin.ts', '// the sources\n', 100);
  write('schemas/agent-config.schema.json', '{}\n', 100);
  // The stand-in bundle prints the Node.js it runs on, its arguments, and exits with the last one.
  write(
    'packages/cli/dist/bin.js',
    'const a = process.argv.slice(2); console.log(JSON.stringify({ node: process.versions.node, args: a })); process.exitCode = Number(a[a.length - 1]) || 0;\n',
    10,
  );
});

afterEach(() => rmSync(clone, { recursive: true, force: true }));

test('runs the bundle on Node.js 24 with the arguments, its stdout alone and its exit code', () => {
  const result = run(['status', 'train-7', '--namespace', 'team-a', '3']);
  expect(result.stderr).toBe('');
  const printed = JSON.parse(result.stdout) as { node: string; args: string[] };
  expect(Number(printed.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  expect(printed.args).toEqual(['status', 'train-7', '--namespace', 'team-a', '3']);
  expect(result.status).toBe(3);
});

test.each([
  [
    'the bundle is missing',
    () => rmSync(join(clone, 'packages/cli/dist/bin.js')),
    'the command is not built yet',
  ],
  [
    'a source file is newer than the bundle',
    () => write('packages/cli/src/bin.ts', '// changed\n', 0),
    'a source file changed since the last build',
  ],
  [
    'a schema is newer than the bundle',
    () => write('schemas/agent-config.schema.json', '{ }\n', 0),
    'a source file changed since the last build',
  ],
  [
    'pnpm-lock.yaml is newer than the installed dependencies',
    () => write('pnpm-lock.yaml', 'lockfileVersion: 9.0\n# changed\n', 0),
    'the dependencies are not installed or older than pnpm-lock.yaml',
  ],
])('knows the build is stale when %s', (_what, change, reason) => {
  change();
  const result = run(['--version']);
  expect(result.status).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain(`launch-agent: ${reason}`);
  expect(result.stderr).toContain('LAUNCH_AGENT_SKIP_BOOTSTRAP=1');
});
