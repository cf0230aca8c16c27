// Three places name the top-level keys of W&B's launch-agent chart that this chart refuses: the
// templates' refusal (templates/_helpers.tpl), the values schema's `if` that lets such a file
// through to that refusal (values.schema.base.json), and `launch-agent render` / migrate-values
// (packages/config). A key missing from one of them would meet a schema error, or no refusal.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WANDB_ONLY_TOP_LEVEL_KEYS } from '../../packages/config/src/migrate/wandb-chart-keys.js';

const chart = fileURLToPath(new URL('../../charts/launch-agent', import.meta.url));

function schemaMarkers(file: string): string[] {
  const schema = JSON.parse(readFileSync(join(chart, file), 'utf8')) as {
    if: { anyOf: Array<{ required: string[] }> };
  };
  return schema.if.anyOf.flatMap((branch) => branch.required);
}

function templateKeys(): string[] {
  const helpers = readFileSync(join(chart, 'templates', '_helpers.tpl'), 'utf8');
  const list = /\$wandbKeys := list \}\}\n\{\{- range \$key := list ((?:"\w+"\s*)+)\}\}/.exec(
    helpers,
  );
  if (!list) throw new Error('templates/_helpers.tpl: the list of W&B keys was not found');
  return [...list[1]!.matchAll(/"(\w+)"/g)].map((m) => m[1]!);
}

test("the chart's templates refuse the W&B keys packages/config knows", () => {
  expect(templateKeys()).toEqual(WANDB_ONLY_TOP_LEVEL_KEYS);
});

test.each(['values.schema.base.json', 'values.schema.json'])(
  "%s lets a file with any of them through to the templates' refusal",
  (file) => {
    expect(schemaMarkers(file)).toEqual(WANDB_ONLY_TOP_LEVEL_KEYS);
  },
);
