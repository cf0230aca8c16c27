// Derives docs/configuration.md, the key-by-key reference of launch-config.yaml, from the schema.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

function typeOf(node) {
  if (node.enum) return node.enum.map((v) => `\`${v}\``).join(' \\| ');
  if (node.type === 'array' && node.items?.type) return `list of ${node.items.type}`;
  return node.type ?? 'any';
}

function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(node, prefix, out) {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const required = (node.required ?? []).includes(key) ? ' (required)' : '';
    const dflt = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    const example =
      child.examples && child.type !== 'object' ? `\`${JSON.stringify(child.examples[0])}\`` : '';
    out.push(
      `| \`${path}\`${required} | ${cell(typeOf(child))} | ${cell(dflt)} | ${cell(child.description ?? '')} | ${cell(child['x-expected'] ?? '')} | ${cell(example)} |`,
    );
    if (child.type === 'object' && child.properties && key !== 'kaniko-config')
      rows(child, path, out);
  }
}

export async function generate(root) {
  const schema = JSON.parse(
    await readFile(join(root, 'schemas', 'agent-config.schema.json'), 'utf8'),
  );
  const out = [
    '<!-- Generated from schemas/agent-config.schema.json by `pnpm generate`. Do not edit. -->',
    '',
    '# Configuration reference',
    '',
    schema.description,
    '',
    'The agent reads `--config FILE`, or `~/.config/wandb/launch-config.yaml` when no file is named.',
    'Unknown keys are errors. Check a file with `launch-agent validate --config FILE`.',
    '',
    '| key | type | default | description | expected form | example |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  rows(schema, '', out);
  out.push('');
  return [{ path: 'docs/configuration.md', content: `${out.join('\n')}\n` }];
}
