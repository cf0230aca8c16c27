// Compiles the config schema's validator ahead of time (Ajv standalone code), so that
// `launch-agent validate` and every other command that loads a config do not compile the schema
// at start (about 150 ms). The options must stay those of packages/config/src/validate/schema-validator.ts.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import prettier from 'prettier';

const HEADER =
  '// Generated from schemas/agent-config.schema.json by `pnpm generate` (Ajv standalone code). Do not edit.\n' +
  '// @ts-nocheck\n';

// Ajv's own helper, inlined so the module imports nothing (the one require Ajv's code emits).
const UCS2LENGTH = `function ucs2length(str) {
  const len = str.length;
  let length = 0;
  let pos = 0;
  let value;
  while (pos < len) {
    length++;
    value = str.charCodeAt(pos++);
    if (value >= 0xd800 && value <= 0xdbff && pos < len) {
      value = str.charCodeAt(pos);
      if ((value & 0xfc00) === 0xdc00) pos++;
    }
  }
  return length;
}
`;

export async function generate(root) {
  // The config package's Ajv, the version its validator runs with.
  const require = createRequire(join(root, 'packages', 'config', 'package.json'));
  const { Ajv } = require('ajv');
  const standaloneCode = require('ajv/dist/standalone').default;
  const schema = JSON.parse(
    await readFile(join(root, 'schemas', 'agent-config.schema.json'), 'utf8'),
  );
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    strict: true,
    strictRequired: false,
    code: { source: true, esm: true },
  });
  ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
  let code = standaloneCode(ajv, ajv.compile(schema)).replace(/^"use strict";/, '');
  const helper = 'require("ajv/dist/runtime/ucs2length").default';
  if (code.includes(helper)) code = `${UCS2LENGTH}${code.split(helper).join('ucs2length')}`;
  if (/\brequire\(/.test(code)) {
    throw new Error('config-validator: Ajv emitted a require() this generator does not inline');
  }
  const content = await prettier.format(`${HEADER}${code}`, {
    ...(await prettier.resolveConfig(join(root, 'package.json'))),
    parser: 'typescript',
  });
  return [{ path: 'packages/config/src/generated/agent-config-validator.ts', content }];
}
