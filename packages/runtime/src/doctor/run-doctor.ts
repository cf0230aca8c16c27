import { randomBytes } from 'node:crypto';
import type { AgentSettings } from '@launch-agent/config';
import * as k8s from '@kubernetes/client-node';
import type Docker from 'dockerode';
import type { Registry } from '../registries/registry.js';
import { createRegistry, type RegistryOptions } from '../registries/select-registry.js';
import { selectContextStore } from '../storage/select-context-store.js';
import { checkDockerEngine } from './docker-check.js';
import { failed, failureFrom, passed, skipped, warned, type DoctorCheck } from './doctor-check.js';
import { checkKubernetesAccess } from './kubernetes-check.js';
import { probePush, type PushProbeOptions } from './registry-push-probe.js';

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  registry?: RegistryOptions;
  push?: PushProbeOptions;
  /** Overrides builder.context-pvc-mount-path (running outside the cluster). */
  pvcMountPath?: string;
  /** A prepared kubeconfig; default: in-cluster or KUBECONFIG, when either is there. */
  kubeConfig?: k8s.KubeConfig;
  docker?: Docker;
}

/** A tag no build produces (source-hash tags are hex), so the lookup is a pure read. */
export const PROBE_TAG = 'launch-agent-doctor-probe';
/** Probe objects go under the store's prefix, where the agent's grant applies. */
export const PROBE_PREFIX = '.launch-agent-doctor';

/**
 * Preflight with the configured credentials: each check that applies to the config, in order.
 * Never throws for a failed check; a failure carries its fix.
 */
export async function runDoctor(
  settings: AgentSettings,
  options: DoctorOptions = {},
): Promise<DoctorCheck[]> {
  const env = options.env ?? process.env;
  const builder = settings.builder.type;
  const checks: DoctorCheck[] = [];

  if (builder === 'docker' || builder === 'auto') {
    checks.push(await checkDockerEngine(builder === 'docker', options.docker));
  }

  checks.push(...(await registryChecks(settings, options)));

  if (builder === 'kaniko') {
    checks.push(await contextStoreCheck(settings, options));
  }

  let kubeConfig: k8s.KubeConfig | undefined;
  try {
    kubeConfig = options.kubeConfig ?? loadKubeConfig(env);
  } catch (error) {
    checks.push(
      failed(
        'kubernetes.access',
        `Kubernetes: cannot load ${env.KUBECONFIG ? `KUBECONFIG (${env.KUBECONFIG})` : 'the in-cluster ServiceAccount credentials'}: ${(error as Error).message}`,
        env.KUBECONFIG
          ? 'Point KUBECONFIG at a valid kubeconfig file, or unset it outside a cluster'
          : 'Mount the ServiceAccount token (automountServiceAccountToken: true)',
      ),
    );
    return checks;
  }
  if (kubeConfig) {
    checks.push(
      ...(await checkKubernetesAccess({
        kubeConfig,
        ...(settings.kubernetes.namespace ? { namespace: settings.kubernetes.namespace } : {}),
        targetNamespaces: settings.kubernetes.targetNamespaces,
        kaniko: builder === 'kaniko',
        deletesFinishedJobs: settings.launchJobs.ttlSecondsAfterFinished !== undefined,
      })),
    );
  } else {
    checks.push(
      skipped('kubernetes.access', 'Kubernetes: not in a cluster and KUBECONFIG is not set'),
    );
  }
  return checks;
}

