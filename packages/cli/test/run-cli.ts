import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../src/main.js';
import { Output } from '../src/output.js';

/** The bundle that `pnpm launch-agent` and the image run (scripts/bundle.mjs). */
export const BUNDLE = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/**
 * Runs the CLI and captures what it writes: in-process from the sources, or, in jest project
 * `bundle` (LAUNCH_AGENT_TEST_BUNDLE=1), as `node packages/cli/dist/bin.js` in its own process.
 */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (process.env.LAUNCH_AGENT_TEST_BUNDLE === '1') return runBundle(args, env);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(args, new Output(stdout, stderr, { NO_COLOR: '1' }));
    return { code, stdout: out, stderr: err };
  } finally {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

async function runBundle(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run pnpm build`);
  const child = spawn(process.execPath, [BUNDLE, ...args], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve(status ?? 1));
  });
  return { code, stdout: out, stderr: err };
}
