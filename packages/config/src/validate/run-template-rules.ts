// run-templates: what the schema cannot say. Each template belongs to a queue the agent serves,
// and its strings use only the macros the agent fills in.
import type { LaunchAgentConfig } from '../generated/agent-config.js';
import type { Problem } from '../problems.js';

/**
 * The macros a run template's strings may use, with what the agent puts there. The names are
 * the W&B launch agent's, so a queue config written for it keeps working. Unlike it, the
 * agent's own environment variables are not macros: a template must not be able to copy the
 * agent's credentials into a job.
 */
export const RUN_TEMPLATE_MACROS = {
  image_uri: 'the image the run uses (built, reused or given by the LaunchJob)',
  run_id: 'the LaunchJob name',
  run_name: 'the LaunchJob name',
  queue_name: 'the LaunchJob queue',
  project_name: 'the LaunchJob label launch-agent.dev/project, else its namespace',
  entity_name: 'the agent config entity, else empty',
} as const;

export type RunTemplateMacro = keyof typeof RUN_TEMPLATE_MACROS;

/** `${name}`, the W&B launch agent's macro syntax. */
export const MACRO_PATTERN = /\$\{([A-Za-z0-9_]+)\}/g;

function walk(value: unknown, path: string, visit: (text: string, path: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`, visit));
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`, visit);
  }
}

/** The queues a config serves: `queues` (default `default`) and the legacy `queue`. */
export function configuredQueues(config: LaunchAgentConfig): Set<string> {
  return new Set([...(config.queues ?? ['default']), ...(config.queue ? [config.queue] : [])]);
}

export function checkRunTemplates(config: LaunchAgentConfig): Problem[] {
  const templates = config['run-templates'];
  if (!templates) return [];
  const problems: Problem[] = [];
  const queues = configuredQueues(config);
  const known = Object.keys(RUN_TEMPLATE_MACROS);
  for (const [queue, template] of Object.entries(templates)) {
    const root = `run-templates.${queue}`;
    if (!queues.has(queue)) {
      problems.push({
        path: root,
        message: `no queue named "${queue}" in queues; this template would never be used`,
        expected: `one of ${[...queues].join(', ')}`,
      });
    }
    walk(template, root, (text, path) => {
      for (const match of text.matchAll(MACRO_PATTERN)) {
        if (known.includes(match[1]!)) continue;
        problems.push({
          path,
          message: `unknown macro ${match[0]} (environment variables are not macros)`,
          value: text,
          expected: `one of ${known.map((k) => `\${${k}}`).join(', ')}`,
        });
      }
    });
  }
  return problems;
}
