import { ConfigInvalidError, loadConfig, type AgentSettings } from '@launch-agent/config';
import type { BuildReport, ProgressReporter } from '@launch-agent/runtime';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import { Output } from '../output.js';
import { loadRuntime } from '../runtime.js';

interface BuildOptions {
  dockerfile?: string;
  buildArg: string[];
  platform?: string;
  target?: string;
  config?: string;
  dryRun?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `--build-arg NAME=VALUE`, or `--build-arg NAME` to take the value from the environment (and
 * leave it out when unset), as `docker build` does.
 */
export function parseBuildArgs(
  values: string[],
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const args: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq === -1 ? value : value.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
      throw new UsageError(`--build-arg "${value}" is not NAME=VALUE or NAME`);
    }
    if (eq !== -1) args[name] = value.slice(eq + 1);
    else if (env[name] !== undefined) args[name] = env[name]!;
  }
  return args;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Progress on stderr. On a terminal, layer transfers share one rewritten line; elsewhere (CI
 * logs) each layer's status is printed once when it changes, without byte counts.
 */
export function progressReporter(out: Output): ProgressReporter {
  const tty = Boolean(out.stderr.isTTY);
  const lastStatus = new Map<string, string>();
  let transferLine = false;
  const endTransferLine = () => {
    if (transferLine) out.stderr.write('\n');
    transferLine = false;
  };
  return {
    phase(name, detail) {
      endTransferLine();
      out.note(`==> ${name}${detail ? ` ${detail}` : ''}`);
    },
    output(text) {
      endTransferLine();
      out.stderr.write(text);
    },
    transfer(id, status, current, total) {
      if (tty) {
        const amount =
          current === undefined
            ? ''
            : total
              ? ` ${Math.round((100 * current) / total)}%`
              : ` ${(current / 1e6).toFixed(1)} MB`;
        out.stderr.write(`\r\u001b[2K${id}: ${status}${amount}`);
        transferLine = true;
      } else if (lastStatus.get(id) !== status) {
        lastStatus.set(id, status);
        out.note(`${id}: ${status}`);
      }
    },
  };
}

function summary(report: BuildReport, builderName: string | undefined): string {
  const digest = report.digest ? ` (${report.digest})` : '';
  if (report.status === 'built')
    return `built and pushed ${report.image}${digest} with ${report.builder}`;
  if (report.status === 'reused') return `${report.image} already exists${digest}: build skipped`;
  return report.existed
    ? `dry run: ${report.image} exists${digest}; nothing to build`
    : builderName === 'noop'
      ? `dry run: ${report.image} does not exist, and the noop builder would refuse to build it (set builder.type: docker or kaniko)`
      : `dry run: ${report.image} does not exist; it would be built with ${builderName ?? 'the configured builder'}`;
}

function destinationOf(settings: AgentSettings, file: string | undefined) {
  const destination = settings.builder.destination;
  if (!destination) {
    throw new ConfigInvalidError(
      [
        {
          path: 'builder.destination',
          message:
            'building needs a destination registry: every image is pushed to <destination>:<source hash>',
          expected: 'a repository such as registry.example.com/team/images (or builder.uri)',
        },
      ],
      [],
      file,
    );
  }
  return destination;
}

export function registerBuildCommand(program: Command, out: Output = new Output()): void {
  program
    .command('build')
    .description(
      'Build CONTEXT into <destination>:<source hash> and push it, unless that image already exists.',
    )
    .argument('<context>', 'the build context directory')
    .option(
      '-f, --dockerfile <path>',
      'Dockerfile, relative to the current directory (default: CONTEXT/Dockerfile)',
    )
    .option(
      '--build-arg <name=value>',
      'a build argument; NAME alone takes it from the environment (repeatable)',
      collect,
      [],
    )
    .option('--platform <os/arch>', 'target platform, e.g. linux/amd64 (default: builder.platform)')
    .option('--target <stage>', 'the Dockerfile stage to build')
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('--dry-run', 'compute the reference and check the registry; build and push nothing')
    .option('--json', 'print one JSON object (one line) on stdout instead of text')
    .addHelpText(
      'after',
      '\nThe tag is the source hash: the Dockerfile, every file .dockerignore lets through (path,\n' +
        'executable bit, bytes), the build args, target and platform (docs/source-hash.md). The last\n' +
        'line on stdout is <destination>:<tag>; progress and build output go to stderr.\n' +
        'Builder: builder.type, or with no builder block docker when a Docker engine answers\n' +
        '(DOCKER_HOST), else noop. Registry credentials: docs/build.md.',
    )
    .action(async (context: string, options: BuildOptions) => {
      const { BuildPlanError, buildImage, createBuildPlan, createRegistry, selectBuilder } =
        await loadRuntime();
      if (
        options.platform !== undefined &&
        !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(options.platform)
      ) {
        throw new UsageError(`--platform "${options.platform}" is not os/arch such as linux/amd64`);
      }
      const buildArgs = parseBuildArgs(options.buildArg);
      const loaded = await loadConfig(
        options.config !== undefined ? { configPath: options.config } : {},
      );
      out.problems([], loaded.warnings);
      const settings = loaded.settings;
      const destination = destinationOf(settings, loaded.file);
      const platform = options.platform ?? settings.builder.platform;
      const progress = options.json && !out.stderr.isTTY ? undefined : progressReporter(out);
      const registry = await createRegistry(destination, {
        ecr: { createRepository: settings.builder.createRepository },
      });
      const chooseBuilder = async () =>
        (await selectBuilder(settings.builder, { agent: settings })).builder;

      const abort = new AbortController();
      const interrupt = () => abort.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        let plan;
        try {
          plan = await createBuildPlan({
            contextDir: context,
            buildArgs,
            ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}),
            ...(platform ? { platform } : {}),
            ...(options.target ? { target: options.target } : {}),
          });
        } catch (error) {
          if (error instanceof BuildPlanError) throw new UsageError(error.message);
          throw error;
        }
        const report = await buildImage({
          plan,
          destination,
          registry,
          builder: chooseBuilder,
          dryRun: Boolean(options.dryRun),
          signal: abort.signal,
          ...(progress ? { progress } : {}),
        });
        report.timings.planMs = plan.stats.planMs;
        // A dry run says which builder a real run would use; selection may probe DOCKER_HOST.
        const wouldUse =
          report.status === 'planned' && !report.existed ? (await chooseBuilder()).name : undefined;
        if (options.json) {
          out.line(JSON.stringify({ ...report, ...(wouldUse ? { builder: wouldUse } : {}) }));
        } else {
          out.note(
            `context ${report.context.directory}: ${report.context.files} files, ` +
              `${report.context.hashedFiles} hashed, ${report.context.cachedFiles} from cache; ` +
              `plan ${duration(report.timings.planMs)}, check ${duration(report.timings.checkMs)}` +
              (report.status === 'built'
                ? `, build ${duration(report.timings.buildMs)}, push ${duration(report.timings.pushMs)}`
                : ''),
          );
          out.line(summary(report, wouldUse));
          out.line(report.image);
        }
        process.exitCode = EXIT.ok;
      } catch (error) {
        if (abort.signal.aborted) {
          out.error('interrupted');
          process.exitCode = EXIT.interrupted;
          return;
        }
        if (
          options.json &&
          !(error instanceof UsageError) &&
          !(error instanceof ConfigInvalidError)
        ) {
          const e = error as Error;
          out.line(
            JSON.stringify({ status: 'failed', error: { type: e.name, message: e.message } }),
          );
          out.error(e.message);
          process.exitCode = EXIT.failure;
          return;
        }
        throw error;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
}
