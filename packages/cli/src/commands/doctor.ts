import { loadConfig } from '@launch-agent/config';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { loadRuntime } from '../runtime.js';

interface DoctorCommandOptions {
  config?: string;
  format: string;
  pvcMountPath?: string;
}

export function registerDoctorCommand(program: Command, out: Output): void {
  program
    .command('doctor')
    .description(
      'Preflight with the configured credentials: registry reachable and push allowed (and, for ECR, a warning when tags can be overwritten), context store writable, Kubernetes permissions, Docker engine. Exit 1 when a check fails.',
    )
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('--format <format>', 'text or json', 'text')
    .option(
      '--pvc-mount-path <dir>',
      'where the pvc:// context store is mounted here (default: builder.context-pvc-mount-path)',
    )
    .addHelpText(
      'after',
      '\nChecks only what the config uses: the Docker engine for the docker builder, the context\n' +
        'store for kaniko (a probe object is put and deleted), Kubernetes access by\n' +
        'SelfSubjectAccessReview when in a cluster or with KUBECONFIG set. See docs/doctor.md.',
    )
    .action(async (options: DoctorCommandOptions) => {
      const { runDoctor } = await loadRuntime();
      if (options.format !== 'text' && options.format !== 'json') {
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      }
      const loaded = await loadConfig({ configPath: options.config });
      out.problems([], loaded.warnings);
      const checks = await runDoctor(loaded.settings, {
        ...(options.pvcMountPath ? { pvcMountPath: options.pvcMountPath } : {}),
      });
      const failures = checks.filter((check) => !check.ok).length;
      if (options.format === 'json') {
        out.line(JSON.stringify({ ok: failures === 0, checks }, null, 2));
      } else {
        for (const check of checks) {
          if (check.skipped) {
            out.line(`- ${check.summary} (skipped)`);
            continue;
          }
          if (check.warning) out.line(`! ${check.summary} (warning)`);
          else out.check(check.ok, check.summary);
          if ((!check.ok || check.warning) && check.fix) out.line(`    fix: ${check.fix}`);
        }
        out.note(
          failures === 0
            ? `${loaded.file ?? '(defaults)'}: all checks passed`
            : `${loaded.file ?? '(defaults)'}: ${failures} check${failures === 1 ? '' : 's'} failed`,
        );
      }
      process.exitCode = failures === 0 ? EXIT.ok : EXIT.failure;
    });
}
