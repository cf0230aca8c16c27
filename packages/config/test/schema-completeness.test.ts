// The schema is the single definition of the config, and the docs are generated from it: every
// key must explain itself.
import { Ajv } from 'ajv';
import { agentConfigSchema } from '../src/generated/agent-config-schema.js';

type Node = Record<string, unknown> & { properties?: Record<string, Node>; items?: Node };

function keys(node: Node, prefix: string, out: Array<[string, Node]>): Array<[string, Node]> {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push([path, child]);
    keys(child, path, out);
    if (child.items?.properties) keys(child.items, `${path}[]`, out);
  }
  return out;
}

const all = keys(agentConfigSchema as Node, '', []);

test('the schema is draft-07 and compiles with a plain Ajv', () => {
  expect(agentConfigSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
  const ajv = new Ajv({ strict: false });
  expect(() => ajv.compile(agentConfigSchema)).not.toThrow();
});

test.each(all)('%s has a type and a description', (_path, node) => {
  expect(typeof node.type).toBe('string');
  expect(typeof node.description).toBe('string');
  expect((node.description as string).length).toBeGreaterThan(10);
});

test.each(all.filter(([path]) => !path.startsWith('builder.kaniko-config.')))(
  '%s has an example and an expected form',
  (_path, node) => {
    expect(Array.isArray(node.examples) && node.examples.length > 0).toBe(true);
    expect(typeof node['x-expected']).toBe('string');
  },
);

test('every default satisfies its own key', () => {
  const ajv = new Ajv({ strict: false });
  for (const [path, node] of all) {
    if (node.default === undefined) continue;
    const { default: value, ...schema } = node;
    expect([path, ajv.validate(schema, value)]).toEqual([path, true]);
  }
});

test('every example satisfies its own key', () => {
  const ajv = new Ajv({ strict: false });
  for (const [path, node] of all) {
    for (const example of (node.examples as unknown[] | undefined) ?? []) {
      const { examples: _examples, ...schema } = node;
      expect([path, example, ajv.validate(schema, example)]).toEqual([path, example, true]);
    }
  }
});

test('no pattern uses syntax Helm (Go RE2) cannot compile', () => {
  const patterns = JSON.stringify(agentConfigSchema).match(/"pattern":"((?:[^"\\]|\\.)*)"/g) ?? [];
  expect(patterns.length).toBeGreaterThan(5);
  for (const pattern of patterns) expect(pattern).not.toMatch(/\(\?[=!<]/);
});
