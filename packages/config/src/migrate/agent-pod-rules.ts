// migrate-values: the W&B keys about the agent's own pod (image, scheduling, resources, labels,
// environment, mounts) and its identity.
import { WANDB_GIT_CREDS_SECRET, WANDB_SECRET_ENV_SECRET } from './wandb-chart-keys.js';
import { isMapping, isUnset, type Migration, type Values } from './migration.js';

/** The agent's home in our image, as in W&B's: git and ssh look here. */
const HOME = '/home/launch_agent';
const CA_DIR = '/etc/launch-agent/ca';
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const IDENTITY_ANNOTATIONS: Record<string, string> = {
  'eks.amazonaws.com/role-arn': 'workloadIdentity.aws.roleArn',
  'iam.gke.io/gcp-service-account': 'workloadIdentity.gcp.serviceAccount',
  'azure.workload.identity/client-id': 'workloadIdentity.azure.clientId',
  'azure.workload.identity/tenant-id': 'workloadIdentity.azure.tenantId',
};

function same(m: Migration, from: string, value: unknown, to: string, why = ''): void {
  if (isUnset(value)) {
    m.note(from, 'unset', 'empty; nothing to move');
    return;
  }
  m.set(to, structuredClone(value));
  m.note(from, 'mapped', why || 'same meaning', [to]);
}

export function migrateAgentBlock(m: Migration, agent: Values): void {
  same(m, 'agent.nodeSelector', agent.nodeSelector, 'nodeSelector');
  same(m, 'agent.tolerations', agent.tolerations, 'tolerations');
  same(m, 'agent.affinity', agent.affinity, 'affinity');
  same(m, 'agent.podAnnotations', agent.podAnnotations, 'podAnnotations');
  same(
    m,
    'agent.resources',
    agent.resources,
    'resources',
    'laid over this chart’s default resources (requests cpu 100m, memory 256Mi) the way helm merges maps',
  );
  if (!isUnset(agent.imagePullPolicy)) {
    same(m, 'agent.imagePullPolicy', agent.imagePullPolicy, 'image.pullPolicy');
  } else m.note('agent.imagePullPolicy', 'unset', 'empty; nothing to move');

  if (isUnset(agent.image)) m.note('agent.image', 'unset', 'empty; nothing to move');
  else
    m.note(
      'agent.image',
      'attention',
      `not carried over: ${JSON.stringify(agent.image)} is W&B's Python agent; this chart runs its own image. If you mirror images into a private registry, mirror ours and set image.repository (and imagePullSecrets)`,
    );
  for (const key of ['apiKey', 'useExternalWandbSecret'] as const) {
    if (isUnset(agent[key]) || agent[key] === false)
      m.note(`agent.${key}`, 'unset', 'empty; nothing to move');
    else
      m.note(
        `agent.${key}`,
        'dropped',
        'there is no W&B backend: jobs come from LaunchJob objects in the cluster, so no API key is read. Delete the API key Secret when you uninstall the W&B chart',
      );
  }
  if (isUnset(agent.startTimeout)) m.note('agent.startTimeout', 'unset', 'empty; nothing to move');
  else
    m.note(
      'agent.startTimeout',
      'dropped',
      'this agent has no start deadline: a run Job that cannot be scheduled stays waiting (set spec.activeDeadlineSeconds in a run template to bound a run)',
    );
  if (isUnset(agent.minAvailable)) m.note('agent.minAvailable', 'unset', 'empty; nothing to move');
  else {
    m.set('podDisruptionBudget.enabled', true);
    m.set('podDisruptionBudget.minAvailable', agent.minAvailable);
    m.note(
      'agent.minAvailable',
      'mapped',
      'the W&B chart always made a PodDisruptionBudget, which with its one pod blocks node drains; this chart makes one when replicaCount is above 1',
      ['podDisruptionBudget.enabled', 'podDisruptionBudget.minAvailable'],
    );
  }
  const labels = isMapping(agent.labels) ? { ...agent.labels } : {};
  const azure = m.get('workloadIdentity.azure.clientId');
  if (azure && 'azure.workload.identity/use' in labels) {
    delete labels['azure.workload.identity/use'];
    m.note(
      'agent.labels.azure.workload.identity/use',
      'mapped',
      'this chart sets the label itself when workloadIdentity.azure.clientId is set',
      ['workloadIdentity.azure.clientId'],
    );
  }
  same(m, 'agent.labels', Object.keys(labels).length > 0 ? labels : undefined, 'podLabels');
}