function loadKubeConfig(env: NodeJS.ProcessEnv): k8s.KubeConfig | undefined {
  if (!env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG) return undefined;
  const kubeConfig = new k8s.KubeConfig();
  if (!env.KUBECONFIG) {
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  // kubectl's rule for a list of files: merged in order, the first current-context wins.
  const [first, ...rest] = env.KUBECONFIG.split(':').filter((file) => file !== '');
  kubeConfig.loadFromFile(first!);
  for (const file of rest) {
    const more = new k8s.KubeConfig();
    more.loadFromFile(file);
    kubeConfig.mergeConfig(more, true);
  }
  return kubeConfig;
}

async function registryChecks(
  settings: AgentSettings,
  options: DoctorOptions,
): Promise<DoctorCheck[]> {
  const builder = settings.builder.type;
  const destination = settings.builder.destination;
  if (builder === 'noop')
    return [skipped('registry.reachable', 'registry: the noop builder pushes nothing')];
  if (!destination) {
    if (builder === 'auto')
      return [skipped('registry.reachable', 'registry: no builder.destination configured')];
    return [
      failed(
        'registry.reachable',
        `registry: the ${builder} builder has no builder.destination`,
        'Set builder.destination to the repository images are pushed to',
      ),
    ];
  }
  const registry = await createRegistry(destination, {
    ...options.registry,
    ecr: { createRepository: settings.builder.createRepository, ...options.registry?.ecr },
  });
  const checks: DoctorCheck[] = [];
  try {
    const lookup = await registry.exists(PROBE_TAG);
    checks.push(
      passed(
        'registry.reachable',
        `registry ${destination.reference} (${destination.kind}) answers tag lookups${lookup.exists ? '' : ' (probe tag absent, as expected)'}`,
      ),
    );
  } catch (error) {
    checks.push(failureFrom('registry.reachable', `registry ${destination.reference}`, error));
    return checks;
  }
  const mutability = await tagMutabilityCheck(registry);
  if (mutability) checks.push(mutability);
  // With kaniko and its own ServiceAccount, build pods push under an identity the agent cannot assume.
  const buildSa = settings.kubernetes.buildServiceAccount;
  if (builder === 'kaniko' && buildSa && buildSa !== settings.kubernetes.serviceAccount) {
    checks.push(
      skipped(
        'registry.push',
        `registry push: kaniko pods push as ServiceAccount ${buildSa}, not as the agent`,
      ),
    );
    return checks;
  }
  try {
    const credentials = await registry.credentials();
    const detail = await probePush(destination, credentials, {
      ...(options.env ? { env: options.env } : {}),
      ...options.push,
    });
    checks.push(passed('registry.push', `registry push allowed: ${detail}`));
  } catch (error) {
    checks.push(failureFrom('registry.push', `registry push to ${destination.reference}`, error));
  }
  return checks;
}

/**
 * Where the registry can say, a warning when the destination lets tags be overwritten: anyone
 * with push rights can then put another image under a source-hash tag, which a later job reuses
 * (the agent pins the digest it finds, so the image cannot change under a job once chosen).
 */
async function tagMutabilityCheck(registry: Registry): Promise<DoctorCheck | undefined> {
  if (!registry.tagMutability) return undefined;
  const where = registry.destination.reference;
  try {
    const rule = await registry.tagMutability();
    if (!rule) {
      return skipped('registry.tag-mutability', `registry: ${where} does not exist yet`);
    }
    if (!rule.mutable) {
      return passed(
        'registry.tag-mutability',
        `registry ${where}: tags are immutable (${rule.setting})`,
      );
    }
    return warned(
      'registry.tag-mutability',
      `registry ${where}: tags can be overwritten (imageTagMutability ${rule.setting}); anyone with push rights can put another image under a source-hash tag, and a later job of that source would reuse it`,
      `Make the tags immutable: aws ecr put-image-tag-mutability --repository-name ${registry.destination.repository} --image-tag-mutability IMMUTABLE (keep push rights to the agent's identity either way)`,
    );
  } catch (error) {
    return failureFrom('registry.tag-mutability', `registry ${where} tag rule`, error);
  }
}

async function contextStoreCheck(
  settings: AgentSettings,
  options: DoctorOptions,
): Promise<DoctorCheck> {
  const env = options.env ?? process.env;
  const store = await selectContextStore(settings, {
    env,
    ...(options.pvcMountPath ? { pvcMountPath: options.pvcMountPath } : {}),
  });
  if (!store) {
    return failed(
      'context-store.write',
      'context store: the kaniko builder has no builder.build-context-store',
      'Set builder.build-context-store to s3://, gs://, an Azure Blob container URL or pvc://<claim>',
    );
  }
  const key = `${PROBE_PREFIX}/${randomBytes(6).toString('hex')}.probe`;
  try {
    await store.put(key, Buffer.from('launch-agent doctor probe\n'));
    if (!(await store.exists(key))) {
      return failed(
        'context-store.write',
        `context store ${store.location}: a probe object was written but cannot be found`,
        'Check that the agent may read objects it wrote (exists checks need read access)',
      );
    }
    await store.delete(key);
    if (await store.exists(key)) {
      return failed(
        'context-store.write',
        `context store ${store.location}: the probe object ${store.uri(key)} could not be deleted`,
        "Grant delete on the store's objects (see launch-agent permissions)",
      );
    }
    return passed(
      'context-store.write',
      `context store ${store.location} is writable (probe object put, found and deleted)`,
    );
  } catch (error) {
    return failureFrom('context-store.write', `context store ${store.location}`, error);
  }
}
