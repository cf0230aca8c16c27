import {
  derivePermissions,
  formatPermissions,
  loadConfig,
  type PermissionsOptions,
} from '@launch-agent/config';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';

interface PermissionsCommandOptions extends PermissionsOptions {
  config?: string;
  format: string;
}

const FLAG_KEYS = [
  'namespace',
  'serviceAccount',
  'buildServiceAccount',
  'oidcProvider',
  'gcpServiceAccount',
  'gcpBuildServiceAccount',
  'azureResourceGroup',
  'azureIdentity',
  'azureBuildIdentity',
  'oidcIssuer',
] as const satisfies ReadonlyArray<keyof PermissionsOptions>;

export function registerPermissionsCommand(program: Command, out: Output): void {
  program
    .command('permissions')
    .description(
      'Print the least-privilege cloud grants the config needs: IAM policies and IRSA trust (AWS), custom roles and Workload Identity (GCP), role assignments and federated credentials (Azure).',
    )
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('--format <format>', 'text or json', 'text')
    .option(
      '--namespace <name>',
      "the agent's namespace, when the config has no kubernetes.namespace",
    )
    .option('--service-account <name>', "the agent's ServiceAccount (kubernetes.service-account)")
    .option(
      '--build-service-account <name>',
      'the ServiceAccount of kaniko build pods (kubernetes.build-service-account)',
    )
    .option('--oidc-provider <host/path>', "AWS: the EKS cluster's OIDC provider, without https://")
    .option('--gcp-service-account <email>', "GCP: the agent's Google service account")
    .option('--gcp-build-service-account <email>', "GCP: the build pods' Google service account")
    .option('--azure-resource-group <name>', 'Azure: resource group of the managed identities')
    .option('--azure-identity <name>', "Azure: the agent's managed identity (default launch-agent)")
    .option(
      '--azure-build-identity <name>',
      "Azure: the build pods' managed identity (default launch-agent-build)",
    )
    .option('--oidc-issuer <url>', "Azure: the AKS cluster's OIDC issuer URL")
    .addHelpText(
      'after',
      '\nGrants are scoped to the configured repository and bucket. The agent identity checks for\n' +
        'existing images and uploads build contexts; kaniko build pods (kubernetes.build-service-account)\n' +
        'push and read contexts. Values the config does not determine print as <NAME>.\n' +
        'Flags win over the config. The JSON shape is documented in docs/permissions.md.',
    )
    .action(async (options: PermissionsCommandOptions) => {
      if (options.format !== 'text' && options.format !== 'json') {
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      }
      const loaded = await loadConfig({ configPath: options.config });
      out.problems([], loaded.warnings);
      const flags: PermissionsOptions = {};
      for (const key of FLAG_KEYS) {
        const value = options[key];
        if (value !== undefined) flags[key] = value;
      }
      const k8s = loaded.settings.kubernetes;
      const conflicts: Array<[string | undefined, string | undefined, string]> = [
        [flags.namespace, k8s.namespace, 'kubernetes.namespace'],
        [flags.serviceAccount, k8s.serviceAccount, 'kubernetes.service-account'],
        [flags.buildServiceAccount, k8s.buildServiceAccount, 'kubernetes.build-service-account'],
      ];
      for (const [flag, config, key] of conflicts) {
        if (flag !== undefined && config !== undefined && flag !== config) {
          out.warning(`the flag value "${flag}" replaces ${key} "${config}" from the config`);
        }
      }
      const report = derivePermissions(loaded.settings, flags);
      out.stdout.write(formatPermissions(report, options.format));
      process.exitCode = EXIT.ok;
    });
}