export function migrateServiceAccount(m: Migration, serviceAccount: Values): void {
  const annotations = isMapping(serviceAccount.annotations) ? serviceAccount.annotations : {};
  const rest: Values = {};
  for (const [name, value] of Object.entries(annotations)) {
    const key = `serviceAccount.annotations.${name}`;
    if (isUnset(value)) continue;
    const to = IDENTITY_ANNOTATIONS[name];
    if (to) {
      m.set(to, String(value));
      m.note(
        key,
        'mapped',
        'this chart writes the annotation on the agent’s ServiceAccount only. kaniko build pods (W&B ran them as the agent’s) get no cloud identity: they push with a token the agent mints per build; to read a cloud build-context store, set buildServiceAccount.workloadIdentity to an identity that may only read it',
        [to],
      );
    } else rest[name] = value;
  }
  if (Object.keys(rest).length > 0) {
    m.set('serviceAccount.annotations', rest);
    m.note('serviceAccount.annotations', 'mapped', 'same meaning', ['serviceAccount.annotations']);
  } else if (Object.keys(annotations).length === 0) {
    m.note('serviceAccount.annotations', 'unset', 'empty; nothing to move');
  }
}

interface EnvEntry {
  name: string;
  value?: unknown;
}

function envEntries(m: Migration, key: string, value: unknown, secret: boolean): EnvEntry[] {
  if (isUnset(value)) {
    m.note(key, 'unset', 'empty; nothing to move');
    return [];
  }
  if (!Array.isArray(value)) {
    m.error([key], {
      path: key,
      message: 'expected a list of {name, value}',
      ...(secret ? {} : { value }),
      expected: 'a list such as [{name: MY_VAR, value: "x"}]',
    });
    return [];
  }
  const out: EnvEntry[] = [];
  value.forEach((entry: unknown, i) => {
    const name = isMapping(entry) ? entry.name : undefined;
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      m.error([key, i, 'name'], {
        path: `${key}[${i}].name`,
        message: 'missing or not an environment variable name',
        ...(name === undefined ? {} : { value: name }),
        expected: 'a name of letters, digits, "_", "-" or "." not starting with a digit',
      });
      return;
    }
    out.push({ name, value: (entry as Values).value });
  });
  return out;
}

export function migrateEnv(m: Migration, values: Values, namespace: string): void {
  const plain = envEntries(m, 'additionalEnvVars', values.additionalEnvVars, false);
  if (plain.length > 0) {
    m.push(
      'extraEnv',
      ...plain.map(({ name, value }) => ({
        name,
        value: value === null || value === undefined ? '' : String(value),
      })),
    );
    const wandb = plain.filter((e) => e.name.startsWith('WANDB_')).map((e) => e.name);
    m.note(
      'additionalEnvVars',
      wandb.length > 0 ? 'attention' : 'mapped',
      wandb.length > 0
        ? `moved, but ${wandb.join(', ')} ${wandb.length === 1 ? 'is' : 'are'} read by W&B's agent only`
        : 'same meaning',
      ['extraEnv'],
    );
  }
  const secret = envEntries(m, 'additionalSecretEnvVars', values.additionalSecretEnvVars, true);
  if (secret.length > 0) {
    m.push(
      'extraEnv',
      ...secret.map(({ name }) => ({
        name,
        valueFrom: { secretKeyRef: { name: WANDB_SECRET_ENV_SECRET, key: name } },
      })),
    );
    const literals = secret.map((e) => `--from-literal=${e.name}=...`).join(' ');
    m.note(
      'additionalSecretEnvVars',
      'attention',
      `the values are not copied: each variable now reads Secret ${WANDB_SECRET_ENV_SECRET} (keys ${secret.map((e) => e.name).join(', ')}). The W&B chart created that Secret in namespace wandb and deletes it on uninstall; create it in ${namespace}: kubectl -n ${namespace} create secret generic ${WANDB_SECRET_ENV_SECRET} ${literals}`,
      ['extraEnv'],
    );
  }
}

