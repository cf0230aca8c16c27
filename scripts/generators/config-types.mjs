// Derives the config package's schema module and TypeScript types from schemas/agent-config.schema.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compile } from 'json-schema-to-typescript';
import prettier from 'prettier';

const HEADER =
  '// Generated from schemas/agent-config.schema.json by `pnpm generate`. Do not edit.\n';

export async function generate(root) {
  const schema = JSON.parse(
    await readFile(join(root, 'schemas', 'agent-config.schema.json'), 'utf8'),
  );
  const prettierOptions = {
    ...(await prettier.resolveConfig(join(root, 'package.json'))),
    parser: 'typescript',
  };
  const schemaModule = await prettier.format(
    `${HEADER}\nexport const agentConfigSchema: Record<string, unknown> = ${JSON.stringify(schema)};\n`,
    prettierOptions,
  );
  const types = await compile(schema, 'LaunchAgentConfig', {
    bannerComment: '',
    additionalProperties: false,
    strictIndexSignatures: true,
    style: { singleQuote: true, printWidth: 100, trailingComma: 'all' },
  });
  return [
    { path: 'packages/config/src/generated/agent-config-schema.ts', content: schemaModule },
    {
      path: 'packages/config/src/generated/agent-config.ts',
      content: await prettier.format(`${HEADER}\n${types}`, prettierOptions),
    },
  ];
}
