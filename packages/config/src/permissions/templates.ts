import { existsSync, readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/**
 * The .hbs files ship in the package's `templates/` folder, a sibling of both `src/` and `dist/`,
 * so one relative URL finds them from the sources under jest and from the built package. The
 * CLI's bundle (packages/cli/dist/bin.js and its dist/chunks/) carries a copy in dist/templates/.
 */
const TEMPLATE_DIRS = [
  new URL('../../templates/permissions/', import.meta.url),
  new URL('./templates/permissions/', import.meta.url),
  new URL('../templates/permissions/', import.meta.url),
];
const TEMPLATE_DIR = TEMPLATE_DIRS.find((dir) => existsSync(dir)) ?? TEMPLATE_DIRS[0]!;

const engine = Handlebars.create();
engine.registerHelper('json', (value: unknown) => JSON.stringify(value));
engine.registerHelper('pretty', (value: unknown) => JSON.stringify(value, null, 2));
engine.registerHelper('join', (values: unknown[], separator: unknown) =>
  values.join(typeof separator === 'string' ? separator : ', '),
);
engine.registerHelper('concat', (...parts: unknown[]) => parts.slice(0, -1).map(String).join(''));
engine.registerHelper('yaml', (value: unknown) => stringifyYaml(value).trimEnd());
engine.registerHelper('indent', (text: unknown, width: unknown) =>
  String(text)
    .split('\n')
    .map((line) => (line === '' ? line : ' '.repeat(Number(width)) + line))
    .join('\n'),
);
engine.registerHelper('eq', (a: unknown, b: unknown) => a === b);

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/** Renders `templates/permissions/<name>.hbs`. Missing context fields throw rather than print nothing. */
export function renderTemplate(name: string, context: object): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(new URL(`${name}.hbs`, TEMPLATE_DIR), 'utf8');
    template = engine.compile(source, { noEscape: true, strict: true });
    compiled.set(name, template);
  }
  return template(context);
}

/** Renders a JSON template and parses it, so a template that produces invalid JSON fails loudly. */
export function renderJson<T>(name: string, context: object): T {
  const text = renderTemplate(name, context);
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`template ${name}.hbs produced invalid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export function renderYaml<T>(name: string, context: object): T {
  return parseYaml(renderTemplate(name, context)) as T;
}

/** Renders a shell template into its commands: blocks separated by blank lines. */
export function renderCommands(name: string, context: object): string[] {
  return renderTemplate(name, context)
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .filter((block) => block !== '');
}
