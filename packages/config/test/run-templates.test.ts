import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkConfigText, normalizeConfig } from '../src/index.js';

const gpuTemplate = readFileSync(
  fileURLToPath(new URL('../../../test/fixtures/run-templates/gpu-queue.yaml', import.meta.url)),
  'utf8',
);

function config(template: string, queues = '[gpu]'): string {
  const indented = template
    .split('\n')
    .map((line) => (line ? `    ${line}` : line))
    .join('\n');
  return `queues: ${queues}\nrun-templates:\n  gpu:\n${indented}\n`;
}

describe('run-templates', () => {
  it('accepts a W&B-style queue Job overlay with macros and keeps it in the settings', () => {
    const checked = checkConfigText(config(gpuTemplate), 'c.yaml');
    expect(checked.errors).toEqual([]);
    const settings = normalizeConfig(checked.config!);
    expect(settings.runTemplates.gpu).toMatchObject({
      metadata: { labels: { 'kueue.x-k8s.io/queue-name': 'team-a' } },
    });
  });

  it('refuses a template for a queue the agent does not serve', () => {
    const checked = checkConfigText(config('metadata: {labels: {a: b}}', '[cpu]'), 'c.yaml');
    expect(checked.errors).toEqual([
      expect.objectContaining({
        path: 'run-templates.gpu',
        message: 'no queue named "gpu" in queues; this template would never be used',
        location: expect.objectContaining({ line: 4 }),
      }),
    ]);
  });

  it('refuses an unknown macro and names the key and line', () => {
    const text = config(
      'spec:\n  template:\n    spec:\n      containers:\n        - env:\n            - {name: KEY, value: "${AWS_SECRET_ACCESS_KEY}"}',
    );
    const checked = checkConfigText(text, 'c.yaml');
    expect(checked.errors).toEqual([
      expect.objectContaining({
        path: 'run-templates.gpu.spec.template.spec.containers[0].env[0].value',
        message: 'unknown macro ${AWS_SECRET_ACCESS_KEY} (environment variables are not macros)',
        location: expect.objectContaining({ line: 9 }),
      }),
    ]);
  });

  it.each([
    ['a command', 'spec:\n  template:\n    spec:\n      containers:\n        - command: [sh]'],
    ['another image', 'spec:\n  template:\n    spec:\n      containers:\n        - image: busybox'],
    ['two containers', 'spec:\n  template:\n    spec:\n      containers: [{}, {}]'],
    ['spec.suspend', 'spec:\n  suspend: false'],
    ['metadata.name', 'metadata:\n  name: x'],
    ['a number as a label', 'metadata:\n  labels:\n    gpus: 8'],
  ])('refuses %s', (_what, template) => {
    const checked = checkConfigText(config(template), 'c.yaml');
    expect(checked.errors.length).toBeGreaterThan(0);
    expect(checked.errors[0]!.path).toMatch(/^run-templates\.gpu/);
  });
});
