import { ChartRenderError, checkConfigText, renderChartValues } from '@launch-agent/config';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';

interface RenderOptions {
  values: string[];
  set: string[];
  releaseName: string;
  namespace: string;
  chart?: string;
}

/** What the API server accepts in one ConfigMap's data. */
const CONFIGMAP_MAX_BYTES = 1 << 20;

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerRenderCommand(program: Command, out: Output): void {
  program
    .command('render')
    .description(
      'Print the launch-config.yaml the Helm chart renders from these values, and check it.',
    )
    .option(
      '-f, --values <file>',
      'a values file, as for helm (repeatable; later files win)',
      collect,
      [],
    )
    .option('--set <key=value>', 'set a value, as helm --set does (repeatable)', collect, [])
    .option('--release-name <name>', 'the Helm release name', 'release-name')
    .option('-n, --namespace <namespace>', 'the release namespace', 'default')
    .option('--chart <dir>', 'the chart directory (default: the chart shipped with this agent)')
    .addHelpText(
      'after',
      '\nThe output is what the chart writes into its ConfigMap, byte for byte in meaning: agentConfig\n' +
        'plus the kubernetes block the chart fills in. Problems in the result go to stderr (exit 1).',
    )
    .action(async (options: RenderOptions) => {
      let rendered: Awaited<ReturnType<typeof renderChartValues>>;
      try {
        rendered = await renderChartValues({
          valueFiles: options.values,
          sets: options.set,
          releaseName: options.releaseName,
          namespace: options.namespace,
          ...(options.chart ? { chartDir: options.chart } : {}),
        });
      } catch (error) {
        if (error instanceof ChartRenderError && error.problems.length > 0) {
          out.problems(error.problems, []);
          out.note(
            `the values do not meet the chart's values.schema.json; helm install would refuse them`,
          );
          process.exitCode = EXIT.failure;
          return;
        }
        throw new UsageError((error as Error).message);
      }
      const bytes = Buffer.byteLength(rendered.yaml, 'utf8');
      if (bytes > CONFIGMAP_MAX_BYTES) {
        out.error(
          `the rendered launch-config.yaml has ${bytes} bytes; a Kubernetes ConfigMap holds at most ${CONFIGMAP_MAX_BYTES} (1 MiB), so the chart could not be installed. Move large values (kaniko-config, long lists) out of agentConfig`,
        );
        process.exitCode = EXIT.failure;
        return;
      }
      out.line(rendered.yaml.trimEnd());
      const checked = checkConfigText(rendered.yaml, 'rendered launch-config.yaml');
      out.problems(checked.errors, checked.warnings);
      process.exitCode = checked.errors.length === 0 ? EXIT.ok : EXIT.failure;
    });
}