export function migrateGitAndSsh(m: Migration, values: Values, namespace: string): void {
  if (isUnset(values.gitCreds)) m.note('gitCreds', 'unset', 'empty; nothing to move');
  else {
    m.push('extraVolumes', {
      name: 'git-creds',
      secret: { secretName: WANDB_GIT_CREDS_SECRET, defaultMode: 0o440 },
    });
    m.push(
      'extraVolumeMounts',
      { name: 'git-creds', mountPath: `${HOME}/.gitconfig`, subPath: '.gitconfig', readOnly: true },
      {
        name: 'git-creds',
        mountPath: `${HOME}/.git-credentials`,
        subPath: '.git-credentials',
        readOnly: true,
      },
    );
    m.note(
      'gitCreds',
      'attention',
      `the credentials are not copied: the agent mounts Secret ${WANDB_GIT_CREDS_SECRET} (keys .git-credentials and .gitconfig) as ~/.gitconfig and ~/.git-credentials, as the W&B chart did. That chart deletes the Secret on uninstall; create it in ${namespace}: kubectl -n ${namespace} create secret generic ${WANDB_GIT_CREDS_SECRET} --from-file=.git-credentials=FILE --from-literal=.gitconfig=$'[credential]\\n\\thelper = store\\n'. This agent fetches git sources only from the hosts in agentConfig.launchjobs.git-sources.hosts (none by default) and offers ~/.git-credentials only to those hosts (credential-hosts); list your git hosts there`,
      ['extraVolumes', 'extraVolumeMounts'],
    );
  }
  const ssh = values.sshAuthSecrets;
  if (isUnset(ssh)) {
    m.note('sshAuthSecrets', 'unset', 'empty; nothing to move');
    return;
  }
  const keys: string[] = [];
  (ssh as unknown[]).forEach((entry, i) => {
    const name = isMapping(entry) ? entry.name : undefined;
    if (typeof name !== 'string' || name === '') {
      m.error(['sshAuthSecrets', i], {
        path: `sshAuthSecrets[${i}].name`,
        message: 'missing; each entry names a kubernetes.io/ssh-auth Secret',
        expected: 'a mapping {name: SECRET, host: HOST}',
      });
      return;
    }
    const path = `${HOME}/.ssh/id_repo${i}`;
    keys.push(path);
    m.push('extraVolumes', {
      name: `git-ssh-key-${i}`,
      secret: {
        secretName: name,
        defaultMode: 0o440,
        items: [{ key: 'ssh-privatekey', path: `id_repo${i}` }],
      },
    });
    m.push('extraVolumeMounts', {
      name: `git-ssh-key-${i}`,
      mountPath: path,
      subPath: `id_repo${i}`,
      readOnly: true,
    });
  });
  if (keys.length === 0) return;
  m.push('extraEnv', {
    name: 'GIT_SSH_COMMAND',
    value: `ssh ${keys.map((k) => `-i ${k}`).join(' ')} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`,
  });
  m.note(
    'sshAuthSecrets',
    'attention',
    'each Secret is mounted as in the W&B chart; instead of an ssh config per host, GIT_SSH_COMMAND offers every key to the hosts of agentConfig.launchjobs.git-sources.credential-hosts (by default every host in git-sources.hosts, which must list your git hosts; host keys are not checked, as before). The Secrets must exist in the release namespace',
    ['extraVolumes', 'extraVolumeMounts', 'extraEnv'],
  );
}

export function migrateCustomCa(m: Migration, values: Values): void {
  const configMap = isMapping(values.customCABundle)
    ? (values.customCABundle as Values).configMap
    : undefined;
  const name = isMapping(configMap) ? configMap.name : undefined;
  const key = isMapping(configMap) ? configMap.key : undefined;
  if (isUnset(name) && isUnset(key)) {
    m.note('customCABundle', 'unset', 'empty; nothing to move');
    return;
  }
  if (isUnset(name) || isUnset(key)) {
    m.note(
      'customCABundle',
      'dropped',
      'the W&B chart used the bundle only when both configMap.name and configMap.key are set',
    );
    return;
  }
  m.push('extraVolumes', {
    name: 'custom-ca-bundle',
    configMap: { name: String(name), items: [{ key: String(key), path: 'custom-ca.crt' }] },
  });
  m.push('extraVolumeMounts', { name: 'custom-ca-bundle', mountPath: CA_DIR, readOnly: true });
  m.push('extraEnv', { name: 'NODE_EXTRA_CA_CERTS', value: `${CA_DIR}/custom-ca.crt` });
  m.note(
    'customCABundle',
    'attention',
    `the agent trusts the bundle through NODE_EXTRA_CA_CERTS (W&B's Python agent read REQUESTS_CA_BUNDLE). Kaniko build pods do not get it: add --registry-certificate through agentConfig.builder.kaniko-config if your registry uses that CA`,
    ['extraVolumes', 'extraVolumeMounts', 'extraEnv'],
  );
}
