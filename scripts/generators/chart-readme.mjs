// Regenerates the "## Parameters" section of charts/launch-agent/README.md from the @param
// comments in charts/launch-agent/values.yaml, with @bitnami/readme-generator-for-helm. The rest of
// the README is written by hand. The tool also fails when a value lacks an @param line or an
// @param names a value that does not exist, so values.yaml and the README cannot drift apart.
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const README = 'charts/launch-agent/README.md';
const VALUES = 'charts/launch-agent/values.yaml';

export async function generate(root) {
  const require = createRequire(join(root, 'package.json'));
  const { runReadmeGenerator } = require('@bitnami/readme-generator-for-helm');

  // The tool edits a README in place: let it edit a copy.
  const work = await mkdtemp(join(tmpdir(), 'chart-readme-'));
  const copy = join(work, 'README.md');
  const log = [];
  const consoleLog = console.log;
  try {
    await copyFile(join(root, README), copy);
    console.log = (...args) => log.push(args.join(' '));
    try {
      runReadmeGenerator({ values: join(root, VALUES), readme: copy });
    } finally {
      console.log = consoleLog;
    }
    // It writes CRLF around the section headings it generates; the repository uses LF.
    const content = (await readFile(copy, 'utf8')).replace(/\r\n?/g, '\n');
    return [{ path: README, content }];
  } catch (error) {
    const details = log.filter((line) => line.startsWith('ERROR')).join('\n  ');
    throw new Error(
      `${README} from ${VALUES}: ${error.message}${details ? `\n  ${details}` : ''}`,
      {
        cause: error,
      },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
