import { PassThrough } from 'node:stream';
import { main } from '../src/main.js';
import { Output } from '../src/output.js';

/** Runs the CLI in-process and captures what it writes. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
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
