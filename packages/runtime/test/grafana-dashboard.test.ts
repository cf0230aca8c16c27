// The chart's Grafana dashboard queries only what the agent exports: every PromQL expression is
// parsed for the metric names it reads, and each must be one AgentMetrics registers (a
// histogram's _bucket/_sum/_count series included).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentMetrics } from '../src/agent/agent-metrics.js';

const file = join(import.meta.dirname, '../../../charts/launch-agent/dashboards/launch-agent.json');

interface Panel {
  title: string;
  targets?: Array<{ expr: string }>;
}

const PROMQL_WORDS = new Set(
  [
    'sum min max avg count stddev stdvar topk bottomk quantile count_values group',
    'by without on ignoring group_left group_right bool and or unless offset',
    'rate irate increase delta idelta deriv histogram_quantile clamp_min clamp_max abs',
    'ceil floor round label_replace label_join vector scalar time absent',
    'sum_over_time avg_over_time max_over_time min_over_time',
  ]
    .join(' ')
    .split(' '),
);

/** The metric names an expression reads: its identifiers, less labels, functions and keywords. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
  const names = stripped.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return names.filter((name) => !PROMQL_WORDS.has(name) && !/^\d/.test(name));
}

async function exported(): Promise<Set<string>> {
  const metrics = new AgentMetrics();
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { uid: string; panels: Panel[] };

  test('every query names metrics the agent registers, and only those', async () => {
    const known = await exported();
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
    );
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      expect({ panel, names: names.length > 0 ? names : ['(no metric)'] }).toEqual({
        panel,
        names: names.filter((name) => known.has(name)),
      });
    }
  });

  test('has the panels the chart documents', () => {
    const titles = dashboard.panels.map((panel) => panel.title).join('\n');
    for (const word of [
      'Queue depth',
      'waiting time',
      'Build time',
      'Outcome',
      'reuse rate',
      'Reconcile latency',
      'Reconcile errors',
    ]) {
      expect(titles).toContain(word);
    }
  });

  test('the name extraction sees through labels, ranges and grouping', () => {
    expect(
      metricNames(
        'sum by (queue) (rate(launch_agent_claims_total{result="won"}[5m])) / launch_agent_x',
      ),
    ).toEqual(['launch_agent_claims_total', 'launch_agent_x']);
  });
});
