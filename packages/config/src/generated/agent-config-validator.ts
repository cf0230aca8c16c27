// Generated from schemas/agent-config.schema.json by `pnpm generate` (Ajv standalone code). Do not edit.
// @ts-nocheck
function ucs2length(str) {
  const len = str.length;
  let length = 0;
  let pos = 0;
  let value;
  while (pos < len) {
    length++;
    value = str.charCodeAt(pos++);
    if (value >= 0xd800 && value <= 0xdbff && pos < len) {
      value = str.charCodeAt(pos);
      if ((value & 0xfc00) === 0xdc00) pos++;
    }
  }
  return length;
}
export const validate = validate10;
export default validate10;
const schema11 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://launch-agent.dev/schemas/agent-config.schema.json',
  title: 'LaunchAgentConfig',
  description:
    "The launch agent's configuration file (launch-config.yaml). A file written for the Weights & Biases launch agent loads here with the same meaning; keys this agent adds are marked as such.",
  type: 'object',
  additionalProperties: false,
  properties: {
    queues: {
      description: 'Names of the queues the agent takes jobs from.',
      type: 'array',
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 253,
        'x-expected': 'a non-empty queue name',
      },
      uniqueItems: true,
      default: ['default'],
      examples: [['default', 'gpu-a100']],
      'x-expected': 'a list of queue names',
    },
    queue: {
      description: 'Legacy single queue name. Still accepted: it is appended to `queues`.',
      type: 'string',
      minLength: 1,
      examples: ['default'],
      'x-expected': 'a queue name',
    },
    entity: {
      description: 'The team or user that owns the queues.',
      type: 'string',
      minLength: 1,
      examples: ['ml-platform'],
      'x-expected': 'an entity (team or user) name',
    },
    max_jobs: {
      description: 'How many jobs the agent runs at once. -1 means no limit.',
      type: 'integer',
      minimum: -1,
      not: { const: 0 },
      default: 1,
      examples: [4, -1],
      'x-expected': 'an integer >= 1, or -1 for unlimited',
    },
    max_schedulers: {
      description: 'How many sweep schedulers the agent runs at once. -1 means no limit.',
      type: 'integer',
      minimum: -1,
      not: { const: 0 },
      default: 1,
      examples: [1],
      'x-expected': 'an integer >= 1, or -1 for unlimited',
    },
    verbosity: {
      description:
        'Log detail: 0 is info, 1 adds debug messages, 2 adds the full build and Kubernetes traffic.',
      type: 'integer',
      minimum: 0,
      maximum: 2,
      default: 0,
      examples: [1],
      'x-expected': '0, 1 or 2',
    },
    secure_mode: {
      description:
        'When true, jobs may not override the container entrypoint, run privileged or mount host paths.',
      type: 'boolean',
      default: false,
      examples: [true],
      'x-expected': 'true or false',
    },
    stopped_run_timeout: {
      description:
        "Seconds the agent waits for a stopped run's workload to exit before it is killed.",
      type: 'integer',
      minimum: 0,
      default: 60,
      examples: [120],
      'x-expected': 'a whole number of seconds >= 0',
    },
    environment: {
      description: 'The cloud the agent runs in. It decides how cloud credentials are found.',
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: {
          description: 'Cloud environment: aws, gcp, azure, or local (no cloud).',
          type: 'string',
          enum: ['aws', 'gcp', 'azure', 'local'],
          examples: ['aws'],
          'x-expected': 'one of aws, gcp, azure, local',
        },
        region: {
          description: 'Region the agent runs in. Required for aws and gcp.',
          type: 'string',
          pattern: '^[a-z0-9-]+$',
          examples: ['us-east-1', 'us-central1'],
          'x-expected': 'a region name such as us-east-1 or us-central1',
        },
        project: {
          description: 'Google Cloud project the agent runs in. Required for gcp.',
          type: 'string',
          pattern: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$',
          examples: ['my-ml-project'],
          'x-expected': 'a Google Cloud project id (6-30 lowercase letters, digits, hyphens)',
        },
      },
      allOf: [
        {
          if: { properties: { type: { const: 'aws' } }, required: ['type'] },
          then: { required: ['region'] },
        },
        {
          if: { properties: { type: { const: 'gcp' } }, required: ['type'] },
          then: { required: ['region', 'project'] },
        },
      ],
      examples: [{ type: 'aws', region: 'us-east-1' }],
      'x-expected':
        'a mapping with type (aws, gcp, azure, local) and, for aws and gcp, region (and project for gcp)',
    },
    registry: {
      description:
        'Deprecated: set builder.destination instead. The registry block is folded into the builder with a warning.',
      type: 'object',
      additionalProperties: false,
      properties: {
        type: {
          description: 'Registry kind: ecr, gcr (Artifact Registry) or acr.',
          type: 'string',
          enum: ['ecr', 'gcr', 'acr'],
          examples: ['ecr'],
          'x-expected': 'one of ecr, gcr, acr',
        },
        uri: {
          description: 'Repository URI, used as builder.destination when that is not set.',
          type: 'string',
          minLength: 1,
          pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
          examples: ['123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images'],
          'x-expected': 'a repository URI without a tag, like host[:port]/path',
        },
      },
      examples: [
        { type: 'ecr', uri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images' },
      ],
      'x-expected': 'a mapping with type and uri',
    },
    builder: {
      description:
        'How the agent turns source into images. Without this block the agent uses docker when a Docker engine answers, else noop.',
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: {
          description:
            'docker builds through a Docker Engine API, kaniko builds in a Kubernetes Job, noop never builds.',
          type: 'string',
          enum: ['docker', 'kaniko', 'noop'],
          examples: ['kaniko'],
          'x-expected': 'one of docker, kaniko, noop',
        },
        destination: {
          description:
            'Repository the agent pushes images to, without a tag: every image is tagged with its source hash. ECR <account>.dkr.ecr.<region>.amazonaws.com/<repository>, Artifact Registry <region>-docker.pkg.dev/<project>/<repository>/<image>, ACR <name>.azurecr.io/<repository> (Azure allows 5 to 50 letters and digits in <name>; any other name under azurecr.io is an error, never a plain registry), or any host[:port]/path. A leading https:// is allowed.',
          type: 'string',
          minLength: 1,
          pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
          examples: [
            '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images',
            'us-central1-docker.pkg.dev/my-ml-project/launch/images',
            'https://myregistry.azurecr.io/team/launch-images',
            'registry.internal:5000/ml/launch',
          ],
          'x-expected': 'a repository without a tag or digest, like host[:port]/path',
        },
        uri: {
          description:
            "Alias of destination, as written in the W&B launch agent guide's Google Cloud example. Set one of the two.",
          type: 'string',
          minLength: 1,
          pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
          examples: ['us-central1-docker.pkg.dev/my-ml-project/launch/images'],
          'x-expected': 'a repository without a tag or digest, like host[:port]/path',
        },
        platform: {
          description: 'Target platform of built images.',
          type: 'string',
          enum: ['linux/amd64', 'linux/arm64'],
          examples: ['linux/amd64'],
          'x-expected': 'linux/amd64 or linux/arm64',
        },
        'build-context-store': {
          description:
            'Where kaniko build contexts are uploaded: s3://bucket[/path], gs://bucket[/path], https://<account>.blob.core.windows.net/<container>[/path], or pvc://<claim>[/path] for a PersistentVolumeClaim (clusters without an object store, such as CoreWeave). Required by the kaniko builder.',
          type: 'string',
          pattern:
            '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?|https://[a-z0-9]{3,24}\\.blob\\.core\\.windows\\.net/[a-z0-9](-?[a-z0-9]){2,62}(/.*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/.*)?)$',
          examples: [
            's3://my-launch-bucket/contexts',
            'gs://my-launch-bucket/contexts',
            'https://mystorageacct.blob.core.windows.net/contexts',
            'pvc://launch-contexts/builds',
          ],
          'x-expected':
            's3://bucket[/path], gs://bucket[/path], https://<account>.blob.core.windows.net/<container>[/path] or pvc://<claim>[/path]',
        },
        'build-job-name': {
          description: 'Prefix of kaniko build Job names; a short hash of the build is appended.',
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          maxLength: 46,
          default: 'wandb-launch-container-build',
          examples: ['image-build'],
          'x-expected':
            "a DNS-1123 label prefix (lowercase letters, digits, '-') of at most 46 characters",
        },
        'secret-name': {
          description:
            'Kubernetes Secret holding cloud credentials for kaniko (for example a Google service-account key). Needs secret-key.',
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          maxLength: 253,
          examples: ['kaniko-gcp-key'],
          'x-expected': 'a Kubernetes Secret name',
        },
        'secret-key': {
          description: 'Key inside secret-name that holds the credentials file. Needs secret-name.',
          type: 'string',
          pattern: '^[-._a-zA-Z0-9]+$',
          examples: ['key.json'],
          'x-expected': "a Secret data key (letters, digits, '-', '_', '.')",
        },
        'kaniko-image': {
          description:
            'Kaniko executor image used by build Jobs. Defaults to a maintained executor pinned by the runtime.',
          type: 'string',
          minLength: 1,
          pattern: '^[^\\s]+$',
          examples: ['ghcr.io/osscontainertools/kaniko:latest'],
          'x-expected': 'an image reference',
        },
        'kaniko-push-image': {
          description:
            'Added by this agent. Image of the push container of kaniko build pods: it pushes the image tarball the build container wrote, and alone holds the push credentials. Runs `crane push`; defaults to a crane image pinned by the runtime.',
          type: 'string',
          minLength: 1,
          pattern: '^[^\\s]+$',
          examples: ['gcr.io/go-containerregistry/crane:v0.20.4'],
          'x-expected': 'an image reference',
        },
        'pull-docker-config-secret': {
          description:
            "Added by this agent. kubernetes.io/dockerconfigjson Secret with pull-only credentials for the base images a Dockerfile names; mounted into the kaniko build container. Never give it the push credentials: a Dockerfile's RUN steps can read it. Without it, base images are pulled anonymously.",
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          maxLength: 253,
          examples: ['registry-pull-credentials'],
          'x-expected': 'a Kubernetes Secret name',
        },
        'kaniko-cache': {
          description:
            "Added by this agent. Use kaniko's registry layer cache (--cache-repo). Off by default: the cache is pushed from the build container, so turning it on mounts the push credentials there, where RUN steps can read them.",
          type: 'boolean',
          default: false,
          examples: [true],
          'x-expected': 'true or false',
        },
        'kaniko-config': {
          description:
            'Partial batch/v1 Job laid over the kaniko build Job: lists are appended, scalars you set win, container args are merged by flag name.',
          type: 'object',
          properties: {
            spec: {
              description:
                'Job spec fields laid over the defaults (backoffLimit, activeDeadlineSeconds, template).',
              type: 'object',
              properties: {
                template: {
                  description:
                    'Pod template of the build Job: labels, annotations and the pod spec.',
                  type: 'object',
                  properties: {
                    spec: {
                      description:
                        'Pod spec of the build pod: volumes, nodeSelector, tolerations, the executor container.',
                      type: 'object',
                      properties: {
                        containers: {
                          description: 'Exactly one container: the kaniko executor.',
                          type: 'array',
                          minItems: 1,
                          maxItems: 1,
                          items: {
                            type: 'object',
                            properties: {
                              args: {
                                description:
                                  'Executor flags, each --key=value; a flag given here replaces the default with the same name.',
                                type: 'array',
                                items: {
                                  type: 'string',
                                  pattern: '^--[A-Za-z0-9][A-Za-z0-9._-]*=.*$',
                                  'x-expected': 'a kaniko flag in the form --key=value',
                                },
                                'x-expected': 'a list of --key=value strings',
                              },
                            },
                            'x-expected': 'a container mapping',
                          },
                          'x-expected': 'a list with exactly one container',
                        },
                      },
                      'x-expected': 'a pod spec mapping',
                    },
                  },
                  'x-expected': 'a pod template mapping',
                },
              },
              'x-expected': 'a Job spec mapping',
            },
          },
          examples: [
            {
              spec: {
                template: {
                  spec: {
                    containers: [
                      {
                        args: ['--cache=false'],
                        env: [{ name: 'MY_ENV_VAR', value: 'my-env-var-value' }],
                      },
                    ],
                  },
                },
              },
            },
          ],
          'x-expected': 'a partial batch/v1 Job mapping',
        },
        'build-timeout-seconds': {
          description:
            'Added by this agent. Deadline of a kaniko build Job (activeDeadlineSeconds).',
          type: 'integer',
          minimum: 1,
          default: 1800,
          examples: [3600],
          'x-expected': 'a whole number of seconds >= 1',
        },
        'create-repository': {
          description:
            'Added by this agent. Create the ECR repository when it does not exist (needs ecr:CreateRepository).',
          type: 'boolean',
          default: false,
          examples: [true],
          'x-expected': 'true or false',
        },
        'docker-config-secret': {
          description:
            'Added by this agent. kubernetes.io/dockerconfigjson Secret mounted into kaniko pods as registry credentials (CoreWeave or any registry without a cloud helper).',
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          maxLength: 253,
          examples: ['registry-push-credentials'],
          'x-expected': 'a Kubernetes Secret name',
        },
        'azure-storage-secret': {
          description:
            'Added by this agent. Secret holding the Azure storage account key kaniko uses to read build contexts from Azure Blob Storage. Without it, kaniko pods use workload identity.',
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: {
              description: 'Secret name.',
              type: 'string',
              pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
              examples: ['azure-storage-access-key'],
              'x-expected': 'a Kubernetes Secret name',
            },
            key: {
              description: 'Key inside the Secret.',
              type: 'string',
              pattern: '^[-._a-zA-Z0-9]+$',
              default: 'AZURE_STORAGE_ACCESS_KEY',
              examples: ['AZURE_STORAGE_ACCESS_KEY'],
              'x-expected': 'a Secret data key',
            },
          },
          examples: [{ name: 'azure-storage-access-key', key: 'AZURE_STORAGE_ACCESS_KEY' }],
          'x-expected': 'a mapping with name and optional key',
        },
        'context-pvc-mount-path': {
          description:
            "Added by this agent. Where the claim named by a pvc:// build-context-store is mounted in the agent's own pod.",
          type: 'string',
          pattern: '^/[A-Za-z0-9._/-]*$',
          default: '/var/run/launch-agent/contexts',
          examples: ['/var/run/launch-agent/contexts'],
          'x-expected': "an absolute path of letters, digits, '.', '_', '-' and '/'",
        },
        's3-endpoint': {
          description:
            "Added by this agent. Endpoint of an S3-compatible store for an s3:// build-context-store (CoreWeave AI Object Storage, MinIO, Ceph). The agent uses it and passes it to kaniko pods (S3_ENDPOINT). Default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL in the agent's environment, else Amazon S3.",
          type: 'string',
          pattern: '^https?://[^/\\s]+/?$',
          examples: ['https://cwobject.com'],
          'x-expected': 'an http:// or https:// URL without a path',
        },
        's3-addressing-style': {
          description:
            'Added by this agent. How requests name the bucket: virtual (bucket.host, what Amazon S3 prefers and the only style CoreWeave AI Object Storage serves) or path (host/bucket, what MinIO and most emulators expect). Default: path when an endpoint is set (s3-endpoint or the environment), virtual for Amazon S3. Kaniko pods get the same style (S3_FORCE_PATH_STYLE).',
          type: 'string',
          enum: ['path', 'virtual'],
          examples: ['virtual'],
          'x-expected': 'path or virtual',
        },
      },
      dependencies: { 'secret-name': ['secret-key'], 'secret-key': ['secret-name'] },
      allOf: [
        {
          if: { properties: { type: { const: 'kaniko' } }, required: ['type'] },
          then: { required: ['build-context-store'] },
        },
      ],
      examples: [
        {
          type: 'kaniko',
          destination: '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images',
          'build-context-store': 's3://my-launch-bucket/contexts',
        },
      ],
      'x-expected': 'a mapping with type (docker, kaniko, noop) and its settings',
    },
    kubernetes: {
      description:
        'Added by this agent. Facts about the cluster the agent runs in; the Helm chart fills this block in.',
      type: 'object',
      additionalProperties: false,
      properties: {
        namespace: {
          description:
            "Namespace of the agent, where its Lease, build Jobs and their push credential Secrets are created. Never runs user code. Defaults to the pod's own namespace.",
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          maxLength: 63,
          examples: ['launch'],
          'x-expected': 'a Kubernetes namespace name',
        },
        'service-account': {
          description: 'ServiceAccount the agent runs as.',
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          maxLength: 253,
          examples: ['launch-agent'],
          'x-expected': 'a ServiceAccount name',
        },
        'build-service-account': {
          description:
            "ServiceAccount of kaniko build pods. It carries only the cloud identity needed to push images and read contexts, none of the agent's Kubernetes permissions.",
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          maxLength: 253,
          examples: ['launch-agent-build'],
          'x-expected': 'a ServiceAccount name',
        },
        'target-namespaces': {
          description:
            "The tenant namespaces the agent serves: LaunchJobs are created in one of these and run there, with everything made for them. The agent's own namespace (kubernetes.namespace) holds its credentials and is never one of them: a LaunchJob created there fails with NamespaceNotServed. The chart fills this in from additionalTargetNamespaces.",
          type: 'array',
          items: {
            type: 'string',
            pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
            maxLength: 63,
            'x-expected': 'a Kubernetes namespace name',
          },
          uniqueItems: true,
          examples: [['team-a', 'team-b']],
          'x-expected': 'a list of namespace names',
        },
      },
      examples: [{ namespace: 'launch', 'service-account': 'launch-agent' }],
      'x-expected':
        'a mapping of namespace, service-account, build-service-account, target-namespaces',
    },
    launchjobs: {
      description:
        "Added by this agent. How the agent holds LaunchJobs: how often it renews its Lease (which keeps every job it holds), when another agent may take a silent agent's jobs over, how long finished jobs are kept, how much of a job's source the agent unpacks, and where git sources may come from.",
      type: 'object',
      additionalProperties: false,
      properties: {
        'heartbeat-seconds': {
          description:
            'How often the agent renews its Lease (one per agent, in its namespace), which says it is alive and so still holds its jobs. One write per agent per interval, however many jobs it holds.',
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: 10,
          examples: [10],
          'x-expected': 'a whole number of seconds from 1 to 3600',
        },
        'stale-after-seconds': {
          description:
            "The duration of the agent's Lease: when it has not been renewed for this long, the agent is taken for gone and another agent of its queue takes its jobs over. Must cover at least three renewals (3 x heartbeat-seconds), so a slow write is not mistaken for a dead agent.",
          type: 'integer',
          minimum: 3,
          maximum: 86400,
          default: 45,
          examples: [45],
          'x-expected': 'a whole number of seconds, at least 3 x heartbeat-seconds',
        },
        'ttl-seconds-after-finished': {
          description:
            'Deletes a LaunchJob this long after it Succeeded or Failed, with its run Job and, when no other LaunchJob uses it, its uploaded build context. Unset keeps finished jobs until someone deletes them, as Kubernetes does for Jobs.',
          type: 'integer',
          minimum: 0,
          examples: [604800],
          'x-expected': 'a whole number of seconds >= 0',
        },
        'max-source-bytes': {
          description:
            "The most bytes a LaunchJob's source may take on the agent: a stored build context (source.context) as it unpacks, a git source (source.git) as it is fetched and checked out (its fetched pack and its files together). The write that would pass it stops, the job fails (UnsafeBuildContext) and what was written is removed. Keep it below the agent's /tmp size limit (the chart's tmpVolume.sizeLimit).",
          type: 'integer',
          minimum: 1048576,
          default: 1073741824,
          examples: [1073741824],
          'x-expected': 'a whole number of bytes, at least 1048576 (1 MiB)',
        },
        'max-source-entries': {
          description:
            "The most files, directories and links a LaunchJob's source (a stored build context or a git checkout) may hold. More fails the job (UnsafeBuildContext).",
          type: 'integer',
          minimum: 1,
          default: 100000,
          examples: [100000],
          'x-expected': 'a whole number of entries, at least 1',
        },
        'source-budget-bytes': {
          description:
            "The most bytes the sources of all builds in progress may take on the agent's /tmp together (stored contexts as they unpack, git sources as they are fetched and checked out). A build reserves max-source-bytes before it writes anything and keeps what its source really takes until the build ends; a build whose reservation does not fit waits (in phase Building) until others release theirs. Unset: 3 x max-source-bytes. Keep it below the agent's /tmp size limit (the chart's tmpVolume.sizeLimit, 4Gi by default).",
          type: 'integer',
          minimum: 1048576,
          examples: [3221225472],
          'x-expected': 'a whole number of bytes, at least max-source-bytes',
        },
        'git-sources': {
          description:
            "Where a LaunchJob's source.git may come from, and which hosts get the agent's git credentials. Without hosts the agent refuses every git source (GitSourceNotAllowed): a job's URL is untrusted input, and the agent sits inside the cluster with credentials. file:// URLs, local paths and git's other transports (ext::, fd::) are always refused, whatever this says. See docs/agent.md#git-sources.",
          type: 'object',
          additionalProperties: false,
          properties: {
            hosts: {
              description:
                'Hosts a git source may name: exact names (github.com), a wildcard for every subdomain of a name (*.git.example.com matches a.git.example.com and a.b.git.example.com, not git.example.com itself), IP addresses, or * for any host. Empty or unset: no git source is allowed. Any port of a listed host is allowed.',
              type: 'array',
              items: {
                type: 'string',
                minLength: 1,
                maxLength: 255,
                pattern:
                  '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                'x-expected':
                  'a host name (git.example.com), a wildcard for its subdomains (*.example.com), an IP address, or * for any host',
              },
              uniqueItems: true,
              examples: [['github.com', '*.git.example.com']],
              'x-expected': 'a list of host names, *.domain wildcards, IP addresses or *',
            },
            schemes: {
              description:
                'URL schemes a git source may use. https and ssh (also user@host:path) by default; http and git (git://) carry the source unauthenticated and in clear text and are allowed only when listed. file:// is never allowed.',
              type: 'array',
              items: {
                type: 'string',
                enum: ['https', 'ssh', 'http', 'git'],
                'x-expected': 'https, ssh, http or git (file is never allowed)',
              },
              uniqueItems: true,
              minItems: 1,
              default: ['https', 'ssh'],
              examples: [['https', 'ssh']],
              'x-expected': 'a list of https, ssh, http, git',
            },
            'credential-hosts': {
              description:
                "Hosts that are offered the agent's git credentials: the entries of credentials-file over https, and the SSH keys of the agent's GIT_SSH_COMMAND (or its ~/.ssh) over ssh. Every other host is fetched with no credentials at all, and never over http or git://. Same forms as hosts except *; each must also be allowed by hosts. Unset: every entry of hosts other than *.",
              type: 'array',
              items: {
                type: 'string',
                minLength: 1,
                maxLength: 255,
                pattern:
                  '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                'x-expected':
                  'a host name (git.example.com), a wildcard for its subdomains (*.example.com), an IP address, or * for any host',
              },
              uniqueItems: true,
              examples: [['github.com']],
              'x-expected':
                'a list of host names, *.domain wildcards or IP addresses, each allowed by hosts',
            },
            'credentials-file': {
              description:
                "A git-credential-store file (lines https://user:token@host) whose entries are offered to credential-hosts over https. Unset: ~/.git-credentials of the agent (where the chart's migration mounts a gitCreds Secret). The agent's ~/.gitconfig and system git config are not read.",
              type: 'string',
              minLength: 1,
              maxLength: 4096,
              pattern: '^/',
              examples: ['/home/launch_agent/.git-credentials'],
              'x-expected': 'an absolute path',
            },
          },
          examples: [
            {
              hosts: ['github.com', '*.git.example.com'],
              schemes: ['https', 'ssh'],
              'credential-hosts': ['github.com'],
            },
          ],
          'x-expected': 'a mapping of hosts, schemes, credential-hosts, credentials-file',
        },
      },
      examples: [
        {
          'heartbeat-seconds': 10,
          'stale-after-seconds': 45,
          'ttl-seconds-after-finished': 604800,
        },
      ],
      'x-expected':
        'a mapping of heartbeat-seconds, stale-after-seconds, ttl-seconds-after-finished, max-source-bytes, max-source-entries, source-budget-bytes, git-sources',
    },
    'queue-policies': {
      description:
        "Added by this agent. Per queue, who may use it and what its LaunchJobs may ask for. A LaunchJob lives in, and runs in, a namespace the agent serves (kubernetes.target-namespaces); a queue is offered to the namespaces listed here or matched by the selector (every served namespace when neither is set). What the queue's run template fixes (serviceAccountName, priorityClassName, nodeSelector, tolerations) a LaunchJob cannot change or extend; these keys cap the rest. Run pods meet the Pod Security baseline level unless pod-security says privileged. See docs/tenancy.md.",
      type: 'object',
      propertyNames: { minLength: 1, maxLength: 253 },
      additionalProperties: {
        description: 'The policy of one queue.',
        type: 'object',
        additionalProperties: false,
        properties: {
          namespaces: {
            description:
              'Namespaces whose LaunchJobs may use this queue (each must be one of kubernetes.target-namespaces). With namespace-selector, a namespace matched by either may use it.',
            type: 'array',
            items: {
              type: 'string',
              pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
              maxLength: 63,
              'x-expected': 'a Kubernetes namespace name',
            },
            uniqueItems: true,
            examples: [['team-a', 'team-b']],
            'x-expected': 'a list of namespace names',
          },
          'namespace-selector': {
            description:
              "A label selector over served namespaces, as in a Kueue ClusterQueue's namespaceSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist).",
            type: 'object',
            additionalProperties: false,
            properties: {
              matchLabels: {
                type: 'object',
                additionalProperties: { type: 'string', 'x-expected': 'a label value' },
                'x-expected': 'a mapping of label keys to values',
              },
              matchExpressions: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['key', 'operator'],
                  properties: {
                    key: { type: 'string', minLength: 1, 'x-expected': 'a label key' },
                    operator: {
                      type: 'string',
                      enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
                      'x-expected': 'In, NotIn, Exists or DoesNotExist',
                    },
                    values: {
                      type: 'array',
                      items: { type: 'string', 'x-expected': 'a label value' },
                      'x-expected': 'a list of label values',
                    },
                  },
                  'x-expected': 'a mapping of key, operator and values',
                },
                'x-expected': 'a list of label selector requirements',
              },
            },
            examples: [{ matchLabels: { 'launch-agent.dev/tenant': 'true' } }],
            'x-expected': 'a mapping of matchLabels and matchExpressions',
          },
          'pod-security': {
            description:
              'baseline (default): no privileged containers, host namespaces, host ports or hostPath, privilege escalation off, volume types from the allow-list. privileged: a LaunchJob of this queue may ask for any of those.',
            type: 'string',
            enum: ['baseline', 'privileged'],
            default: 'baseline',
            'x-expected': 'baseline or privileged',
          },
          'allowed-volume-types': {
            description:
              'Volume types a LaunchJob of this queue may use besides emptyDir, configMap, secret, persistentVolumeClaim, projected, downwardAPI and ephemeral (for example nfs or csi). hostPath needs pod-security: privileged.',
            type: 'array',
            items: {
              type: 'string',
              pattern: '^[a-zA-Z][a-zA-Z0-9]*$',
              'x-expected': 'a volume type as the Pod API names it (nfs, csi, ...)',
            },
            uniqueItems: true,
            examples: [['nfs', 'csi']],
            'x-expected': 'a list of volume type names',
          },
          'allowed-priority-classes': {
            description:
              'PriorityClasses a LaunchJob of this queue may ask for (spec.run.priorityClassName). Unset: any class except the system- ones. A class the run template sets is fixed and needs no listing.',
            type: 'array',
            items: { type: 'string', minLength: 1, 'x-expected': 'a PriorityClass name' },
            uniqueItems: true,
            examples: [['batch-low', 'batch-high']],
            'x-expected': 'a list of PriorityClass names',
          },
          'allowed-tolerations': {
            description:
              "Tolerations a LaunchJob of this queue may add; each of the job's must equal one of these in key, operator, value and effect (an entry without effect allows any effect). Unset: tolerations that name a key are allowed, except control-plane keys; a toleration of every taint (no key, operator Exists) is always refused.",
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                key: { type: 'string', 'x-expected': 'a taint key' },
                operator: {
                  type: 'string',
                  enum: ['Exists', 'Equal'],
                  'x-expected': 'Exists or Equal',
                },
                value: { type: 'string', 'x-expected': 'a taint value' },
                effect: {
                  type: 'string',
                  enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'],
                  'x-expected': 'NoSchedule, PreferNoSchedule or NoExecute',
                },
              },
              'x-expected': 'a toleration (key, operator, value, effect)',
            },
            examples: [[{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]],
            'x-expected': 'a list of tolerations',
          },
          'max-resources': {
            description:
              "The most a container of this queue's LaunchJobs may request or limit, per resource (for example cpu: 8, memory: 64Gi, nvidia.com/gpu: 8). A job asking for more, in requests or limits, is refused.",
            type: 'object',
            additionalProperties: {
              anyOf: [
                {
                  type: 'string',
                  pattern: '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$',
                },
                { type: 'number', minimum: 0 },
              ],
              'x-expected': 'a Kubernetes quantity (8, 500m, 64Gi)',
            },
            examples: [{ cpu: '8', memory: '64Gi', 'nvidia.com/gpu': '8' }],
            'x-expected': 'a mapping of resource names to quantities',
          },
        },
        'x-expected':
          'a mapping of namespaces, namespace-selector, pod-security, allowed-volume-types, allowed-priority-classes, allowed-tolerations, max-resources',
      },
      examples: [
        {
          gpu: {
            namespaces: ['team-a'],
            'allowed-priority-classes': ['batch-low'],
            'max-resources': { 'nvidia.com/gpu': '8' },
          },
        },
      ],
      'x-expected': 'a mapping of queue names to queue policies',
    },
    'run-templates': {
      description:
        'Added by this agent. Per queue, a partial batch/v1 Job laid over the run Job of every LaunchJob of that queue (resources, node selectors, tolerations, affinity, labels, annotations, imagePullSecrets, service account, env, volumes), with the same merge rules as builder.kaniko-config. See docs/run-templates.md.',
      type: 'object',
      propertyNames: { minLength: 1, maxLength: 253 },
      additionalProperties: {
        description:
          "A partial batch/v1 Job laid over the run Job of this queue's LaunchJobs: lists are appended, mappings merged, scalars set here win; its one container is merged into the run container. Strings may use the macros ${image_uri}, ${run_id}, ${run_name}, ${queue_name}, ${project_name}, ${entity_name}.",
        type: 'object',
        additionalProperties: false,
        properties: {
          apiVersion: {
            description: 'Optional; batch/v1 when given.',
            type: 'string',
            enum: ['batch/v1'],
            'x-expected': 'batch/v1',
          },
          kind: {
            description: 'Optional; Job when given.',
            type: 'string',
            enum: ['Job'],
            'x-expected': 'Job',
          },
          metadata: {
            description:
              "Labels and annotations added to the run Job; the agent's own labels win on a clash.",
            type: 'object',
            additionalProperties: false,
            properties: {
              labels: {
                description:
                  'Labels of the run Job. On the Job, kueue.x-k8s.io/queue-name hands the run to Kueue: the agent creates the Job suspended and Kueue admits it.',
                type: 'object',
                additionalProperties: {
                  type: 'string',
                  'x-expected': 'a string (quote numbers and booleans)',
                },
                'x-expected': 'a mapping of string keys to string values',
              },
              annotations: {
                description: 'Annotations of the run Job.',
                type: 'object',
                additionalProperties: {
                  type: 'string',
                  'x-expected': 'a string (quote numbers and booleans)',
                },
                'x-expected': 'a mapping of string keys to string values',
              },
            },
            'x-expected': 'a mapping with labels and annotations',
          },
          spec: {
            description:
              "Job spec fields laid over the run Job's (backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished, template).",
            type: 'object',
            not: { anyOf: [{ required: ['selector'] }, { required: ['suspend'] }] },
            properties: {
              template: {
                description:
                  'Pod template: labels, annotations and the pod spec (nodeSelector, tolerations, affinity, imagePullSecrets, serviceAccountName, priorityClassName, volumes, ...).',
                type: 'object',
                additionalProperties: false,
                properties: {
                  metadata: {
                    description:
                      "Labels and annotations added to the run pod; the agent's own labels win on a clash.",
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                      labels: {
                        description:
                          'Labels of the run pod. On the Job, kueue.x-k8s.io/queue-name hands the run to Kueue: the agent creates the Job suspended and Kueue admits it.',
                        type: 'object',
                        additionalProperties: {
                          type: 'string',
                          'x-expected': 'a string (quote numbers and booleans)',
                        },
                        'x-expected': 'a mapping of string keys to string values',
                      },
                      annotations: {
                        description: 'Annotations of the run pod.',
                        type: 'object',
                        additionalProperties: {
                          type: 'string',
                          'x-expected': 'a string (quote numbers and booleans)',
                        },
                        'x-expected': 'a mapping of string keys to string values',
                      },
                    },
                    'x-expected': 'a mapping with labels and annotations',
                  },
                  spec: {
                    description: "Pod spec fields laid over the run pod's.",
                    type: 'object',
                    properties: {
                      containers: {
                        description:
                          'At most one container, merged into the run container (env, resources, volumeMounts, securityContext...). Its command and args come from the LaunchJob, its image from the build.',
                        type: 'array',
                        maxItems: 1,
                        items: {
                          type: 'object',
                          not: { anyOf: [{ required: ['command'] }, { required: ['args'] }] },
                          properties: {
                            image: {
                              description:
                                'Only ${image_uri}, as W&B queue configs write it: the run image is the one the agent built or was given.',
                              type: 'string',
                              enum: ['${image_uri}'],
                              'x-expected': '${image_uri}',
                            },
                          },
                          'x-expected': 'a container mapping without command or args',
                        },
                        'x-expected': 'a list with at most one container',
                      },
                    },
                    'x-expected': 'a pod spec mapping',
                  },
                },
                'x-expected': 'a pod template mapping',
              },
            },
            'x-expected': "a Job spec mapping (selector and suspend are the agent's)",
          },
        },
        'x-expected': 'a partial batch/v1 Job mapping',
      },
      examples: [
        {
          'gpu-a100': {
            metadata: { labels: { 'kueue.x-k8s.io/queue-name': 'team-a' } },
            spec: {
              template: {
                spec: {
                  nodeSelector: { 'nvidia.com/gpu.product': 'A100-SXM4-80GB' },
                  containers: [{ resources: { limits: { 'nvidia.com/gpu': '1' } } }],
                },
              },
            },
          },
        },
      ],
      'x-expected': 'a mapping of queue name to a partial batch/v1 Job',
    },
  },
};
const func2 = Object.prototype.hasOwnProperty;
const func3 = ucs2length;
const pattern0 = new RegExp('^[a-z0-9-]+$', 'u');
const pattern1 = new RegExp('^[a-z][a-z0-9-]{4,28}[a-z0-9]$', 'u');
const pattern2 = new RegExp('^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$', 'u');
const pattern5 = new RegExp(
  '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?|https://[a-z0-9]{3,24}\\.blob\\.core\\.windows\\.net/[a-z0-9](-?[a-z0-9]){2,62}(/.*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/.*)?)$',
  'u',
);
const pattern6 = new RegExp('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', 'u');
const pattern7 = new RegExp(
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  'u',
);
const pattern8 = new RegExp('^[-._a-zA-Z0-9]+$', 'u');
const pattern9 = new RegExp('^[^\\s]+$', 'u');
const pattern12 = new RegExp('^--[A-Za-z0-9][A-Za-z0-9._-]*=.*$', 'u');
const pattern16 = new RegExp('^/[A-Za-z0-9._/-]*$', 'u');
const pattern17 = new RegExp('^https?://[^/\\s]+/?$', 'u');
const pattern22 = new RegExp(
  '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
  'u',
);
const pattern24 = new RegExp('^/', 'u');
const pattern26 = new RegExp('^[a-zA-Z][a-zA-Z0-9]*$', 'u');
const pattern27 = new RegExp(
  '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$',
  'u',
);
function validate10(
  data,
  { instancePath = '', parentData, parentDataProperty, rootData = data } = {},
) {
  /*# sourceURL="https://launch-agent.dev/schemas/agent-config.schema.json" */ let vErrors = null;
  let errors = 0;
  if (data && typeof data == 'object' && !Array.isArray(data)) {
    for (const key0 in data) {
      if (!func2.call(schema11.properties, key0)) {
        const err0 = {
          instancePath,
          schemaPath: '#/additionalProperties',
          keyword: 'additionalProperties',
          params: { additionalProperty: key0 },
          message: 'must NOT have additional properties',
          schema: false,
          parentSchema: schema11,
          data,
        };
        if (vErrors === null) {
          vErrors = [err0];
        } else {
          vErrors.push(err0);
        }
        errors++;
      }
    }
    if (data.queues !== undefined) {
      let data0 = data.queues;
      if (Array.isArray(data0)) {
        const len0 = data0.length;
        for (let i0 = 0; i0 < len0; i0++) {
          let data1 = data0[i0];
          if (typeof data1 === 'string') {
            if (func3(data1) > 253) {
              const err1 = {
                instancePath: instancePath + '/queues/' + i0,
                schemaPath: '#/properties/queues/items/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.queues.items,
                data: data1,
              };
              if (vErrors === null) {
                vErrors = [err1];
              } else {
                vErrors.push(err1);
              }
              errors++;
            }
            if (func3(data1) < 1) {
              const err2 = {
                instancePath: instancePath + '/queues/' + i0,
                schemaPath: '#/properties/queues/items/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.queues.items,
                data: data1,
              };
              if (vErrors === null) {
                vErrors = [err2];
              } else {
                vErrors.push(err2);
              }
              errors++;
            }
          } else {
            const err3 = {
              instancePath: instancePath + '/queues/' + i0,
              schemaPath: '#/properties/queues/items/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.queues.items.type,
              parentSchema: schema11.properties.queues.items,
              data: data1,
            };
            if (vErrors === null) {
              vErrors = [err3];
            } else {
              vErrors.push(err3);
            }
            errors++;
          }
        }
        let i1 = data0.length;
        let j0;
        if (i1 > 1) {
          const indices0 = {};
          for (; i1--;) {
            let item0 = data0[i1];
            if (typeof item0 !== 'string') {
              continue;
            }
            if (typeof indices0[item0] == 'number') {
              j0 = indices0[item0];
              const err4 = {
                instancePath: instancePath + '/queues',
                schemaPath: '#/properties/queues/uniqueItems',
                keyword: 'uniqueItems',
                params: { i: i1, j: j0 },
                message:
                  'must NOT have duplicate items (items ## ' +
                  j0 +
                  ' and ' +
                  i1 +
                  ' are identical)',
                schema: true,
                parentSchema: schema11.properties.queues,
                data: data0,
              };
              if (vErrors === null) {
                vErrors = [err4];
              } else {
                vErrors.push(err4);
              }
              errors++;
              break;
            }
            indices0[item0] = i1;
          }
        }
      } else {
        const err5 = {
          instancePath: instancePath + '/queues',
          schemaPath: '#/properties/queues/type',
          keyword: 'type',
          params: { type: 'array' },
          message: 'must be array',
          schema: schema11.properties.queues.type,
          parentSchema: schema11.properties.queues,
          data: data0,
        };
        if (vErrors === null) {
          vErrors = [err5];
        } else {
          vErrors.push(err5);
        }
        errors++;
      }
    }
    if (data.queue !== undefined) {
      let data2 = data.queue;
      if (typeof data2 === 'string') {
        if (func3(data2) < 1) {
          const err6 = {
            instancePath: instancePath + '/queue',
            schemaPath: '#/properties/queue/minLength',
            keyword: 'minLength',
            params: { limit: 1 },
            message: 'must NOT have fewer than 1 characters',
            schema: 1,
            parentSchema: schema11.properties.queue,
            data: data2,
          };
          if (vErrors === null) {
            vErrors = [err6];
          } else {
            vErrors.push(err6);
          }
          errors++;
        }
      } else {
        const err7 = {
          instancePath: instancePath + '/queue',
          schemaPath: '#/properties/queue/type',
          keyword: 'type',
          params: { type: 'string' },
          message: 'must be string',
          schema: schema11.properties.queue.type,
          parentSchema: schema11.properties.queue,
          data: data2,
        };
        if (vErrors === null) {
          vErrors = [err7];
        } else {
          vErrors.push(err7);
        }
        errors++;
      }
    }
    if (data.entity !== undefined) {
      let data3 = data.entity;
      if (typeof data3 === 'string') {
        if (func3(data3) < 1) {
          const err8 = {
            instancePath: instancePath + '/entity',
            schemaPath: '#/properties/entity/minLength',
            keyword: 'minLength',
            params: { limit: 1 },
            message: 'must NOT have fewer than 1 characters',
            schema: 1,
            parentSchema: schema11.properties.entity,
            data: data3,
          };
          if (vErrors === null) {
            vErrors = [err8];
          } else {
            vErrors.push(err8);
          }
          errors++;
        }
      } else {
        const err9 = {
          instancePath: instancePath + '/entity',
          schemaPath: '#/properties/entity/type',
          keyword: 'type',
          params: { type: 'string' },
          message: 'must be string',
          schema: schema11.properties.entity.type,
          parentSchema: schema11.properties.entity,
          data: data3,
        };
        if (vErrors === null) {
          vErrors = [err9];
        } else {
          vErrors.push(err9);
        }
        errors++;
      }
    }
    if (data.max_jobs !== undefined) {
      let data4 = data.max_jobs;
      if (!(typeof data4 == 'number' && !(data4 % 1) && !isNaN(data4) && isFinite(data4))) {
        const err10 = {
          instancePath: instancePath + '/max_jobs',
          schemaPath: '#/properties/max_jobs/type',
          keyword: 'type',
          params: { type: 'integer' },
          message: 'must be integer',
          schema: schema11.properties.max_jobs.type,
          parentSchema: schema11.properties.max_jobs,
          data: data4,
        };
        if (vErrors === null) {
          vErrors = [err10];
        } else {
          vErrors.push(err10);
        }
        errors++;
      }
      const _errs16 = errors;
      const _errs17 = errors;
      if (0 !== data4) {
        const err11 = {};
        if (vErrors === null) {
          vErrors = [err11];
        } else {
          vErrors.push(err11);
        }
        errors++;
      }
      var valid4 = _errs17 === errors;
      if (valid4) {
        const err12 = {
          instancePath: instancePath + '/max_jobs',
          schemaPath: '#/properties/max_jobs/not',
          keyword: 'not',
          params: {},
          message: 'must NOT be valid',
          schema: schema11.properties.max_jobs.not,
          parentSchema: schema11.properties.max_jobs,
          data: data4,
        };
        if (vErrors === null) {
          vErrors = [err12];
        } else {
          vErrors.push(err12);
        }
        errors++;
      } else {
        errors = _errs16;
        if (vErrors !== null) {
          if (_errs16) {
            vErrors.length = _errs16;
          } else {
            vErrors = null;
          }
        }
      }
      if (typeof data4 == 'number' && isFinite(data4)) {
        if (data4 < -1 || isNaN(data4)) {
          const err13 = {
            instancePath: instancePath + '/max_jobs',
            schemaPath: '#/properties/max_jobs/minimum',
            keyword: 'minimum',
            params: { comparison: '>=', limit: -1 },
            message: 'must be >= -1',
            schema: -1,
            parentSchema: schema11.properties.max_jobs,
            data: data4,
          };
          if (vErrors === null) {
            vErrors = [err13];
          } else {
            vErrors.push(err13);
          }
          errors++;
        }
      }
    }
    if (data.max_schedulers !== undefined) {
      let data5 = data.max_schedulers;
      if (!(typeof data5 == 'number' && !(data5 % 1) && !isNaN(data5) && isFinite(data5))) {
        const err14 = {
          instancePath: instancePath + '/max_schedulers',
          schemaPath: '#/properties/max_schedulers/type',
          keyword: 'type',
          params: { type: 'integer' },
          message: 'must be integer',
          schema: schema11.properties.max_schedulers.type,
          parentSchema: schema11.properties.max_schedulers,
          data: data5,
        };
        if (vErrors === null) {
          vErrors = [err14];
        } else {
          vErrors.push(err14);
        }
        errors++;
      }
      const _errs21 = errors;
      const _errs22 = errors;
      if (0 !== data5) {
        const err15 = {};
        if (vErrors === null) {
          vErrors = [err15];
        } else {
          vErrors.push(err15);
        }
        errors++;
      }
      var valid5 = _errs22 === errors;
      if (valid5) {
        const err16 = {
          instancePath: instancePath + '/max_schedulers',
          schemaPath: '#/properties/max_schedulers/not',
          keyword: 'not',
          params: {},
          message: 'must NOT be valid',
          schema: schema11.properties.max_schedulers.not,
          parentSchema: schema11.properties.max_schedulers,
          data: data5,
        };
        if (vErrors === null) {
          vErrors = [err16];
        } else {
          vErrors.push(err16);
        }
        errors++;
      } else {
        errors = _errs21;
        if (vErrors !== null) {
          if (_errs21) {
            vErrors.length = _errs21;
          } else {
            vErrors = null;
          }
        }
      }
      if (typeof data5 == 'number' && isFinite(data5)) {
        if (data5 < -1 || isNaN(data5)) {
          const err17 = {
            instancePath: instancePath + '/max_schedulers',
            schemaPath: '#/properties/max_schedulers/minimum',
            keyword: 'minimum',
            params: { comparison: '>=', limit: -1 },
            message: 'must be >= -1',
            schema: -1,
            parentSchema: schema11.properties.max_schedulers,
            data: data5,
          };
          if (vErrors === null) {
            vErrors = [err17];
          } else {
            vErrors.push(err17);
          }
          errors++;
        }
      }
    }
    if (data.verbosity !== undefined) {
      let data6 = data.verbosity;
      if (!(typeof data6 == 'number' && !(data6 % 1) && !isNaN(data6) && isFinite(data6))) {
        const err18 = {
          instancePath: instancePath + '/verbosity',
          schemaPath: '#/properties/verbosity/type',
          keyword: 'type',
          params: { type: 'integer' },
          message: 'must be integer',
          schema: schema11.properties.verbosity.type,
          parentSchema: schema11.properties.verbosity,
          data: data6,
        };
        if (vErrors === null) {
          vErrors = [err18];
        } else {
          vErrors.push(err18);
        }
        errors++;
      }
      if (typeof data6 == 'number' && isFinite(data6)) {
        if (data6 > 2 || isNaN(data6)) {
          const err19 = {
            instancePath: instancePath + '/verbosity',
            schemaPath: '#/properties/verbosity/maximum',
            keyword: 'maximum',
            params: { comparison: '<=', limit: 2 },
            message: 'must be <= 2',
            schema: 2,
            parentSchema: schema11.properties.verbosity,
            data: data6,
          };
          if (vErrors === null) {
            vErrors = [err19];
          } else {
            vErrors.push(err19);
          }
          errors++;
        }
        if (data6 < 0 || isNaN(data6)) {
          const err20 = {
            instancePath: instancePath + '/verbosity',
            schemaPath: '#/properties/verbosity/minimum',
            keyword: 'minimum',
            params: { comparison: '>=', limit: 0 },
            message: 'must be >= 0',
            schema: 0,
            parentSchema: schema11.properties.verbosity,
            data: data6,
          };
          if (vErrors === null) {
            vErrors = [err20];
          } else {
            vErrors.push(err20);
          }
          errors++;
        }
      }
    }
    if (data.secure_mode !== undefined) {
      let data7 = data.secure_mode;
      if (typeof data7 !== 'boolean') {
        const err21 = {
          instancePath: instancePath + '/secure_mode',
          schemaPath: '#/properties/secure_mode/type',
          keyword: 'type',
          params: { type: 'boolean' },
          message: 'must be boolean',
          schema: schema11.properties.secure_mode.type,
          parentSchema: schema11.properties.secure_mode,
          data: data7,
        };
        if (vErrors === null) {
          vErrors = [err21];
        } else {
          vErrors.push(err21);
        }
        errors++;
      }
    }
    if (data.stopped_run_timeout !== undefined) {
      let data8 = data.stopped_run_timeout;
      if (!(typeof data8 == 'number' && !(data8 % 1) && !isNaN(data8) && isFinite(data8))) {
        const err22 = {
          instancePath: instancePath + '/stopped_run_timeout',
          schemaPath: '#/properties/stopped_run_timeout/type',
          keyword: 'type',
          params: { type: 'integer' },
          message: 'must be integer',
          schema: schema11.properties.stopped_run_timeout.type,
          parentSchema: schema11.properties.stopped_run_timeout,
          data: data8,
        };
        if (vErrors === null) {
          vErrors = [err22];
        } else {
          vErrors.push(err22);
        }
        errors++;
      }
      if (typeof data8 == 'number' && isFinite(data8)) {
        if (data8 < 0 || isNaN(data8)) {
          const err23 = {
            instancePath: instancePath + '/stopped_run_timeout',
            schemaPath: '#/properties/stopped_run_timeout/minimum',
            keyword: 'minimum',
            params: { comparison: '>=', limit: 0 },
            message: 'must be >= 0',
            schema: 0,
            parentSchema: schema11.properties.stopped_run_timeout,
            data: data8,
          };
          if (vErrors === null) {
            vErrors = [err23];
          } else {
            vErrors.push(err23);
          }
          errors++;
        }
      }
    }
    if (data.environment !== undefined) {
      let data9 = data.environment;
      const _errs36 = errors;
      let valid7 = true;
      const _errs37 = errors;
      if (data9 && typeof data9 == 'object' && !Array.isArray(data9)) {
        let missing0;
        if (data9.type === undefined && (missing0 = 'type')) {
          const err24 = {};
          if (vErrors === null) {
            vErrors = [err24];
          } else {
            vErrors.push(err24);
          }
          errors++;
        } else {
          if (data9.type !== undefined) {
            if ('aws' !== data9.type) {
              const err25 = {};
              if (vErrors === null) {
                vErrors = [err25];
              } else {
                vErrors.push(err25);
              }
              errors++;
            }
          }
        }
      }
      var _valid0 = _errs37 === errors;
      errors = _errs36;
      if (vErrors !== null) {
        if (_errs36) {
          vErrors.length = _errs36;
        } else {
          vErrors = null;
        }
      }
      if (_valid0) {
        const _errs39 = errors;
        if (data9 && typeof data9 == 'object' && !Array.isArray(data9)) {
          if (data9.region === undefined) {
            const err26 = {
              instancePath: instancePath + '/environment',
              schemaPath: '#/properties/environment/allOf/0/then/required',
              keyword: 'required',
              params: { missingProperty: 'region' },
              message: "must have required property '" + 'region' + "'",
              schema: schema11.properties.environment.allOf[0].then.required,
              parentSchema: schema11.properties.environment.allOf[0].then,
              data: data9,
            };
            if (vErrors === null) {
              vErrors = [err26];
            } else {
              vErrors.push(err26);
            }
            errors++;
          }
        }
        var _valid0 = _errs39 === errors;
        valid7 = _valid0;
      }
      if (!valid7) {
        const err27 = {
          instancePath: instancePath + '/environment',
          schemaPath: '#/properties/environment/allOf/0/if',
          keyword: 'if',
          params: { failingKeyword: 'then' },
          message: 'must match "then" schema',
          schema: schema11.properties.environment.allOf[0].if,
          parentSchema: schema11.properties.environment.allOf[0],
          data: data9,
        };
        if (vErrors === null) {
          vErrors = [err27];
        } else {
          vErrors.push(err27);
        }
        errors++;
      }
      const _errs41 = errors;
      let valid9 = true;
      const _errs42 = errors;
      if (data9 && typeof data9 == 'object' && !Array.isArray(data9)) {
        let missing1;
        if (data9.type === undefined && (missing1 = 'type')) {
          const err28 = {};
          if (vErrors === null) {
            vErrors = [err28];
          } else {
            vErrors.push(err28);
          }
          errors++;
        } else {
          if (data9.type !== undefined) {
            if ('gcp' !== data9.type) {
              const err29 = {};
              if (vErrors === null) {
                vErrors = [err29];
              } else {
                vErrors.push(err29);
              }
              errors++;
            }
          }
        }
      }
      var _valid1 = _errs42 === errors;
      errors = _errs41;
      if (vErrors !== null) {
        if (_errs41) {
          vErrors.length = _errs41;
        } else {
          vErrors = null;
        }
      }
      if (_valid1) {
        const _errs44 = errors;
        if (data9 && typeof data9 == 'object' && !Array.isArray(data9)) {
          if (data9.region === undefined) {
            const err30 = {
              instancePath: instancePath + '/environment',
              schemaPath: '#/properties/environment/allOf/1/then/required',
              keyword: 'required',
              params: { missingProperty: 'region' },
              message: "must have required property '" + 'region' + "'",
              schema: schema11.properties.environment.allOf[1].then.required,
              parentSchema: schema11.properties.environment.allOf[1].then,
              data: data9,
            };
            if (vErrors === null) {
              vErrors = [err30];
            } else {
              vErrors.push(err30);
            }
            errors++;
          }
          if (data9.project === undefined) {
            const err31 = {
              instancePath: instancePath + '/environment',
              schemaPath: '#/properties/environment/allOf/1/then/required',
              keyword: 'required',
              params: { missingProperty: 'project' },
              message: "must have required property '" + 'project' + "'",
              schema: schema11.properties.environment.allOf[1].then.required,
              parentSchema: schema11.properties.environment.allOf[1].then,
              data: data9,
            };
            if (vErrors === null) {
              vErrors = [err31];
            } else {
              vErrors.push(err31);
            }
            errors++;
          }
        }
        var _valid1 = _errs44 === errors;
        valid9 = _valid1;
      }
      if (!valid9) {
        const err32 = {
          instancePath: instancePath + '/environment',
          schemaPath: '#/properties/environment/allOf/1/if',
          keyword: 'if',
          params: { failingKeyword: 'then' },
          message: 'must match "then" schema',
          schema: schema11.properties.environment.allOf[1].if,
          parentSchema: schema11.properties.environment.allOf[1],
          data: data9,
        };
        if (vErrors === null) {
          vErrors = [err32];
        } else {
          vErrors.push(err32);
        }
        errors++;
      }
      if (data9 && typeof data9 == 'object' && !Array.isArray(data9)) {
        if (data9.type === undefined) {
          const err33 = {
            instancePath: instancePath + '/environment',
            schemaPath: '#/properties/environment/required',
            keyword: 'required',
            params: { missingProperty: 'type' },
            message: "must have required property '" + 'type' + "'",
            schema: schema11.properties.environment.required,
            parentSchema: schema11.properties.environment,
            data: data9,
          };
          if (vErrors === null) {
            vErrors = [err33];
          } else {
            vErrors.push(err33);
          }
          errors++;
        }
        for (const key1 in data9) {
          if (!(key1 === 'type' || key1 === 'region' || key1 === 'project')) {
            const err34 = {
              instancePath: instancePath + '/environment',
              schemaPath: '#/properties/environment/additionalProperties',
              keyword: 'additionalProperties',
              params: { additionalProperty: key1 },
              message: 'must NOT have additional properties',
              schema: false,
              parentSchema: schema11.properties.environment,
              data: data9,
            };
            if (vErrors === null) {
              vErrors = [err34];
            } else {
              vErrors.push(err34);
            }
            errors++;
          }
        }
        if (data9.type !== undefined) {
          let data12 = data9.type;
          if (typeof data12 !== 'string') {
            const err35 = {
              instancePath: instancePath + '/environment/type',
              schemaPath: '#/properties/environment/properties/type/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.environment.properties.type.type,
              parentSchema: schema11.properties.environment.properties.type,
              data: data12,
            };
            if (vErrors === null) {
              vErrors = [err35];
            } else {
              vErrors.push(err35);
            }
            errors++;
          }
          if (!(data12 === 'aws' || data12 === 'gcp' || data12 === 'azure' || data12 === 'local')) {
            const err36 = {
              instancePath: instancePath + '/environment/type',
              schemaPath: '#/properties/environment/properties/type/enum',
              keyword: 'enum',
              params: { allowedValues: schema11.properties.environment.properties.type.enum },
              message: 'must be equal to one of the allowed values',
              schema: schema11.properties.environment.properties.type.enum,
              parentSchema: schema11.properties.environment.properties.type,
              data: data12,
            };
            if (vErrors === null) {
              vErrors = [err36];
            } else {
              vErrors.push(err36);
            }
            errors++;
          }
        }
        if (data9.region !== undefined) {
          let data13 = data9.region;
          if (typeof data13 === 'string') {
            if (!pattern0.test(data13)) {
              const err37 = {
                instancePath: instancePath + '/environment/region',
                schemaPath: '#/properties/environment/properties/region/pattern',
                keyword: 'pattern',
                params: { pattern: '^[a-z0-9-]+$' },
                message: 'must match pattern "' + '^[a-z0-9-]+$' + '"',
                schema: '^[a-z0-9-]+$',
                parentSchema: schema11.properties.environment.properties.region,
                data: data13,
              };
              if (vErrors === null) {
                vErrors = [err37];
              } else {
                vErrors.push(err37);
              }
              errors++;
            }
          } else {
            const err38 = {
              instancePath: instancePath + '/environment/region',
              schemaPath: '#/properties/environment/properties/region/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.environment.properties.region.type,
              parentSchema: schema11.properties.environment.properties.region,
              data: data13,
            };
            if (vErrors === null) {
              vErrors = [err38];
            } else {
              vErrors.push(err38);
            }
            errors++;
          }
        }
        if (data9.project !== undefined) {
          let data14 = data9.project;
          if (typeof data14 === 'string') {
            if (!pattern1.test(data14)) {
              const err39 = {
                instancePath: instancePath + '/environment/project',
                schemaPath: '#/properties/environment/properties/project/pattern',
                keyword: 'pattern',
                params: { pattern: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$' },
                message: 'must match pattern "' + '^[a-z][a-z0-9-]{4,28}[a-z0-9]$' + '"',
                schema: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$',
                parentSchema: schema11.properties.environment.properties.project,
                data: data14,
              };
              if (vErrors === null) {
                vErrors = [err39];
              } else {
                vErrors.push(err39);
              }
              errors++;
            }
          } else {
            const err40 = {
              instancePath: instancePath + '/environment/project',
              schemaPath: '#/properties/environment/properties/project/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.environment.properties.project.type,
              parentSchema: schema11.properties.environment.properties.project,
              data: data14,
            };
            if (vErrors === null) {
              vErrors = [err40];
            } else {
              vErrors.push(err40);
            }
            errors++;
          }
        }
      } else {
        const err41 = {
          instancePath: instancePath + '/environment',
          schemaPath: '#/properties/environment/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties.environment.type,
          parentSchema: schema11.properties.environment,
          data: data9,
        };
        if (vErrors === null) {
          vErrors = [err41];
        } else {
          vErrors.push(err41);
        }
        errors++;
      }
    }
    if (data.registry !== undefined) {
      let data15 = data.registry;
      if (data15 && typeof data15 == 'object' && !Array.isArray(data15)) {
        for (const key2 in data15) {
          if (!(key2 === 'type' || key2 === 'uri')) {
            const err42 = {
              instancePath: instancePath + '/registry',
              schemaPath: '#/properties/registry/additionalProperties',
              keyword: 'additionalProperties',
              params: { additionalProperty: key2 },
              message: 'must NOT have additional properties',
              schema: false,
              parentSchema: schema11.properties.registry,
              data: data15,
            };
            if (vErrors === null) {
              vErrors = [err42];
            } else {
              vErrors.push(err42);
            }
            errors++;
          }
        }
        if (data15.type !== undefined) {
          let data16 = data15.type;
          if (typeof data16 !== 'string') {
            const err43 = {
              instancePath: instancePath + '/registry/type',
              schemaPath: '#/properties/registry/properties/type/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.registry.properties.type.type,
              parentSchema: schema11.properties.registry.properties.type,
              data: data16,
            };
            if (vErrors === null) {
              vErrors = [err43];
            } else {
              vErrors.push(err43);
            }
            errors++;
          }
          if (!(data16 === 'ecr' || data16 === 'gcr' || data16 === 'acr')) {
            const err44 = {
              instancePath: instancePath + '/registry/type',
              schemaPath: '#/properties/registry/properties/type/enum',
              keyword: 'enum',
              params: { allowedValues: schema11.properties.registry.properties.type.enum },
              message: 'must be equal to one of the allowed values',
              schema: schema11.properties.registry.properties.type.enum,
              parentSchema: schema11.properties.registry.properties.type,
              data: data16,
            };
            if (vErrors === null) {
              vErrors = [err44];
            } else {
              vErrors.push(err44);
            }
            errors++;
          }
        }
        if (data15.uri !== undefined) {
          let data17 = data15.uri;
          if (typeof data17 === 'string') {
            if (func3(data17) < 1) {
              const err45 = {
                instancePath: instancePath + '/registry/uri',
                schemaPath: '#/properties/registry/properties/uri/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.registry.properties.uri,
                data: data17,
              };
              if (vErrors === null) {
                vErrors = [err45];
              } else {
                vErrors.push(err45);
              }
              errors++;
            }
            if (!pattern2.test(data17)) {
              const err46 = {
                instancePath: instancePath + '/registry/uri',
                schemaPath: '#/properties/registry/properties/uri/pattern',
                keyword: 'pattern',
                params: { pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' },
                message: 'must match pattern "' + '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' + '"',
                schema: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
                parentSchema: schema11.properties.registry.properties.uri,
                data: data17,
              };
              if (vErrors === null) {
                vErrors = [err46];
              } else {
                vErrors.push(err46);
              }
              errors++;
            }
          } else {
            const err47 = {
              instancePath: instancePath + '/registry/uri',
              schemaPath: '#/properties/registry/properties/uri/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.registry.properties.uri.type,
              parentSchema: schema11.properties.registry.properties.uri,
              data: data17,
            };
            if (vErrors === null) {
              vErrors = [err47];
            } else {
              vErrors.push(err47);
            }
            errors++;
          }
        }
      } else {
        const err48 = {
          instancePath: instancePath + '/registry',
          schemaPath: '#/properties/registry/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties.registry.type,
          parentSchema: schema11.properties.registry,
          data: data15,
        };
        if (vErrors === null) {
          vErrors = [err48];
        } else {
          vErrors.push(err48);
        }
        errors++;
      }
    }
    if (data.builder !== undefined) {
      let data18 = data.builder;
      const _errs69 = errors;
      let valid14 = true;
      const _errs70 = errors;
      if (data18 && typeof data18 == 'object' && !Array.isArray(data18)) {
        let missing2;
        if (data18.type === undefined && (missing2 = 'type')) {
          const err49 = {};
          if (vErrors === null) {
            vErrors = [err49];
          } else {
            vErrors.push(err49);
          }
          errors++;
        } else {
          if (data18.type !== undefined) {
            if ('kaniko' !== data18.type) {
              const err50 = {};
              if (vErrors === null) {
                vErrors = [err50];
              } else {
                vErrors.push(err50);
              }
              errors++;
            }
          }
        }
      }
      var _valid2 = _errs70 === errors;
      errors = _errs69;
      if (vErrors !== null) {
        if (_errs69) {
          vErrors.length = _errs69;
        } else {
          vErrors = null;
        }
      }
      if (_valid2) {
        const _errs72 = errors;
        if (data18 && typeof data18 == 'object' && !Array.isArray(data18)) {
          if (data18['build-context-store'] === undefined) {
            const err51 = {
              instancePath: instancePath + '/builder',
              schemaPath: '#/properties/builder/allOf/0/then/required',
              keyword: 'required',
              params: { missingProperty: 'build-context-store' },
              message: "must have required property '" + 'build-context-store' + "'",
              schema: schema11.properties.builder.allOf[0].then.required,
              parentSchema: schema11.properties.builder.allOf[0].then,
              data: data18,
            };
            if (vErrors === null) {
              vErrors = [err51];
            } else {
              vErrors.push(err51);
            }
            errors++;
          }
        }
        var _valid2 = _errs72 === errors;
        valid14 = _valid2;
      }
      if (!valid14) {
        const err52 = {
          instancePath: instancePath + '/builder',
          schemaPath: '#/properties/builder/allOf/0/if',
          keyword: 'if',
          params: { failingKeyword: 'then' },
          message: 'must match "then" schema',
          schema: schema11.properties.builder.allOf[0].if,
          parentSchema: schema11.properties.builder.allOf[0],
          data: data18,
        };
        if (vErrors === null) {
          vErrors = [err52];
        } else {
          vErrors.push(err52);
        }
        errors++;
      }
      if (data18 && typeof data18 == 'object' && !Array.isArray(data18)) {
        if (data18.type === undefined) {
          const err53 = {
            instancePath: instancePath + '/builder',
            schemaPath: '#/properties/builder/required',
            keyword: 'required',
            params: { missingProperty: 'type' },
            message: "must have required property '" + 'type' + "'",
            schema: schema11.properties.builder.required,
            parentSchema: schema11.properties.builder,
            data: data18,
          };
          if (vErrors === null) {
            vErrors = [err53];
          } else {
            vErrors.push(err53);
          }
          errors++;
        }
        for (const key3 in data18) {
          if (!func2.call(schema11.properties.builder.properties, key3)) {
            const err54 = {
              instancePath: instancePath + '/builder',
              schemaPath: '#/properties/builder/additionalProperties',
              keyword: 'additionalProperties',
              params: { additionalProperty: key3 },
              message: 'must NOT have additional properties',
              schema: false,
              parentSchema: schema11.properties.builder,
              data: data18,
            };
            if (vErrors === null) {
              vErrors = [err54];
            } else {
              vErrors.push(err54);
            }
            errors++;
          }
        }
        if (data18['secret-name'] !== undefined) {
          if (data18['secret-key'] === undefined) {
            const err55 = {
              instancePath: instancePath + '/builder',
              schemaPath: '#/properties/builder/dependencies',
              keyword: 'dependencies',
              params: {
                property: 'secret-name',
                missingProperty: 'secret-key',
                depsCount: 1,
                deps: 'secret-key',
              },
              message: 'must have property secret-key when property secret-name is present',
              schema: schema11.properties.builder.dependencies,
              parentSchema: schema11.properties.builder,
              data: data18,
            };
            if (vErrors === null) {
              vErrors = [err55];
            } else {
              vErrors.push(err55);
            }
            errors++;
          }
        }
        if (data18['secret-key'] !== undefined) {
          if (data18['secret-name'] === undefined) {
            const err56 = {
              instancePath: instancePath + '/builder',
              schemaPath: '#/properties/builder/dependencies',
              keyword: 'dependencies',
              params: {
                property: 'secret-key',
                missingProperty: 'secret-name',
                depsCount: 1,
                deps: 'secret-name',
              },
              message: 'must have property secret-name when property secret-key is present',
              schema: schema11.properties.builder.dependencies,
              parentSchema: schema11.properties.builder,
              data: data18,
            };
            if (vErrors === null) {
              vErrors = [err56];
            } else {
              vErrors.push(err56);
            }
            errors++;
          }
        }
        if (data18.type !== undefined) {
          let data20 = data18.type;
          if (typeof data20 !== 'string') {
            const err57 = {
              instancePath: instancePath + '/builder/type',
              schemaPath: '#/properties/builder/properties/type/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties.type.type,
              parentSchema: schema11.properties.builder.properties.type,
              data: data20,
            };
            if (vErrors === null) {
              vErrors = [err57];
            } else {
              vErrors.push(err57);
            }
            errors++;
          }
          if (!(data20 === 'docker' || data20 === 'kaniko' || data20 === 'noop')) {
            const err58 = {
              instancePath: instancePath + '/builder/type',
              schemaPath: '#/properties/builder/properties/type/enum',
              keyword: 'enum',
              params: { allowedValues: schema11.properties.builder.properties.type.enum },
              message: 'must be equal to one of the allowed values',
              schema: schema11.properties.builder.properties.type.enum,
              parentSchema: schema11.properties.builder.properties.type,
              data: data20,
            };
            if (vErrors === null) {
              vErrors = [err58];
            } else {
              vErrors.push(err58);
            }
            errors++;
          }
        }
        if (data18.destination !== undefined) {
          let data21 = data18.destination;
          if (typeof data21 === 'string') {
            if (func3(data21) < 1) {
              const err59 = {
                instancePath: instancePath + '/builder/destination',
                schemaPath: '#/properties/builder/properties/destination/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.builder.properties.destination,
                data: data21,
              };
              if (vErrors === null) {
                vErrors = [err59];
              } else {
                vErrors.push(err59);
              }
              errors++;
            }
            if (!pattern2.test(data21)) {
              const err60 = {
                instancePath: instancePath + '/builder/destination',
                schemaPath: '#/properties/builder/properties/destination/pattern',
                keyword: 'pattern',
                params: { pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' },
                message: 'must match pattern "' + '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' + '"',
                schema: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
                parentSchema: schema11.properties.builder.properties.destination,
                data: data21,
              };
              if (vErrors === null) {
                vErrors = [err60];
              } else {
                vErrors.push(err60);
              }
              errors++;
            }
          } else {
            const err61 = {
              instancePath: instancePath + '/builder/destination',
              schemaPath: '#/properties/builder/properties/destination/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties.destination.type,
              parentSchema: schema11.properties.builder.properties.destination,
              data: data21,
            };
            if (vErrors === null) {
              vErrors = [err61];
            } else {
              vErrors.push(err61);
            }
            errors++;
          }
        }
        if (data18.uri !== undefined) {
          let data22 = data18.uri;
          if (typeof data22 === 'string') {
            if (func3(data22) < 1) {
              const err62 = {
                instancePath: instancePath + '/builder/uri',
                schemaPath: '#/properties/builder/properties/uri/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.builder.properties.uri,
                data: data22,
              };
              if (vErrors === null) {
                vErrors = [err62];
              } else {
                vErrors.push(err62);
              }
              errors++;
            }
            if (!pattern2.test(data22)) {
              const err63 = {
                instancePath: instancePath + '/builder/uri',
                schemaPath: '#/properties/builder/properties/uri/pattern',
                keyword: 'pattern',
                params: { pattern: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' },
                message: 'must match pattern "' + '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$' + '"',
                schema: '^(https://)?[^/\\s]+(/[^/:@\\s]+)+/?$',
                parentSchema: schema11.properties.builder.properties.uri,
                data: data22,
              };
              if (vErrors === null) {
                vErrors = [err63];
              } else {
                vErrors.push(err63);
              }
              errors++;
            }
          } else {
            const err64 = {
              instancePath: instancePath + '/builder/uri',
              schemaPath: '#/properties/builder/properties/uri/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties.uri.type,
              parentSchema: schema11.properties.builder.properties.uri,
              data: data22,
            };
            if (vErrors === null) {
              vErrors = [err64];
            } else {
              vErrors.push(err64);
            }
            errors++;
          }
        }
        if (data18.platform !== undefined) {
          let data23 = data18.platform;
          if (typeof data23 !== 'string') {
            const err65 = {
              instancePath: instancePath + '/builder/platform',
              schemaPath: '#/properties/builder/properties/platform/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties.platform.type,
              parentSchema: schema11.properties.builder.properties.platform,
              data: data23,
            };
            if (vErrors === null) {
              vErrors = [err65];
            } else {
              vErrors.push(err65);
            }
            errors++;
          }
          if (!(data23 === 'linux/amd64' || data23 === 'linux/arm64')) {
            const err66 = {
              instancePath: instancePath + '/builder/platform',
              schemaPath: '#/properties/builder/properties/platform/enum',
              keyword: 'enum',
              params: { allowedValues: schema11.properties.builder.properties.platform.enum },
              message: 'must be equal to one of the allowed values',
              schema: schema11.properties.builder.properties.platform.enum,
              parentSchema: schema11.properties.builder.properties.platform,
              data: data23,
            };
            if (vErrors === null) {
              vErrors = [err66];
            } else {
              vErrors.push(err66);
            }
            errors++;
          }
        }
        if (data18['build-context-store'] !== undefined) {
          let data24 = data18['build-context-store'];
          if (typeof data24 === 'string') {
            if (!pattern5.test(data24)) {
              const err67 = {
                instancePath: instancePath + '/builder/build-context-store',
                schemaPath: '#/properties/builder/properties/build-context-store/pattern',
                keyword: 'pattern',
                params: {
                  pattern:
                    '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?|https://[a-z0-9]{3,24}\\.blob\\.core\\.windows\\.net/[a-z0-9](-?[a-z0-9]){2,62}(/.*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/.*)?)$',
                },
                message:
                  'must match pattern "' +
                  '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?|https://[a-z0-9]{3,24}\\.blob\\.core\\.windows\\.net/[a-z0-9](-?[a-z0-9]){2,62}(/.*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/.*)?)$' +
                  '"',
                schema:
                  '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?|https://[a-z0-9]{3,24}\\.blob\\.core\\.windows\\.net/[a-z0-9](-?[a-z0-9]){2,62}(/.*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/.*)?)$',
                parentSchema: schema11.properties.builder.properties['build-context-store'],
                data: data24,
              };
              if (vErrors === null) {
                vErrors = [err67];
              } else {
                vErrors.push(err67);
              }
              errors++;
            }
          } else {
            const err68 = {
              instancePath: instancePath + '/builder/build-context-store',
              schemaPath: '#/properties/builder/properties/build-context-store/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['build-context-store'].type,
              parentSchema: schema11.properties.builder.properties['build-context-store'],
              data: data24,
            };
            if (vErrors === null) {
              vErrors = [err68];
            } else {
              vErrors.push(err68);
            }
            errors++;
          }
        }
        if (data18['build-job-name'] !== undefined) {
          let data25 = data18['build-job-name'];
          if (typeof data25 === 'string') {
            if (func3(data25) > 46) {
              const err69 = {
                instancePath: instancePath + '/builder/build-job-name',
                schemaPath: '#/properties/builder/properties/build-job-name/maxLength',
                keyword: 'maxLength',
                params: { limit: 46 },
                message: 'must NOT have more than 46 characters',
                schema: 46,
                parentSchema: schema11.properties.builder.properties['build-job-name'],
                data: data25,
              };
              if (vErrors === null) {
                vErrors = [err69];
              } else {
                vErrors.push(err69);
              }
              errors++;
            }
            if (!pattern6.test(data25)) {
              const err70 = {
                instancePath: instancePath + '/builder/build-job-name',
                schemaPath: '#/properties/builder/properties/build-job-name/pattern',
                keyword: 'pattern',
                params: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
                message: 'must match pattern "' + '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' + '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                parentSchema: schema11.properties.builder.properties['build-job-name'],
                data: data25,
              };
              if (vErrors === null) {
                vErrors = [err70];
              } else {
                vErrors.push(err70);
              }
              errors++;
            }
          } else {
            const err71 = {
              instancePath: instancePath + '/builder/build-job-name',
              schemaPath: '#/properties/builder/properties/build-job-name/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['build-job-name'].type,
              parentSchema: schema11.properties.builder.properties['build-job-name'],
              data: data25,
            };
            if (vErrors === null) {
              vErrors = [err71];
            } else {
              vErrors.push(err71);
            }
            errors++;
          }
        }
        if (data18['secret-name'] !== undefined) {
          let data26 = data18['secret-name'];
          if (typeof data26 === 'string') {
            if (func3(data26) > 253) {
              const err72 = {
                instancePath: instancePath + '/builder/secret-name',
                schemaPath: '#/properties/builder/properties/secret-name/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.builder.properties['secret-name'],
                data: data26,
              };
              if (vErrors === null) {
                vErrors = [err72];
              } else {
                vErrors.push(err72);
              }
              errors++;
            }
            if (!pattern7.test(data26)) {
              const err73 = {
                instancePath: instancePath + '/builder/secret-name',
                schemaPath: '#/properties/builder/properties/secret-name/pattern',
                keyword: 'pattern',
                params: {
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                },
                message:
                  'must match pattern "' +
                  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                  '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                parentSchema: schema11.properties.builder.properties['secret-name'],
                data: data26,
              };
              if (vErrors === null) {
                vErrors = [err73];
              } else {
                vErrors.push(err73);
              }
              errors++;
            }
          } else {
            const err74 = {
              instancePath: instancePath + '/builder/secret-name',
              schemaPath: '#/properties/builder/properties/secret-name/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['secret-name'].type,
              parentSchema: schema11.properties.builder.properties['secret-name'],
              data: data26,
            };
            if (vErrors === null) {
              vErrors = [err74];
            } else {
              vErrors.push(err74);
            }
            errors++;
          }
        }
        if (data18['secret-key'] !== undefined) {
          let data27 = data18['secret-key'];
          if (typeof data27 === 'string') {
            if (!pattern8.test(data27)) {
              const err75 = {
                instancePath: instancePath + '/builder/secret-key',
                schemaPath: '#/properties/builder/properties/secret-key/pattern',
                keyword: 'pattern',
                params: { pattern: '^[-._a-zA-Z0-9]+$' },
                message: 'must match pattern "' + '^[-._a-zA-Z0-9]+$' + '"',
                schema: '^[-._a-zA-Z0-9]+$',
                parentSchema: schema11.properties.builder.properties['secret-key'],
                data: data27,
              };
              if (vErrors === null) {
                vErrors = [err75];
              } else {
                vErrors.push(err75);
              }
              errors++;
            }
          } else {
            const err76 = {
              instancePath: instancePath + '/builder/secret-key',
              schemaPath: '#/properties/builder/properties/secret-key/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['secret-key'].type,
              parentSchema: schema11.properties.builder.properties['secret-key'],
              data: data27,
            };
            if (vErrors === null) {
              vErrors = [err76];
            } else {
              vErrors.push(err76);
            }
            errors++;
          }
        }
        if (data18['kaniko-image'] !== undefined) {
          let data28 = data18['kaniko-image'];
          if (typeof data28 === 'string') {
            if (func3(data28) < 1) {
              const err77 = {
                instancePath: instancePath + '/builder/kaniko-image',
                schemaPath: '#/properties/builder/properties/kaniko-image/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.builder.properties['kaniko-image'],
                data: data28,
              };
              if (vErrors === null) {
                vErrors = [err77];
              } else {
                vErrors.push(err77);
              }
              errors++;
            }
            if (!pattern9.test(data28)) {
              const err78 = {
                instancePath: instancePath + '/builder/kaniko-image',
                schemaPath: '#/properties/builder/properties/kaniko-image/pattern',
                keyword: 'pattern',
                params: { pattern: '^[^\\s]+$' },
                message: 'must match pattern "' + '^[^\\s]+$' + '"',
                schema: '^[^\\s]+$',
                parentSchema: schema11.properties.builder.properties['kaniko-image'],
                data: data28,
              };
              if (vErrors === null) {
                vErrors = [err78];
              } else {
                vErrors.push(err78);
              }
              errors++;
            }
          } else {
            const err79 = {
              instancePath: instancePath + '/builder/kaniko-image',
              schemaPath: '#/properties/builder/properties/kaniko-image/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['kaniko-image'].type,
              parentSchema: schema11.properties.builder.properties['kaniko-image'],
              data: data28,
            };
            if (vErrors === null) {
              vErrors = [err79];
            } else {
              vErrors.push(err79);
            }
            errors++;
          }
        }
        if (data18['kaniko-push-image'] !== undefined) {
          let data29 = data18['kaniko-push-image'];
          if (typeof data29 === 'string') {
            if (func3(data29) < 1) {
              const err80 = {
                instancePath: instancePath + '/builder/kaniko-push-image',
                schemaPath: '#/properties/builder/properties/kaniko-push-image/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties.builder.properties['kaniko-push-image'],
                data: data29,
              };
              if (vErrors === null) {
                vErrors = [err80];
              } else {
                vErrors.push(err80);
              }
              errors++;
            }
            if (!pattern9.test(data29)) {
              const err81 = {
                instancePath: instancePath + '/builder/kaniko-push-image',
                schemaPath: '#/properties/builder/properties/kaniko-push-image/pattern',
                keyword: 'pattern',
                params: { pattern: '^[^\\s]+$' },
                message: 'must match pattern "' + '^[^\\s]+$' + '"',
                schema: '^[^\\s]+$',
                parentSchema: schema11.properties.builder.properties['kaniko-push-image'],
                data: data29,
              };
              if (vErrors === null) {
                vErrors = [err81];
              } else {
                vErrors.push(err81);
              }
              errors++;
            }
          } else {
            const err82 = {
              instancePath: instancePath + '/builder/kaniko-push-image',
              schemaPath: '#/properties/builder/properties/kaniko-push-image/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['kaniko-push-image'].type,
              parentSchema: schema11.properties.builder.properties['kaniko-push-image'],
              data: data29,
            };
            if (vErrors === null) {
              vErrors = [err82];
            } else {
              vErrors.push(err82);
            }
            errors++;
          }
        }
        if (data18['pull-docker-config-secret'] !== undefined) {
          let data30 = data18['pull-docker-config-secret'];
          if (typeof data30 === 'string') {
            if (func3(data30) > 253) {
              const err83 = {
                instancePath: instancePath + '/builder/pull-docker-config-secret',
                schemaPath: '#/properties/builder/properties/pull-docker-config-secret/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.builder.properties['pull-docker-config-secret'],
                data: data30,
              };
              if (vErrors === null) {
                vErrors = [err83];
              } else {
                vErrors.push(err83);
              }
              errors++;
            }
            if (!pattern7.test(data30)) {
              const err84 = {
                instancePath: instancePath + '/builder/pull-docker-config-secret',
                schemaPath: '#/properties/builder/properties/pull-docker-config-secret/pattern',
                keyword: 'pattern',
                params: {
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                },
                message:
                  'must match pattern "' +
                  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                  '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                parentSchema: schema11.properties.builder.properties['pull-docker-config-secret'],
                data: data30,
              };
              if (vErrors === null) {
                vErrors = [err84];
              } else {
                vErrors.push(err84);
              }
              errors++;
            }
          } else {
            const err85 = {
              instancePath: instancePath + '/builder/pull-docker-config-secret',
              schemaPath: '#/properties/builder/properties/pull-docker-config-secret/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['pull-docker-config-secret'].type,
              parentSchema: schema11.properties.builder.properties['pull-docker-config-secret'],
              data: data30,
            };
            if (vErrors === null) {
              vErrors = [err85];
            } else {
              vErrors.push(err85);
            }
            errors++;
          }
        }
        if (data18['kaniko-cache'] !== undefined) {
          let data31 = data18['kaniko-cache'];
          if (typeof data31 !== 'boolean') {
            const err86 = {
              instancePath: instancePath + '/builder/kaniko-cache',
              schemaPath: '#/properties/builder/properties/kaniko-cache/type',
              keyword: 'type',
              params: { type: 'boolean' },
              message: 'must be boolean',
              schema: schema11.properties.builder.properties['kaniko-cache'].type,
              parentSchema: schema11.properties.builder.properties['kaniko-cache'],
              data: data31,
            };
            if (vErrors === null) {
              vErrors = [err86];
            } else {
              vErrors.push(err86);
            }
            errors++;
          }
        }
        if (data18['kaniko-config'] !== undefined) {
          let data32 = data18['kaniko-config'];
          if (data32 && typeof data32 == 'object' && !Array.isArray(data32)) {
            if (data32.spec !== undefined) {
              let data33 = data32.spec;
              if (data33 && typeof data33 == 'object' && !Array.isArray(data33)) {
                if (data33.template !== undefined) {
                  let data34 = data33.template;
                  if (data34 && typeof data34 == 'object' && !Array.isArray(data34)) {
                    if (data34.spec !== undefined) {
                      let data35 = data34.spec;
                      if (data35 && typeof data35 == 'object' && !Array.isArray(data35)) {
                        if (data35.containers !== undefined) {
                          let data36 = data35.containers;
                          if (Array.isArray(data36)) {
                            if (data36.length > 1) {
                              const err87 = {
                                instancePath:
                                  instancePath +
                                  '/builder/kaniko-config/spec/template/spec/containers',
                                schemaPath:
                                  '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/maxItems',
                                keyword: 'maxItems',
                                params: { limit: 1 },
                                message: 'must NOT have more than 1 items',
                                schema: 1,
                                parentSchema:
                                  schema11.properties.builder.properties['kaniko-config'].properties
                                    .spec.properties.template.properties.spec.properties.containers,
                                data: data36,
                              };
                              if (vErrors === null) {
                                vErrors = [err87];
                              } else {
                                vErrors.push(err87);
                              }
                              errors++;
                            }
                            if (data36.length < 1) {
                              const err88 = {
                                instancePath:
                                  instancePath +
                                  '/builder/kaniko-config/spec/template/spec/containers',
                                schemaPath:
                                  '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/minItems',
                                keyword: 'minItems',
                                params: { limit: 1 },
                                message: 'must NOT have fewer than 1 items',
                                schema: 1,
                                parentSchema:
                                  schema11.properties.builder.properties['kaniko-config'].properties
                                    .spec.properties.template.properties.spec.properties.containers,
                                data: data36,
                              };
                              if (vErrors === null) {
                                vErrors = [err88];
                              } else {
                                vErrors.push(err88);
                              }
                              errors++;
                            }
                            const len1 = data36.length;
                            for (let i2 = 0; i2 < len1; i2++) {
                              let data37 = data36[i2];
                              if (data37 && typeof data37 == 'object' && !Array.isArray(data37)) {
                                if (data37.args !== undefined) {
                                  let data38 = data37.args;
                                  if (Array.isArray(data38)) {
                                    const len2 = data38.length;
                                    for (let i3 = 0; i3 < len2; i3++) {
                                      let data39 = data38[i3];
                                      if (typeof data39 === 'string') {
                                        if (!pattern12.test(data39)) {
                                          const err89 = {
                                            instancePath:
                                              instancePath +
                                              '/builder/kaniko-config/spec/template/spec/containers/' +
                                              i2 +
                                              '/args/' +
                                              i3,
                                            schemaPath:
                                              '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/items/properties/args/items/pattern',
                                            keyword: 'pattern',
                                            params: {
                                              pattern: '^--[A-Za-z0-9][A-Za-z0-9._-]*=.*$',
                                            },
                                            message:
                                              'must match pattern "' +
                                              '^--[A-Za-z0-9][A-Za-z0-9._-]*=.*$' +
                                              '"',
                                            schema: '^--[A-Za-z0-9][A-Za-z0-9._-]*=.*$',
                                            parentSchema:
                                              schema11.properties.builder.properties[
                                                'kaniko-config'
                                              ].properties.spec.properties.template.properties.spec
                                                .properties.containers.items.properties.args.items,
                                            data: data39,
                                          };
                                          if (vErrors === null) {
                                            vErrors = [err89];
                                          } else {
                                            vErrors.push(err89);
                                          }
                                          errors++;
                                        }
                                      } else {
                                        const err90 = {
                                          instancePath:
                                            instancePath +
                                            '/builder/kaniko-config/spec/template/spec/containers/' +
                                            i2 +
                                            '/args/' +
                                            i3,
                                          schemaPath:
                                            '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/items/properties/args/items/type',
                                          keyword: 'type',
                                          params: { type: 'string' },
                                          message: 'must be string',
                                          schema:
                                            schema11.properties.builder.properties['kaniko-config']
                                              .properties.spec.properties.template.properties.spec
                                              .properties.containers.items.properties.args.items
                                              .type,
                                          parentSchema:
                                            schema11.properties.builder.properties['kaniko-config']
                                              .properties.spec.properties.template.properties.spec
                                              .properties.containers.items.properties.args.items,
                                          data: data39,
                                        };
                                        if (vErrors === null) {
                                          vErrors = [err90];
                                        } else {
                                          vErrors.push(err90);
                                        }
                                        errors++;
                                      }
                                    }
                                  } else {
                                    const err91 = {
                                      instancePath:
                                        instancePath +
                                        '/builder/kaniko-config/spec/template/spec/containers/' +
                                        i2 +
                                        '/args',
                                      schemaPath:
                                        '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/items/properties/args/type',
                                      keyword: 'type',
                                      params: { type: 'array' },
                                      message: 'must be array',
                                      schema:
                                        schema11.properties.builder.properties['kaniko-config']
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.args.type,
                                      parentSchema:
                                        schema11.properties.builder.properties['kaniko-config']
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.args,
                                      data: data38,
                                    };
                                    if (vErrors === null) {
                                      vErrors = [err91];
                                    } else {
                                      vErrors.push(err91);
                                    }
                                    errors++;
                                  }
                                }
                              } else {
                                const err92 = {
                                  instancePath:
                                    instancePath +
                                    '/builder/kaniko-config/spec/template/spec/containers/' +
                                    i2,
                                  schemaPath:
                                    '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/items/type',
                                  keyword: 'type',
                                  params: { type: 'object' },
                                  message: 'must be object',
                                  schema:
                                    schema11.properties.builder.properties['kaniko-config']
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items.type,
                                  parentSchema:
                                    schema11.properties.builder.properties['kaniko-config']
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items,
                                  data: data37,
                                };
                                if (vErrors === null) {
                                  vErrors = [err92];
                                } else {
                                  vErrors.push(err92);
                                }
                                errors++;
                              }
                            }
                          } else {
                            const err93 = {
                              instancePath:
                                instancePath +
                                '/builder/kaniko-config/spec/template/spec/containers',
                              schemaPath:
                                '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/properties/containers/type',
                              keyword: 'type',
                              params: { type: 'array' },
                              message: 'must be array',
                              schema:
                                schema11.properties.builder.properties['kaniko-config'].properties
                                  .spec.properties.template.properties.spec.properties.containers
                                  .type,
                              parentSchema:
                                schema11.properties.builder.properties['kaniko-config'].properties
                                  .spec.properties.template.properties.spec.properties.containers,
                              data: data36,
                            };
                            if (vErrors === null) {
                              vErrors = [err93];
                            } else {
                              vErrors.push(err93);
                            }
                            errors++;
                          }
                        }
                      } else {
                        const err94 = {
                          instancePath: instancePath + '/builder/kaniko-config/spec/template/spec',
                          schemaPath:
                            '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/properties/spec/type',
                          keyword: 'type',
                          params: { type: 'object' },
                          message: 'must be object',
                          schema:
                            schema11.properties.builder.properties['kaniko-config'].properties.spec
                              .properties.template.properties.spec.type,
                          parentSchema:
                            schema11.properties.builder.properties['kaniko-config'].properties.spec
                              .properties.template.properties.spec,
                          data: data35,
                        };
                        if (vErrors === null) {
                          vErrors = [err94];
                        } else {
                          vErrors.push(err94);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err95 = {
                      instancePath: instancePath + '/builder/kaniko-config/spec/template',
                      schemaPath:
                        '#/properties/builder/properties/kaniko-config/properties/spec/properties/template/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties.builder.properties['kaniko-config'].properties.spec
                          .properties.template.type,
                      parentSchema:
                        schema11.properties.builder.properties['kaniko-config'].properties.spec
                          .properties.template,
                      data: data34,
                    };
                    if (vErrors === null) {
                      vErrors = [err95];
                    } else {
                      vErrors.push(err95);
                    }
                    errors++;
                  }
                }
              } else {
                const err96 = {
                  instancePath: instancePath + '/builder/kaniko-config/spec',
                  schemaPath: '#/properties/builder/properties/kaniko-config/properties/spec/type',
                  keyword: 'type',
                  params: { type: 'object' },
                  message: 'must be object',
                  schema:
                    schema11.properties.builder.properties['kaniko-config'].properties.spec.type,
                  parentSchema:
                    schema11.properties.builder.properties['kaniko-config'].properties.spec,
                  data: data33,
                };
                if (vErrors === null) {
                  vErrors = [err96];
                } else {
                  vErrors.push(err96);
                }
                errors++;
              }
            }
          } else {
            const err97 = {
              instancePath: instancePath + '/builder/kaniko-config',
              schemaPath: '#/properties/builder/properties/kaniko-config/type',
              keyword: 'type',
              params: { type: 'object' },
              message: 'must be object',
              schema: schema11.properties.builder.properties['kaniko-config'].type,
              parentSchema: schema11.properties.builder.properties['kaniko-config'],
              data: data32,
            };
            if (vErrors === null) {
              vErrors = [err97];
            } else {
              vErrors.push(err97);
            }
            errors++;
          }
        }
        if (data18['build-timeout-seconds'] !== undefined) {
          let data40 = data18['build-timeout-seconds'];
          if (!(typeof data40 == 'number' && !(data40 % 1) && !isNaN(data40) && isFinite(data40))) {
            const err98 = {
              instancePath: instancePath + '/builder/build-timeout-seconds',
              schemaPath: '#/properties/builder/properties/build-timeout-seconds/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.builder.properties['build-timeout-seconds'].type,
              parentSchema: schema11.properties.builder.properties['build-timeout-seconds'],
              data: data40,
            };
            if (vErrors === null) {
              vErrors = [err98];
            } else {
              vErrors.push(err98);
            }
            errors++;
          }
          if (typeof data40 == 'number' && isFinite(data40)) {
            if (data40 < 1 || isNaN(data40)) {
              const err99 = {
                instancePath: instancePath + '/builder/build-timeout-seconds',
                schemaPath: '#/properties/builder/properties/build-timeout-seconds/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 1 },
                message: 'must be >= 1',
                schema: 1,
                parentSchema: schema11.properties.builder.properties['build-timeout-seconds'],
                data: data40,
              };
              if (vErrors === null) {
                vErrors = [err99];
              } else {
                vErrors.push(err99);
              }
              errors++;
            }
          }
        }
        if (data18['create-repository'] !== undefined) {
          let data41 = data18['create-repository'];
          if (typeof data41 !== 'boolean') {
            const err100 = {
              instancePath: instancePath + '/builder/create-repository',
              schemaPath: '#/properties/builder/properties/create-repository/type',
              keyword: 'type',
              params: { type: 'boolean' },
              message: 'must be boolean',
              schema: schema11.properties.builder.properties['create-repository'].type,
              parentSchema: schema11.properties.builder.properties['create-repository'],
              data: data41,
            };
            if (vErrors === null) {
              vErrors = [err100];
            } else {
              vErrors.push(err100);
            }
            errors++;
          }
        }
        if (data18['docker-config-secret'] !== undefined) {
          let data42 = data18['docker-config-secret'];
          if (typeof data42 === 'string') {
            if (func3(data42) > 253) {
              const err101 = {
                instancePath: instancePath + '/builder/docker-config-secret',
                schemaPath: '#/properties/builder/properties/docker-config-secret/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.builder.properties['docker-config-secret'],
                data: data42,
              };
              if (vErrors === null) {
                vErrors = [err101];
              } else {
                vErrors.push(err101);
              }
              errors++;
            }
            if (!pattern7.test(data42)) {
              const err102 = {
                instancePath: instancePath + '/builder/docker-config-secret',
                schemaPath: '#/properties/builder/properties/docker-config-secret/pattern',
                keyword: 'pattern',
                params: {
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                },
                message:
                  'must match pattern "' +
                  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                  '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                parentSchema: schema11.properties.builder.properties['docker-config-secret'],
                data: data42,
              };
              if (vErrors === null) {
                vErrors = [err102];
              } else {
                vErrors.push(err102);
              }
              errors++;
            }
          } else {
            const err103 = {
              instancePath: instancePath + '/builder/docker-config-secret',
              schemaPath: '#/properties/builder/properties/docker-config-secret/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['docker-config-secret'].type,
              parentSchema: schema11.properties.builder.properties['docker-config-secret'],
              data: data42,
            };
            if (vErrors === null) {
              vErrors = [err103];
            } else {
              vErrors.push(err103);
            }
            errors++;
          }
        }
        if (data18['azure-storage-secret'] !== undefined) {
          let data43 = data18['azure-storage-secret'];
          if (data43 && typeof data43 == 'object' && !Array.isArray(data43)) {
            if (data43.name === undefined) {
              const err104 = {
                instancePath: instancePath + '/builder/azure-storage-secret',
                schemaPath: '#/properties/builder/properties/azure-storage-secret/required',
                keyword: 'required',
                params: { missingProperty: 'name' },
                message: "must have required property '" + 'name' + "'",
                schema: schema11.properties.builder.properties['azure-storage-secret'].required,
                parentSchema: schema11.properties.builder.properties['azure-storage-secret'],
                data: data43,
              };
              if (vErrors === null) {
                vErrors = [err104];
              } else {
                vErrors.push(err104);
              }
              errors++;
            }
            for (const key4 in data43) {
              if (!(key4 === 'name' || key4 === 'key')) {
                const err105 = {
                  instancePath: instancePath + '/builder/azure-storage-secret',
                  schemaPath:
                    '#/properties/builder/properties/azure-storage-secret/additionalProperties',
                  keyword: 'additionalProperties',
                  params: { additionalProperty: key4 },
                  message: 'must NOT have additional properties',
                  schema: false,
                  parentSchema: schema11.properties.builder.properties['azure-storage-secret'],
                  data: data43,
                };
                if (vErrors === null) {
                  vErrors = [err105];
                } else {
                  vErrors.push(err105);
                }
                errors++;
              }
            }
            if (data43.name !== undefined) {
              let data44 = data43.name;
              if (typeof data44 === 'string') {
                if (!pattern7.test(data44)) {
                  const err106 = {
                    instancePath: instancePath + '/builder/azure-storage-secret/name',
                    schemaPath:
                      '#/properties/builder/properties/azure-storage-secret/properties/name/pattern',
                    keyword: 'pattern',
                    params: {
                      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                    },
                    message:
                      'must match pattern "' +
                      '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                      '"',
                    schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                    parentSchema:
                      schema11.properties.builder.properties['azure-storage-secret'].properties
                        .name,
                    data: data44,
                  };
                  if (vErrors === null) {
                    vErrors = [err106];
                  } else {
                    vErrors.push(err106);
                  }
                  errors++;
                }
              } else {
                const err107 = {
                  instancePath: instancePath + '/builder/azure-storage-secret/name',
                  schemaPath:
                    '#/properties/builder/properties/azure-storage-secret/properties/name/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties.builder.properties['azure-storage-secret'].properties.name
                      .type,
                  parentSchema:
                    schema11.properties.builder.properties['azure-storage-secret'].properties.name,
                  data: data44,
                };
                if (vErrors === null) {
                  vErrors = [err107];
                } else {
                  vErrors.push(err107);
                }
                errors++;
              }
            }
            if (data43.key !== undefined) {
              let data45 = data43.key;
              if (typeof data45 === 'string') {
                if (!pattern8.test(data45)) {
                  const err108 = {
                    instancePath: instancePath + '/builder/azure-storage-secret/key',
                    schemaPath:
                      '#/properties/builder/properties/azure-storage-secret/properties/key/pattern',
                    keyword: 'pattern',
                    params: { pattern: '^[-._a-zA-Z0-9]+$' },
                    message: 'must match pattern "' + '^[-._a-zA-Z0-9]+$' + '"',
                    schema: '^[-._a-zA-Z0-9]+$',
                    parentSchema:
                      schema11.properties.builder.properties['azure-storage-secret'].properties.key,
                    data: data45,
                  };
                  if (vErrors === null) {
                    vErrors = [err108];
                  } else {
                    vErrors.push(err108);
                  }
                  errors++;
                }
              } else {
                const err109 = {
                  instancePath: instancePath + '/builder/azure-storage-secret/key',
                  schemaPath:
                    '#/properties/builder/properties/azure-storage-secret/properties/key/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties.builder.properties['azure-storage-secret'].properties.key
                      .type,
                  parentSchema:
                    schema11.properties.builder.properties['azure-storage-secret'].properties.key,
                  data: data45,
                };
                if (vErrors === null) {
                  vErrors = [err109];
                } else {
                  vErrors.push(err109);
                }
                errors++;
              }
            }
          } else {
            const err110 = {
              instancePath: instancePath + '/builder/azure-storage-secret',
              schemaPath: '#/properties/builder/properties/azure-storage-secret/type',
              keyword: 'type',
              params: { type: 'object' },
              message: 'must be object',
              schema: schema11.properties.builder.properties['azure-storage-secret'].type,
              parentSchema: schema11.properties.builder.properties['azure-storage-secret'],
              data: data43,
            };
            if (vErrors === null) {
              vErrors = [err110];
            } else {
              vErrors.push(err110);
            }
            errors++;
          }
        }
        if (data18['context-pvc-mount-path'] !== undefined) {
          let data46 = data18['context-pvc-mount-path'];
          if (typeof data46 === 'string') {
            if (!pattern16.test(data46)) {
              const err111 = {
                instancePath: instancePath + '/builder/context-pvc-mount-path',
                schemaPath: '#/properties/builder/properties/context-pvc-mount-path/pattern',
                keyword: 'pattern',
                params: { pattern: '^/[A-Za-z0-9._/-]*$' },
                message: 'must match pattern "' + '^/[A-Za-z0-9._/-]*$' + '"',
                schema: '^/[A-Za-z0-9._/-]*$',
                parentSchema: schema11.properties.builder.properties['context-pvc-mount-path'],
                data: data46,
              };
              if (vErrors === null) {
                vErrors = [err111];
              } else {
                vErrors.push(err111);
              }
              errors++;
            }
          } else {
            const err112 = {
              instancePath: instancePath + '/builder/context-pvc-mount-path',
              schemaPath: '#/properties/builder/properties/context-pvc-mount-path/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['context-pvc-mount-path'].type,
              parentSchema: schema11.properties.builder.properties['context-pvc-mount-path'],
              data: data46,
            };
            if (vErrors === null) {
              vErrors = [err112];
            } else {
              vErrors.push(err112);
            }
            errors++;
          }
        }
        if (data18['s3-endpoint'] !== undefined) {
          let data47 = data18['s3-endpoint'];
          if (typeof data47 === 'string') {
            if (!pattern17.test(data47)) {
              const err113 = {
                instancePath: instancePath + '/builder/s3-endpoint',
                schemaPath: '#/properties/builder/properties/s3-endpoint/pattern',
                keyword: 'pattern',
                params: { pattern: '^https?://[^/\\s]+/?$' },
                message: 'must match pattern "' + '^https?://[^/\\s]+/?$' + '"',
                schema: '^https?://[^/\\s]+/?$',
                parentSchema: schema11.properties.builder.properties['s3-endpoint'],
                data: data47,
              };
              if (vErrors === null) {
                vErrors = [err113];
              } else {
                vErrors.push(err113);
              }
              errors++;
            }
          } else {
            const err114 = {
              instancePath: instancePath + '/builder/s3-endpoint',
              schemaPath: '#/properties/builder/properties/s3-endpoint/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['s3-endpoint'].type,
              parentSchema: schema11.properties.builder.properties['s3-endpoint'],
              data: data47,
            };
            if (vErrors === null) {
              vErrors = [err114];
            } else {
              vErrors.push(err114);
            }
            errors++;
          }
        }
        if (data18['s3-addressing-style'] !== undefined) {
          let data48 = data18['s3-addressing-style'];
          if (typeof data48 !== 'string') {
            const err115 = {
              instancePath: instancePath + '/builder/s3-addressing-style',
              schemaPath: '#/properties/builder/properties/s3-addressing-style/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.builder.properties['s3-addressing-style'].type,
              parentSchema: schema11.properties.builder.properties['s3-addressing-style'],
              data: data48,
            };
            if (vErrors === null) {
              vErrors = [err115];
            } else {
              vErrors.push(err115);
            }
            errors++;
          }
          if (!(data48 === 'path' || data48 === 'virtual')) {
            const err116 = {
              instancePath: instancePath + '/builder/s3-addressing-style',
              schemaPath: '#/properties/builder/properties/s3-addressing-style/enum',
              keyword: 'enum',
              params: {
                allowedValues: schema11.properties.builder.properties['s3-addressing-style'].enum,
              },
              message: 'must be equal to one of the allowed values',
              schema: schema11.properties.builder.properties['s3-addressing-style'].enum,
              parentSchema: schema11.properties.builder.properties['s3-addressing-style'],
              data: data48,
            };
            if (vErrors === null) {
              vErrors = [err116];
            } else {
              vErrors.push(err116);
            }
            errors++;
          }
        }
      } else {
        const err117 = {
          instancePath: instancePath + '/builder',
          schemaPath: '#/properties/builder/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties.builder.type,
          parentSchema: schema11.properties.builder,
          data: data18,
        };
        if (vErrors === null) {
          vErrors = [err117];
        } else {
          vErrors.push(err117);
        }
        errors++;
      }
    }
    if (data.kubernetes !== undefined) {
      let data49 = data.kubernetes;
      if (data49 && typeof data49 == 'object' && !Array.isArray(data49)) {
        for (const key5 in data49) {
          if (!(
            key5 === 'namespace' ||
            key5 === 'service-account' ||
            key5 === 'build-service-account' ||
            key5 === 'target-namespaces'
          )) {
            const err118 = {
              instancePath: instancePath + '/kubernetes',
              schemaPath: '#/properties/kubernetes/additionalProperties',
              keyword: 'additionalProperties',
              params: { additionalProperty: key5 },
              message: 'must NOT have additional properties',
              schema: false,
              parentSchema: schema11.properties.kubernetes,
              data: data49,
            };
            if (vErrors === null) {
              vErrors = [err118];
            } else {
              vErrors.push(err118);
            }
            errors++;
          }
        }
        if (data49.namespace !== undefined) {
          let data50 = data49.namespace;
          if (typeof data50 === 'string') {
            if (func3(data50) > 63) {
              const err119 = {
                instancePath: instancePath + '/kubernetes/namespace',
                schemaPath: '#/properties/kubernetes/properties/namespace/maxLength',
                keyword: 'maxLength',
                params: { limit: 63 },
                message: 'must NOT have more than 63 characters',
                schema: 63,
                parentSchema: schema11.properties.kubernetes.properties.namespace,
                data: data50,
              };
              if (vErrors === null) {
                vErrors = [err119];
              } else {
                vErrors.push(err119);
              }
              errors++;
            }
            if (!pattern6.test(data50)) {
              const err120 = {
                instancePath: instancePath + '/kubernetes/namespace',
                schemaPath: '#/properties/kubernetes/properties/namespace/pattern',
                keyword: 'pattern',
                params: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
                message: 'must match pattern "' + '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' + '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                parentSchema: schema11.properties.kubernetes.properties.namespace,
                data: data50,
              };
              if (vErrors === null) {
                vErrors = [err120];
              } else {
                vErrors.push(err120);
              }
              errors++;
            }
          } else {
            const err121 = {
              instancePath: instancePath + '/kubernetes/namespace',
              schemaPath: '#/properties/kubernetes/properties/namespace/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.kubernetes.properties.namespace.type,
              parentSchema: schema11.properties.kubernetes.properties.namespace,
              data: data50,
            };
            if (vErrors === null) {
              vErrors = [err121];
            } else {
              vErrors.push(err121);
            }
            errors++;
          }
        }
        if (data49['service-account'] !== undefined) {
          let data51 = data49['service-account'];
          if (typeof data51 === 'string') {
            if (func3(data51) > 253) {
              const err122 = {
                instancePath: instancePath + '/kubernetes/service-account',
                schemaPath: '#/properties/kubernetes/properties/service-account/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.kubernetes.properties['service-account'],
                data: data51,
              };
              if (vErrors === null) {
                vErrors = [err122];
              } else {
                vErrors.push(err122);
              }
              errors++;
            }
            if (!pattern7.test(data51)) {
              const err123 = {
                instancePath: instancePath + '/kubernetes/service-account',
                schemaPath: '#/properties/kubernetes/properties/service-account/pattern',
                keyword: 'pattern',
                params: {
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                },
                message:
                  'must match pattern "' +
                  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                  '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                parentSchema: schema11.properties.kubernetes.properties['service-account'],
                data: data51,
              };
              if (vErrors === null) {
                vErrors = [err123];
              } else {
                vErrors.push(err123);
              }
              errors++;
            }
          } else {
            const err124 = {
              instancePath: instancePath + '/kubernetes/service-account',
              schemaPath: '#/properties/kubernetes/properties/service-account/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.kubernetes.properties['service-account'].type,
              parentSchema: schema11.properties.kubernetes.properties['service-account'],
              data: data51,
            };
            if (vErrors === null) {
              vErrors = [err124];
            } else {
              vErrors.push(err124);
            }
            errors++;
          }
        }
        if (data49['build-service-account'] !== undefined) {
          let data52 = data49['build-service-account'];
          if (typeof data52 === 'string') {
            if (func3(data52) > 253) {
              const err125 = {
                instancePath: instancePath + '/kubernetes/build-service-account',
                schemaPath: '#/properties/kubernetes/properties/build-service-account/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties.kubernetes.properties['build-service-account'],
                data: data52,
              };
              if (vErrors === null) {
                vErrors = [err125];
              } else {
                vErrors.push(err125);
              }
              errors++;
            }
            if (!pattern7.test(data52)) {
              const err126 = {
                instancePath: instancePath + '/kubernetes/build-service-account',
                schemaPath: '#/properties/kubernetes/properties/build-service-account/pattern',
                keyword: 'pattern',
                params: {
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                },
                message:
                  'must match pattern "' +
                  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' +
                  '"',
                schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
                parentSchema: schema11.properties.kubernetes.properties['build-service-account'],
                data: data52,
              };
              if (vErrors === null) {
                vErrors = [err126];
              } else {
                vErrors.push(err126);
              }
              errors++;
            }
          } else {
            const err127 = {
              instancePath: instancePath + '/kubernetes/build-service-account',
              schemaPath: '#/properties/kubernetes/properties/build-service-account/type',
              keyword: 'type',
              params: { type: 'string' },
              message: 'must be string',
              schema: schema11.properties.kubernetes.properties['build-service-account'].type,
              parentSchema: schema11.properties.kubernetes.properties['build-service-account'],
              data: data52,
            };
            if (vErrors === null) {
              vErrors = [err127];
            } else {
              vErrors.push(err127);
            }
            errors++;
          }
        }
        if (data49['target-namespaces'] !== undefined) {
          let data53 = data49['target-namespaces'];
          if (Array.isArray(data53)) {
            const len3 = data53.length;
            for (let i4 = 0; i4 < len3; i4++) {
              let data54 = data53[i4];
              if (typeof data54 === 'string') {
                if (func3(data54) > 63) {
                  const err128 = {
                    instancePath: instancePath + '/kubernetes/target-namespaces/' + i4,
                    schemaPath:
                      '#/properties/kubernetes/properties/target-namespaces/items/maxLength',
                    keyword: 'maxLength',
                    params: { limit: 63 },
                    message: 'must NOT have more than 63 characters',
                    schema: 63,
                    parentSchema:
                      schema11.properties.kubernetes.properties['target-namespaces'].items,
                    data: data54,
                  };
                  if (vErrors === null) {
                    vErrors = [err128];
                  } else {
                    vErrors.push(err128);
                  }
                  errors++;
                }
                if (!pattern6.test(data54)) {
                  const err129 = {
                    instancePath: instancePath + '/kubernetes/target-namespaces/' + i4,
                    schemaPath:
                      '#/properties/kubernetes/properties/target-namespaces/items/pattern',
                    keyword: 'pattern',
                    params: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
                    message: 'must match pattern "' + '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' + '"',
                    schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                    parentSchema:
                      schema11.properties.kubernetes.properties['target-namespaces'].items,
                    data: data54,
                  };
                  if (vErrors === null) {
                    vErrors = [err129];
                  } else {
                    vErrors.push(err129);
                  }
                  errors++;
                }
              } else {
                const err130 = {
                  instancePath: instancePath + '/kubernetes/target-namespaces/' + i4,
                  schemaPath: '#/properties/kubernetes/properties/target-namespaces/items/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema: schema11.properties.kubernetes.properties['target-namespaces'].items.type,
                  parentSchema:
                    schema11.properties.kubernetes.properties['target-namespaces'].items,
                  data: data54,
                };
                if (vErrors === null) {
                  vErrors = [err130];
                } else {
                  vErrors.push(err130);
                }
                errors++;
              }
            }
            let i5 = data53.length;
            let j1;
            if (i5 > 1) {
              const indices1 = {};
              for (; i5--;) {
                let item1 = data53[i5];
                if (typeof item1 !== 'string') {
                  continue;
                }
                if (typeof indices1[item1] == 'number') {
                  j1 = indices1[item1];
                  const err131 = {
                    instancePath: instancePath + '/kubernetes/target-namespaces',
                    schemaPath: '#/properties/kubernetes/properties/target-namespaces/uniqueItems',
                    keyword: 'uniqueItems',
                    params: { i: i5, j: j1 },
                    message:
                      'must NOT have duplicate items (items ## ' +
                      j1 +
                      ' and ' +
                      i5 +
                      ' are identical)',
                    schema: true,
                    parentSchema: schema11.properties.kubernetes.properties['target-namespaces'],
                    data: data53,
                  };
                  if (vErrors === null) {
                    vErrors = [err131];
                  } else {
                    vErrors.push(err131);
                  }
                  errors++;
                  break;
                }
                indices1[item1] = i5;
              }
            }
          } else {
            const err132 = {
              instancePath: instancePath + '/kubernetes/target-namespaces',
              schemaPath: '#/properties/kubernetes/properties/target-namespaces/type',
              keyword: 'type',
              params: { type: 'array' },
              message: 'must be array',
              schema: schema11.properties.kubernetes.properties['target-namespaces'].type,
              parentSchema: schema11.properties.kubernetes.properties['target-namespaces'],
              data: data53,
            };
            if (vErrors === null) {
              vErrors = [err132];
            } else {
              vErrors.push(err132);
            }
            errors++;
          }
        }
      } else {
        const err133 = {
          instancePath: instancePath + '/kubernetes',
          schemaPath: '#/properties/kubernetes/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties.kubernetes.type,
          parentSchema: schema11.properties.kubernetes,
          data: data49,
        };
        if (vErrors === null) {
          vErrors = [err133];
        } else {
          vErrors.push(err133);
        }
        errors++;
      }
    }
    if (data.launchjobs !== undefined) {
      let data55 = data.launchjobs;
      if (data55 && typeof data55 == 'object' && !Array.isArray(data55)) {
        for (const key6 in data55) {
          if (!(
            key6 === 'heartbeat-seconds' ||
            key6 === 'stale-after-seconds' ||
            key6 === 'ttl-seconds-after-finished' ||
            key6 === 'max-source-bytes' ||
            key6 === 'max-source-entries' ||
            key6 === 'source-budget-bytes' ||
            key6 === 'git-sources'
          )) {
            const err134 = {
              instancePath: instancePath + '/launchjobs',
              schemaPath: '#/properties/launchjobs/additionalProperties',
              keyword: 'additionalProperties',
              params: { additionalProperty: key6 },
              message: 'must NOT have additional properties',
              schema: false,
              parentSchema: schema11.properties.launchjobs,
              data: data55,
            };
            if (vErrors === null) {
              vErrors = [err134];
            } else {
              vErrors.push(err134);
            }
            errors++;
          }
        }
        if (data55['heartbeat-seconds'] !== undefined) {
          let data56 = data55['heartbeat-seconds'];
          if (!(typeof data56 == 'number' && !(data56 % 1) && !isNaN(data56) && isFinite(data56))) {
            const err135 = {
              instancePath: instancePath + '/launchjobs/heartbeat-seconds',
              schemaPath: '#/properties/launchjobs/properties/heartbeat-seconds/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['heartbeat-seconds'].type,
              parentSchema: schema11.properties.launchjobs.properties['heartbeat-seconds'],
              data: data56,
            };
            if (vErrors === null) {
              vErrors = [err135];
            } else {
              vErrors.push(err135);
            }
            errors++;
          }
          if (typeof data56 == 'number' && isFinite(data56)) {
            if (data56 > 3600 || isNaN(data56)) {
              const err136 = {
                instancePath: instancePath + '/launchjobs/heartbeat-seconds',
                schemaPath: '#/properties/launchjobs/properties/heartbeat-seconds/maximum',
                keyword: 'maximum',
                params: { comparison: '<=', limit: 3600 },
                message: 'must be <= 3600',
                schema: 3600,
                parentSchema: schema11.properties.launchjobs.properties['heartbeat-seconds'],
                data: data56,
              };
              if (vErrors === null) {
                vErrors = [err136];
              } else {
                vErrors.push(err136);
              }
              errors++;
            }
            if (data56 < 1 || isNaN(data56)) {
              const err137 = {
                instancePath: instancePath + '/launchjobs/heartbeat-seconds',
                schemaPath: '#/properties/launchjobs/properties/heartbeat-seconds/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 1 },
                message: 'must be >= 1',
                schema: 1,
                parentSchema: schema11.properties.launchjobs.properties['heartbeat-seconds'],
                data: data56,
              };
              if (vErrors === null) {
                vErrors = [err137];
              } else {
                vErrors.push(err137);
              }
              errors++;
            }
          }
        }
        if (data55['stale-after-seconds'] !== undefined) {
          let data57 = data55['stale-after-seconds'];
          if (!(typeof data57 == 'number' && !(data57 % 1) && !isNaN(data57) && isFinite(data57))) {
            const err138 = {
              instancePath: instancePath + '/launchjobs/stale-after-seconds',
              schemaPath: '#/properties/launchjobs/properties/stale-after-seconds/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['stale-after-seconds'].type,
              parentSchema: schema11.properties.launchjobs.properties['stale-after-seconds'],
              data: data57,
            };
            if (vErrors === null) {
              vErrors = [err138];
            } else {
              vErrors.push(err138);
            }
            errors++;
          }
          if (typeof data57 == 'number' && isFinite(data57)) {
            if (data57 > 86400 || isNaN(data57)) {
              const err139 = {
                instancePath: instancePath + '/launchjobs/stale-after-seconds',
                schemaPath: '#/properties/launchjobs/properties/stale-after-seconds/maximum',
                keyword: 'maximum',
                params: { comparison: '<=', limit: 86400 },
                message: 'must be <= 86400',
                schema: 86400,
                parentSchema: schema11.properties.launchjobs.properties['stale-after-seconds'],
                data: data57,
              };
              if (vErrors === null) {
                vErrors = [err139];
              } else {
                vErrors.push(err139);
              }
              errors++;
            }
            if (data57 < 3 || isNaN(data57)) {
              const err140 = {
                instancePath: instancePath + '/launchjobs/stale-after-seconds',
                schemaPath: '#/properties/launchjobs/properties/stale-after-seconds/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 3 },
                message: 'must be >= 3',
                schema: 3,
                parentSchema: schema11.properties.launchjobs.properties['stale-after-seconds'],
                data: data57,
              };
              if (vErrors === null) {
                vErrors = [err140];
              } else {
                vErrors.push(err140);
              }
              errors++;
            }
          }
        }
        if (data55['ttl-seconds-after-finished'] !== undefined) {
          let data58 = data55['ttl-seconds-after-finished'];
          if (!(typeof data58 == 'number' && !(data58 % 1) && !isNaN(data58) && isFinite(data58))) {
            const err141 = {
              instancePath: instancePath + '/launchjobs/ttl-seconds-after-finished',
              schemaPath: '#/properties/launchjobs/properties/ttl-seconds-after-finished/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['ttl-seconds-after-finished'].type,
              parentSchema: schema11.properties.launchjobs.properties['ttl-seconds-after-finished'],
              data: data58,
            };
            if (vErrors === null) {
              vErrors = [err141];
            } else {
              vErrors.push(err141);
            }
            errors++;
          }
          if (typeof data58 == 'number' && isFinite(data58)) {
            if (data58 < 0 || isNaN(data58)) {
              const err142 = {
                instancePath: instancePath + '/launchjobs/ttl-seconds-after-finished',
                schemaPath: '#/properties/launchjobs/properties/ttl-seconds-after-finished/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 0 },
                message: 'must be >= 0',
                schema: 0,
                parentSchema:
                  schema11.properties.launchjobs.properties['ttl-seconds-after-finished'],
                data: data58,
              };
              if (vErrors === null) {
                vErrors = [err142];
              } else {
                vErrors.push(err142);
              }
              errors++;
            }
          }
        }
        if (data55['max-source-bytes'] !== undefined) {
          let data59 = data55['max-source-bytes'];
          if (!(typeof data59 == 'number' && !(data59 % 1) && !isNaN(data59) && isFinite(data59))) {
            const err143 = {
              instancePath: instancePath + '/launchjobs/max-source-bytes',
              schemaPath: '#/properties/launchjobs/properties/max-source-bytes/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['max-source-bytes'].type,
              parentSchema: schema11.properties.launchjobs.properties['max-source-bytes'],
              data: data59,
            };
            if (vErrors === null) {
              vErrors = [err143];
            } else {
              vErrors.push(err143);
            }
            errors++;
          }
          if (typeof data59 == 'number' && isFinite(data59)) {
            if (data59 < 1048576 || isNaN(data59)) {
              const err144 = {
                instancePath: instancePath + '/launchjobs/max-source-bytes',
                schemaPath: '#/properties/launchjobs/properties/max-source-bytes/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 1048576 },
                message: 'must be >= 1048576',
                schema: 1048576,
                parentSchema: schema11.properties.launchjobs.properties['max-source-bytes'],
                data: data59,
              };
              if (vErrors === null) {
                vErrors = [err144];
              } else {
                vErrors.push(err144);
              }
              errors++;
            }
          }
        }
        if (data55['max-source-entries'] !== undefined) {
          let data60 = data55['max-source-entries'];
          if (!(typeof data60 == 'number' && !(data60 % 1) && !isNaN(data60) && isFinite(data60))) {
            const err145 = {
              instancePath: instancePath + '/launchjobs/max-source-entries',
              schemaPath: '#/properties/launchjobs/properties/max-source-entries/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['max-source-entries'].type,
              parentSchema: schema11.properties.launchjobs.properties['max-source-entries'],
              data: data60,
            };
            if (vErrors === null) {
              vErrors = [err145];
            } else {
              vErrors.push(err145);
            }
            errors++;
          }
          if (typeof data60 == 'number' && isFinite(data60)) {
            if (data60 < 1 || isNaN(data60)) {
              const err146 = {
                instancePath: instancePath + '/launchjobs/max-source-entries',
                schemaPath: '#/properties/launchjobs/properties/max-source-entries/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 1 },
                message: 'must be >= 1',
                schema: 1,
                parentSchema: schema11.properties.launchjobs.properties['max-source-entries'],
                data: data60,
              };
              if (vErrors === null) {
                vErrors = [err146];
              } else {
                vErrors.push(err146);
              }
              errors++;
            }
          }
        }
        if (data55['source-budget-bytes'] !== undefined) {
          let data61 = data55['source-budget-bytes'];
          if (!(typeof data61 == 'number' && !(data61 % 1) && !isNaN(data61) && isFinite(data61))) {
            const err147 = {
              instancePath: instancePath + '/launchjobs/source-budget-bytes',
              schemaPath: '#/properties/launchjobs/properties/source-budget-bytes/type',
              keyword: 'type',
              params: { type: 'integer' },
              message: 'must be integer',
              schema: schema11.properties.launchjobs.properties['source-budget-bytes'].type,
              parentSchema: schema11.properties.launchjobs.properties['source-budget-bytes'],
              data: data61,
            };
            if (vErrors === null) {
              vErrors = [err147];
            } else {
              vErrors.push(err147);
            }
            errors++;
          }
          if (typeof data61 == 'number' && isFinite(data61)) {
            if (data61 < 1048576 || isNaN(data61)) {
              const err148 = {
                instancePath: instancePath + '/launchjobs/source-budget-bytes',
                schemaPath: '#/properties/launchjobs/properties/source-budget-bytes/minimum',
                keyword: 'minimum',
                params: { comparison: '>=', limit: 1048576 },
                message: 'must be >= 1048576',
                schema: 1048576,
                parentSchema: schema11.properties.launchjobs.properties['source-budget-bytes'],
                data: data61,
              };
              if (vErrors === null) {
                vErrors = [err148];
              } else {
                vErrors.push(err148);
              }
              errors++;
            }
          }
        }
        if (data55['git-sources'] !== undefined) {
          let data62 = data55['git-sources'];
          if (data62 && typeof data62 == 'object' && !Array.isArray(data62)) {
            for (const key7 in data62) {
              if (!(
                key7 === 'hosts' ||
                key7 === 'schemes' ||
                key7 === 'credential-hosts' ||
                key7 === 'credentials-file'
              )) {
                const err149 = {
                  instancePath: instancePath + '/launchjobs/git-sources',
                  schemaPath: '#/properties/launchjobs/properties/git-sources/additionalProperties',
                  keyword: 'additionalProperties',
                  params: { additionalProperty: key7 },
                  message: 'must NOT have additional properties',
                  schema: false,
                  parentSchema: schema11.properties.launchjobs.properties['git-sources'],
                  data: data62,
                };
                if (vErrors === null) {
                  vErrors = [err149];
                } else {
                  vErrors.push(err149);
                }
                errors++;
              }
            }
            if (data62.hosts !== undefined) {
              let data63 = data62.hosts;
              if (Array.isArray(data63)) {
                const len4 = data63.length;
                for (let i6 = 0; i6 < len4; i6++) {
                  let data64 = data63[i6];
                  if (typeof data64 === 'string') {
                    if (func3(data64) > 255) {
                      const err150 = {
                        instancePath: instancePath + '/launchjobs/git-sources/hosts/' + i6,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/hosts/items/maxLength',
                        keyword: 'maxLength',
                        params: { limit: 255 },
                        message: 'must NOT have more than 255 characters',
                        schema: 255,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties.hosts
                            .items,
                        data: data64,
                      };
                      if (vErrors === null) {
                        vErrors = [err150];
                      } else {
                        vErrors.push(err150);
                      }
                      errors++;
                    }
                    if (func3(data64) < 1) {
                      const err151 = {
                        instancePath: instancePath + '/launchjobs/git-sources/hosts/' + i6,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/hosts/items/minLength',
                        keyword: 'minLength',
                        params: { limit: 1 },
                        message: 'must NOT have fewer than 1 characters',
                        schema: 1,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties.hosts
                            .items,
                        data: data64,
                      };
                      if (vErrors === null) {
                        vErrors = [err151];
                      } else {
                        vErrors.push(err151);
                      }
                      errors++;
                    }
                    if (!pattern22.test(data64)) {
                      const err152 = {
                        instancePath: instancePath + '/launchjobs/git-sources/hosts/' + i6,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/hosts/items/pattern',
                        keyword: 'pattern',
                        params: {
                          pattern:
                            '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                        },
                        message:
                          'must match pattern "' +
                          '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$' +
                          '"',
                        schema:
                          '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties.hosts
                            .items,
                        data: data64,
                      };
                      if (vErrors === null) {
                        vErrors = [err152];
                      } else {
                        vErrors.push(err152);
                      }
                      errors++;
                    }
                  } else {
                    const err153 = {
                      instancePath: instancePath + '/launchjobs/git-sources/hosts/' + i6,
                      schemaPath:
                        '#/properties/launchjobs/properties/git-sources/properties/hosts/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.hosts
                          .items.type,
                      parentSchema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.hosts
                          .items,
                      data: data64,
                    };
                    if (vErrors === null) {
                      vErrors = [err153];
                    } else {
                      vErrors.push(err153);
                    }
                    errors++;
                  }
                }
                let i7 = data63.length;
                let j2;
                if (i7 > 1) {
                  const indices2 = {};
                  for (; i7--;) {
                    let item2 = data63[i7];
                    if (typeof item2 !== 'string') {
                      continue;
                    }
                    if (typeof indices2[item2] == 'number') {
                      j2 = indices2[item2];
                      const err154 = {
                        instancePath: instancePath + '/launchjobs/git-sources/hosts',
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/hosts/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i7, j: j2 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j2 +
                          ' and ' +
                          i7 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties.hosts,
                        data: data63,
                      };
                      if (vErrors === null) {
                        vErrors = [err154];
                      } else {
                        vErrors.push(err154);
                      }
                      errors++;
                      break;
                    }
                    indices2[item2] = i7;
                  }
                }
              } else {
                const err155 = {
                  instancePath: instancePath + '/launchjobs/git-sources/hosts',
                  schemaPath:
                    '#/properties/launchjobs/properties/git-sources/properties/hosts/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties.launchjobs.properties['git-sources'].properties.hosts.type,
                  parentSchema:
                    schema11.properties.launchjobs.properties['git-sources'].properties.hosts,
                  data: data63,
                };
                if (vErrors === null) {
                  vErrors = [err155];
                } else {
                  vErrors.push(err155);
                }
                errors++;
              }
            }
            if (data62.schemes !== undefined) {
              let data65 = data62.schemes;
              if (Array.isArray(data65)) {
                if (data65.length < 1) {
                  const err156 = {
                    instancePath: instancePath + '/launchjobs/git-sources/schemes',
                    schemaPath:
                      '#/properties/launchjobs/properties/git-sources/properties/schemes/minItems',
                    keyword: 'minItems',
                    params: { limit: 1 },
                    message: 'must NOT have fewer than 1 items',
                    schema: 1,
                    parentSchema:
                      schema11.properties.launchjobs.properties['git-sources'].properties.schemes,
                    data: data65,
                  };
                  if (vErrors === null) {
                    vErrors = [err156];
                  } else {
                    vErrors.push(err156);
                  }
                  errors++;
                }
                const len5 = data65.length;
                for (let i8 = 0; i8 < len5; i8++) {
                  let data66 = data65[i8];
                  if (typeof data66 !== 'string') {
                    const err157 = {
                      instancePath: instancePath + '/launchjobs/git-sources/schemes/' + i8,
                      schemaPath:
                        '#/properties/launchjobs/properties/git-sources/properties/schemes/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.schemes
                          .items.type,
                      parentSchema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.schemes
                          .items,
                      data: data66,
                    };
                    if (vErrors === null) {
                      vErrors = [err157];
                    } else {
                      vErrors.push(err157);
                    }
                    errors++;
                  }
                  if (!(
                    data66 === 'https' ||
                    data66 === 'ssh' ||
                    data66 === 'http' ||
                    data66 === 'git'
                  )) {
                    const err158 = {
                      instancePath: instancePath + '/launchjobs/git-sources/schemes/' + i8,
                      schemaPath:
                        '#/properties/launchjobs/properties/git-sources/properties/schemes/items/enum',
                      keyword: 'enum',
                      params: {
                        allowedValues:
                          schema11.properties.launchjobs.properties['git-sources'].properties
                            .schemes.items.enum,
                      },
                      message: 'must be equal to one of the allowed values',
                      schema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.schemes
                          .items.enum,
                      parentSchema:
                        schema11.properties.launchjobs.properties['git-sources'].properties.schemes
                          .items,
                      data: data66,
                    };
                    if (vErrors === null) {
                      vErrors = [err158];
                    } else {
                      vErrors.push(err158);
                    }
                    errors++;
                  }
                }
                let i9 = data65.length;
                let j3;
                if (i9 > 1) {
                  const indices3 = {};
                  for (; i9--;) {
                    let item3 = data65[i9];
                    if (typeof item3 !== 'string') {
                      continue;
                    }
                    if (typeof indices3[item3] == 'number') {
                      j3 = indices3[item3];
                      const err159 = {
                        instancePath: instancePath + '/launchjobs/git-sources/schemes',
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/schemes/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i9, j: j3 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j3 +
                          ' and ' +
                          i9 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties
                            .schemes,
                        data: data65,
                      };
                      if (vErrors === null) {
                        vErrors = [err159];
                      } else {
                        vErrors.push(err159);
                      }
                      errors++;
                      break;
                    }
                    indices3[item3] = i9;
                  }
                }
              } else {
                const err160 = {
                  instancePath: instancePath + '/launchjobs/git-sources/schemes',
                  schemaPath:
                    '#/properties/launchjobs/properties/git-sources/properties/schemes/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties.launchjobs.properties['git-sources'].properties.schemes
                      .type,
                  parentSchema:
                    schema11.properties.launchjobs.properties['git-sources'].properties.schemes,
                  data: data65,
                };
                if (vErrors === null) {
                  vErrors = [err160];
                } else {
                  vErrors.push(err160);
                }
                errors++;
              }
            }
            if (data62['credential-hosts'] !== undefined) {
              let data67 = data62['credential-hosts'];
              if (Array.isArray(data67)) {
                const len6 = data67.length;
                for (let i10 = 0; i10 < len6; i10++) {
                  let data68 = data67[i10];
                  if (typeof data68 === 'string') {
                    if (func3(data68) > 255) {
                      const err161 = {
                        instancePath:
                          instancePath + '/launchjobs/git-sources/credential-hosts/' + i10,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/items/maxLength',
                        keyword: 'maxLength',
                        params: { limit: 255 },
                        message: 'must NOT have more than 255 characters',
                        schema: 255,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties[
                            'credential-hosts'
                          ].items,
                        data: data68,
                      };
                      if (vErrors === null) {
                        vErrors = [err161];
                      } else {
                        vErrors.push(err161);
                      }
                      errors++;
                    }
                    if (func3(data68) < 1) {
                      const err162 = {
                        instancePath:
                          instancePath + '/launchjobs/git-sources/credential-hosts/' + i10,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/items/minLength',
                        keyword: 'minLength',
                        params: { limit: 1 },
                        message: 'must NOT have fewer than 1 characters',
                        schema: 1,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties[
                            'credential-hosts'
                          ].items,
                        data: data68,
                      };
                      if (vErrors === null) {
                        vErrors = [err162];
                      } else {
                        vErrors.push(err162);
                      }
                      errors++;
                    }
                    if (!pattern22.test(data68)) {
                      const err163 = {
                        instancePath:
                          instancePath + '/launchjobs/git-sources/credential-hosts/' + i10,
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/items/pattern',
                        keyword: 'pattern',
                        params: {
                          pattern:
                            '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                        },
                        message:
                          'must match pattern "' +
                          '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$' +
                          '"',
                        schema:
                          '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])$',
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties[
                            'credential-hosts'
                          ].items,
                        data: data68,
                      };
                      if (vErrors === null) {
                        vErrors = [err163];
                      } else {
                        vErrors.push(err163);
                      }
                      errors++;
                    }
                  } else {
                    const err164 = {
                      instancePath:
                        instancePath + '/launchjobs/git-sources/credential-hosts/' + i10,
                      schemaPath:
                        '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties.launchjobs.properties['git-sources'].properties[
                          'credential-hosts'
                        ].items.type,
                      parentSchema:
                        schema11.properties.launchjobs.properties['git-sources'].properties[
                          'credential-hosts'
                        ].items,
                      data: data68,
                    };
                    if (vErrors === null) {
                      vErrors = [err164];
                    } else {
                      vErrors.push(err164);
                    }
                    errors++;
                  }
                }
                let i11 = data67.length;
                let j4;
                if (i11 > 1) {
                  const indices4 = {};
                  for (; i11--;) {
                    let item4 = data67[i11];
                    if (typeof item4 !== 'string') {
                      continue;
                    }
                    if (typeof indices4[item4] == 'number') {
                      j4 = indices4[item4];
                      const err165 = {
                        instancePath: instancePath + '/launchjobs/git-sources/credential-hosts',
                        schemaPath:
                          '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i11, j: j4 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j4 +
                          ' and ' +
                          i11 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties.launchjobs.properties['git-sources'].properties[
                            'credential-hosts'
                          ],
                        data: data67,
                      };
                      if (vErrors === null) {
                        vErrors = [err165];
                      } else {
                        vErrors.push(err165);
                      }
                      errors++;
                      break;
                    }
                    indices4[item4] = i11;
                  }
                }
              } else {
                const err166 = {
                  instancePath: instancePath + '/launchjobs/git-sources/credential-hosts',
                  schemaPath:
                    '#/properties/launchjobs/properties/git-sources/properties/credential-hosts/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties.launchjobs.properties['git-sources'].properties[
                      'credential-hosts'
                    ].type,
                  parentSchema:
                    schema11.properties.launchjobs.properties['git-sources'].properties[
                      'credential-hosts'
                    ],
                  data: data67,
                };
                if (vErrors === null) {
                  vErrors = [err166];
                } else {
                  vErrors.push(err166);
                }
                errors++;
              }
            }
            if (data62['credentials-file'] !== undefined) {
              let data69 = data62['credentials-file'];
              if (typeof data69 === 'string') {
                if (func3(data69) > 4096) {
                  const err167 = {
                    instancePath: instancePath + '/launchjobs/git-sources/credentials-file',
                    schemaPath:
                      '#/properties/launchjobs/properties/git-sources/properties/credentials-file/maxLength',
                    keyword: 'maxLength',
                    params: { limit: 4096 },
                    message: 'must NOT have more than 4096 characters',
                    schema: 4096,
                    parentSchema:
                      schema11.properties.launchjobs.properties['git-sources'].properties[
                        'credentials-file'
                      ],
                    data: data69,
                  };
                  if (vErrors === null) {
                    vErrors = [err167];
                  } else {
                    vErrors.push(err167);
                  }
                  errors++;
                }
                if (func3(data69) < 1) {
                  const err168 = {
                    instancePath: instancePath + '/launchjobs/git-sources/credentials-file',
                    schemaPath:
                      '#/properties/launchjobs/properties/git-sources/properties/credentials-file/minLength',
                    keyword: 'minLength',
                    params: { limit: 1 },
                    message: 'must NOT have fewer than 1 characters',
                    schema: 1,
                    parentSchema:
                      schema11.properties.launchjobs.properties['git-sources'].properties[
                        'credentials-file'
                      ],
                    data: data69,
                  };
                  if (vErrors === null) {
                    vErrors = [err168];
                  } else {
                    vErrors.push(err168);
                  }
                  errors++;
                }
                if (!pattern24.test(data69)) {
                  const err169 = {
                    instancePath: instancePath + '/launchjobs/git-sources/credentials-file',
                    schemaPath:
                      '#/properties/launchjobs/properties/git-sources/properties/credentials-file/pattern',
                    keyword: 'pattern',
                    params: { pattern: '^/' },
                    message: 'must match pattern "' + '^/' + '"',
                    schema: '^/',
                    parentSchema:
                      schema11.properties.launchjobs.properties['git-sources'].properties[
                        'credentials-file'
                      ],
                    data: data69,
                  };
                  if (vErrors === null) {
                    vErrors = [err169];
                  } else {
                    vErrors.push(err169);
                  }
                  errors++;
                }
              } else {
                const err170 = {
                  instancePath: instancePath + '/launchjobs/git-sources/credentials-file',
                  schemaPath:
                    '#/properties/launchjobs/properties/git-sources/properties/credentials-file/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties.launchjobs.properties['git-sources'].properties[
                      'credentials-file'
                    ].type,
                  parentSchema:
                    schema11.properties.launchjobs.properties['git-sources'].properties[
                      'credentials-file'
                    ],
                  data: data69,
                };
                if (vErrors === null) {
                  vErrors = [err170];
                } else {
                  vErrors.push(err170);
                }
                errors++;
              }
            }
          } else {
            const err171 = {
              instancePath: instancePath + '/launchjobs/git-sources',
              schemaPath: '#/properties/launchjobs/properties/git-sources/type',
              keyword: 'type',
              params: { type: 'object' },
              message: 'must be object',
              schema: schema11.properties.launchjobs.properties['git-sources'].type,
              parentSchema: schema11.properties.launchjobs.properties['git-sources'],
              data: data62,
            };
            if (vErrors === null) {
              vErrors = [err171];
            } else {
              vErrors.push(err171);
            }
            errors++;
          }
        }
      } else {
        const err172 = {
          instancePath: instancePath + '/launchjobs',
          schemaPath: '#/properties/launchjobs/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties.launchjobs.type,
          parentSchema: schema11.properties.launchjobs,
          data: data55,
        };
        if (vErrors === null) {
          vErrors = [err172];
        } else {
          vErrors.push(err172);
        }
        errors++;
      }
    }
    if (data['queue-policies'] !== undefined) {
      let data70 = data['queue-policies'];
      if (data70 && typeof data70 == 'object' && !Array.isArray(data70)) {
        for (const key8 in data70) {
          const _errs232 = errors;
          if (typeof key8 === 'string') {
            if (func3(key8) > 253) {
              const err173 = {
                instancePath: instancePath + '/queue-policies',
                schemaPath: '#/properties/queue-policies/propertyNames/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties['queue-policies'].propertyNames,
                data: key8,
                propertyName: key8,
              };
              if (vErrors === null) {
                vErrors = [err173];
              } else {
                vErrors.push(err173);
              }
              errors++;
            }
            if (func3(key8) < 1) {
              const err174 = {
                instancePath: instancePath + '/queue-policies',
                schemaPath: '#/properties/queue-policies/propertyNames/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties['queue-policies'].propertyNames,
                data: key8,
                propertyName: key8,
              };
              if (vErrors === null) {
                vErrors = [err174];
              } else {
                vErrors.push(err174);
              }
              errors++;
            }
          }
          var valid43 = _errs232 === errors;
          if (!valid43) {
            const err175 = {
              instancePath: instancePath + '/queue-policies',
              schemaPath: '#/properties/queue-policies/propertyNames',
              keyword: 'propertyNames',
              params: { propertyName: key8 },
              message: 'property name must be valid',
              schema: schema11.properties['queue-policies'].propertyNames,
              parentSchema: schema11.properties['queue-policies'],
              data: data70,
            };
            if (vErrors === null) {
              vErrors = [err175];
            } else {
              vErrors.push(err175);
            }
            errors++;
          }
        }
        for (const key9 in data70) {
          let data71 = data70[key9];
          if (data71 && typeof data71 == 'object' && !Array.isArray(data71)) {
            for (const key10 in data71) {
              if (!(
                key10 === 'namespaces' ||
                key10 === 'namespace-selector' ||
                key10 === 'pod-security' ||
                key10 === 'allowed-volume-types' ||
                key10 === 'allowed-priority-classes' ||
                key10 === 'allowed-tolerations' ||
                key10 === 'max-resources'
              )) {
                const err176 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1'),
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/additionalProperties',
                  keyword: 'additionalProperties',
                  params: { additionalProperty: key10 },
                  message: 'must NOT have additional properties',
                  schema: false,
                  parentSchema: schema11.properties['queue-policies'].additionalProperties,
                  data: data71,
                };
                if (vErrors === null) {
                  vErrors = [err176];
                } else {
                  vErrors.push(err176);
                }
                errors++;
              }
            }
            if (data71.namespaces !== undefined) {
              let data72 = data71.namespaces;
              if (Array.isArray(data72)) {
                const len7 = data72.length;
                for (let i12 = 0; i12 < len7; i12++) {
                  let data73 = data72[i12];
                  if (typeof data73 === 'string') {
                    if (func3(data73) > 63) {
                      const err177 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/namespaces/' +
                          i12,
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/namespaces/items/maxLength',
                        keyword: 'maxLength',
                        params: { limit: 63 },
                        message: 'must NOT have more than 63 characters',
                        schema: 63,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties
                            .namespaces.items,
                        data: data73,
                      };
                      if (vErrors === null) {
                        vErrors = [err177];
                      } else {
                        vErrors.push(err177);
                      }
                      errors++;
                    }
                    if (!pattern6.test(data73)) {
                      const err178 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/namespaces/' +
                          i12,
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/namespaces/items/pattern',
                        keyword: 'pattern',
                        params: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
                        message: 'must match pattern "' + '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' + '"',
                        schema: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties
                            .namespaces.items,
                        data: data73,
                      };
                      if (vErrors === null) {
                        vErrors = [err178];
                      } else {
                        vErrors.push(err178);
                      }
                      errors++;
                    }
                  } else {
                    const err179 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/namespaces/' +
                        i12,
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/namespaces/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties
                          .namespaces.items.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties
                          .namespaces.items,
                      data: data73,
                    };
                    if (vErrors === null) {
                      vErrors = [err179];
                    } else {
                      vErrors.push(err179);
                    }
                    errors++;
                  }
                }
                let i13 = data72.length;
                let j5;
                if (i13 > 1) {
                  const indices5 = {};
                  for (; i13--;) {
                    let item5 = data72[i13];
                    if (typeof item5 !== 'string') {
                      continue;
                    }
                    if (typeof indices5[item5] == 'number') {
                      j5 = indices5[item5];
                      const err180 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/namespaces',
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/namespaces/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i13, j: j5 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j5 +
                          ' and ' +
                          i13 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties
                            .namespaces,
                        data: data72,
                      };
                      if (vErrors === null) {
                        vErrors = [err180];
                      } else {
                        vErrors.push(err180);
                      }
                      errors++;
                      break;
                    }
                    indices5[item5] = i13;
                  }
                }
              } else {
                const err181 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/namespaces',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/namespaces/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties.namespaces
                      .type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties
                      .namespaces,
                  data: data72,
                };
                if (vErrors === null) {
                  vErrors = [err181];
                } else {
                  vErrors.push(err181);
                }
                errors++;
              }
            }
            if (data71['namespace-selector'] !== undefined) {
              let data74 = data71['namespace-selector'];
              if (data74 && typeof data74 == 'object' && !Array.isArray(data74)) {
                for (const key11 in data74) {
                  if (!(key11 === 'matchLabels' || key11 === 'matchExpressions')) {
                    const err182 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/namespace-selector',
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/namespace-selector/additionalProperties',
                      keyword: 'additionalProperties',
                      params: { additionalProperty: key11 },
                      message: 'must NOT have additional properties',
                      schema: false,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'namespace-selector'
                        ],
                      data: data74,
                    };
                    if (vErrors === null) {
                      vErrors = [err182];
                    } else {
                      vErrors.push(err182);
                    }
                    errors++;
                  }
                }
                if (data74.matchLabels !== undefined) {
                  let data75 = data74.matchLabels;
                  if (data75 && typeof data75 == 'object' && !Array.isArray(data75)) {
                    for (const key12 in data75) {
                      let data76 = data75[key12];
                      if (typeof data76 !== 'string') {
                        const err183 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/namespace-selector/matchLabels/' +
                            key12.replace(/~/g, '~0').replace(/\//g, '~1'),
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchLabels/additionalProperties/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'namespace-selector'
                            ].properties.matchLabels.additionalProperties.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'namespace-selector'
                            ].properties.matchLabels.additionalProperties,
                          data: data76,
                        };
                        if (vErrors === null) {
                          vErrors = [err183];
                        } else {
                          vErrors.push(err183);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err184 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/namespace-selector/matchLabels',
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchLabels/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'namespace-selector'
                        ].properties.matchLabels.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'namespace-selector'
                        ].properties.matchLabels,
                      data: data75,
                    };
                    if (vErrors === null) {
                      vErrors = [err184];
                    } else {
                      vErrors.push(err184);
                    }
                    errors++;
                  }
                }
                if (data74.matchExpressions !== undefined) {
                  let data77 = data74.matchExpressions;
                  if (Array.isArray(data77)) {
                    const len8 = data77.length;
                    for (let i14 = 0; i14 < len8; i14++) {
                      let data78 = data77[i14];
                      if (data78 && typeof data78 == 'object' && !Array.isArray(data78)) {
                        if (data78.key === undefined) {
                          const err185 = {
                            instancePath:
                              instancePath +
                              '/queue-policies/' +
                              key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                              '/namespace-selector/matchExpressions/' +
                              i14,
                            schemaPath:
                              '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/required',
                            keyword: 'required',
                            params: { missingProperty: 'key' },
                            message: "must have required property '" + 'key' + "'",
                            schema:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'namespace-selector'
                              ].properties.matchExpressions.items.required,
                            parentSchema:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'namespace-selector'
                              ].properties.matchExpressions.items,
                            data: data78,
                          };
                          if (vErrors === null) {
                            vErrors = [err185];
                          } else {
                            vErrors.push(err185);
                          }
                          errors++;
                        }
                        if (data78.operator === undefined) {
                          const err186 = {
                            instancePath:
                              instancePath +
                              '/queue-policies/' +
                              key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                              '/namespace-selector/matchExpressions/' +
                              i14,
                            schemaPath:
                              '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/required',
                            keyword: 'required',
                            params: { missingProperty: 'operator' },
                            message: "must have required property '" + 'operator' + "'",
                            schema:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'namespace-selector'
                              ].properties.matchExpressions.items.required,
                            parentSchema:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'namespace-selector'
                              ].properties.matchExpressions.items,
                            data: data78,
                          };
                          if (vErrors === null) {
                            vErrors = [err186];
                          } else {
                            vErrors.push(err186);
                          }
                          errors++;
                        }
                        for (const key13 in data78) {
                          if (!(key13 === 'key' || key13 === 'operator' || key13 === 'values')) {
                            const err187 = {
                              instancePath:
                                instancePath +
                                '/queue-policies/' +
                                key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/namespace-selector/matchExpressions/' +
                                i14,
                              schemaPath:
                                '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/additionalProperties',
                              keyword: 'additionalProperties',
                              params: { additionalProperty: key13 },
                              message: 'must NOT have additional properties',
                              schema: false,
                              parentSchema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items,
                              data: data78,
                            };
                            if (vErrors === null) {
                              vErrors = [err187];
                            } else {
                              vErrors.push(err187);
                            }
                            errors++;
                          }
                        }
                        if (data78.key !== undefined) {
                          let data79 = data78.key;
                          if (typeof data79 === 'string') {
                            if (func3(data79) < 1) {
                              const err188 = {
                                instancePath:
                                  instancePath +
                                  '/queue-policies/' +
                                  key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                  '/namespace-selector/matchExpressions/' +
                                  i14 +
                                  '/key',
                                schemaPath:
                                  '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/key/minLength',
                                keyword: 'minLength',
                                params: { limit: 1 },
                                message: 'must NOT have fewer than 1 characters',
                                schema: 1,
                                parentSchema:
                                  schema11.properties['queue-policies'].additionalProperties
                                    .properties['namespace-selector'].properties.matchExpressions
                                    .items.properties.key,
                                data: data79,
                              };
                              if (vErrors === null) {
                                vErrors = [err188];
                              } else {
                                vErrors.push(err188);
                              }
                              errors++;
                            }
                          } else {
                            const err189 = {
                              instancePath:
                                instancePath +
                                '/queue-policies/' +
                                key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/namespace-selector/matchExpressions/' +
                                i14 +
                                '/key',
                              schemaPath:
                                '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/key/type',
                              keyword: 'type',
                              params: { type: 'string' },
                              message: 'must be string',
                              schema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.key.type,
                              parentSchema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.key,
                              data: data79,
                            };
                            if (vErrors === null) {
                              vErrors = [err189];
                            } else {
                              vErrors.push(err189);
                            }
                            errors++;
                          }
                        }
                        if (data78.operator !== undefined) {
                          let data80 = data78.operator;
                          if (typeof data80 !== 'string') {
                            const err190 = {
                              instancePath:
                                instancePath +
                                '/queue-policies/' +
                                key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/namespace-selector/matchExpressions/' +
                                i14 +
                                '/operator',
                              schemaPath:
                                '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/operator/type',
                              keyword: 'type',
                              params: { type: 'string' },
                              message: 'must be string',
                              schema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.operator.type,
                              parentSchema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.operator,
                              data: data80,
                            };
                            if (vErrors === null) {
                              vErrors = [err190];
                            } else {
                              vErrors.push(err190);
                            }
                            errors++;
                          }
                          if (!(
                            data80 === 'In' ||
                            data80 === 'NotIn' ||
                            data80 === 'Exists' ||
                            data80 === 'DoesNotExist'
                          )) {
                            const err191 = {
                              instancePath:
                                instancePath +
                                '/queue-policies/' +
                                key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/namespace-selector/matchExpressions/' +
                                i14 +
                                '/operator',
                              schemaPath:
                                '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/operator/enum',
                              keyword: 'enum',
                              params: {
                                allowedValues:
                                  schema11.properties['queue-policies'].additionalProperties
                                    .properties['namespace-selector'].properties.matchExpressions
                                    .items.properties.operator.enum,
                              },
                              message: 'must be equal to one of the allowed values',
                              schema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.operator.enum,
                              parentSchema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.operator,
                              data: data80,
                            };
                            if (vErrors === null) {
                              vErrors = [err191];
                            } else {
                              vErrors.push(err191);
                            }
                            errors++;
                          }
                        }
                        if (data78.values !== undefined) {
                          let data81 = data78.values;
                          if (Array.isArray(data81)) {
                            const len9 = data81.length;
                            for (let i15 = 0; i15 < len9; i15++) {
                              let data82 = data81[i15];
                              if (typeof data82 !== 'string') {
                                const err192 = {
                                  instancePath:
                                    instancePath +
                                    '/queue-policies/' +
                                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                    '/namespace-selector/matchExpressions/' +
                                    i14 +
                                    '/values/' +
                                    i15,
                                  schemaPath:
                                    '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/values/items/type',
                                  keyword: 'type',
                                  params: { type: 'string' },
                                  message: 'must be string',
                                  schema:
                                    schema11.properties['queue-policies'].additionalProperties
                                      .properties['namespace-selector'].properties.matchExpressions
                                      .items.properties.values.items.type,
                                  parentSchema:
                                    schema11.properties['queue-policies'].additionalProperties
                                      .properties['namespace-selector'].properties.matchExpressions
                                      .items.properties.values.items,
                                  data: data82,
                                };
                                if (vErrors === null) {
                                  vErrors = [err192];
                                } else {
                                  vErrors.push(err192);
                                }
                                errors++;
                              }
                            }
                          } else {
                            const err193 = {
                              instancePath:
                                instancePath +
                                '/queue-policies/' +
                                key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/namespace-selector/matchExpressions/' +
                                i14 +
                                '/values',
                              schemaPath:
                                '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/properties/values/type',
                              keyword: 'type',
                              params: { type: 'array' },
                              message: 'must be array',
                              schema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.values.type,
                              parentSchema:
                                schema11.properties['queue-policies'].additionalProperties
                                  .properties['namespace-selector'].properties.matchExpressions
                                  .items.properties.values,
                              data: data81,
                            };
                            if (vErrors === null) {
                              vErrors = [err193];
                            } else {
                              vErrors.push(err193);
                            }
                            errors++;
                          }
                        }
                      } else {
                        const err194 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/namespace-selector/matchExpressions/' +
                            i14,
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/items/type',
                          keyword: 'type',
                          params: { type: 'object' },
                          message: 'must be object',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'namespace-selector'
                            ].properties.matchExpressions.items.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'namespace-selector'
                            ].properties.matchExpressions.items,
                          data: data78,
                        };
                        if (vErrors === null) {
                          vErrors = [err194];
                        } else {
                          vErrors.push(err194);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err195 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/namespace-selector/matchExpressions',
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/namespace-selector/properties/matchExpressions/type',
                      keyword: 'type',
                      params: { type: 'array' },
                      message: 'must be array',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'namespace-selector'
                        ].properties.matchExpressions.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'namespace-selector'
                        ].properties.matchExpressions,
                      data: data77,
                    };
                    if (vErrors === null) {
                      vErrors = [err195];
                    } else {
                      vErrors.push(err195);
                    }
                    errors++;
                  }
                }
              } else {
                const err196 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/namespace-selector',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/namespace-selector/type',
                  keyword: 'type',
                  params: { type: 'object' },
                  message: 'must be object',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'namespace-selector'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'namespace-selector'
                    ],
                  data: data74,
                };
                if (vErrors === null) {
                  vErrors = [err196];
                } else {
                  vErrors.push(err196);
                }
                errors++;
              }
            }
            if (data71['pod-security'] !== undefined) {
              let data83 = data71['pod-security'];
              if (typeof data83 !== 'string') {
                const err197 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/pod-security',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/pod-security/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'pod-security'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'pod-security'
                    ],
                  data: data83,
                };
                if (vErrors === null) {
                  vErrors = [err197];
                } else {
                  vErrors.push(err197);
                }
                errors++;
              }
              if (!(data83 === 'baseline' || data83 === 'privileged')) {
                const err198 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/pod-security',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/pod-security/enum',
                  keyword: 'enum',
                  params: {
                    allowedValues:
                      schema11.properties['queue-policies'].additionalProperties.properties[
                        'pod-security'
                      ].enum,
                  },
                  message: 'must be equal to one of the allowed values',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'pod-security'
                    ].enum,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'pod-security'
                    ],
                  data: data83,
                };
                if (vErrors === null) {
                  vErrors = [err198];
                } else {
                  vErrors.push(err198);
                }
                errors++;
              }
            }
            if (data71['allowed-volume-types'] !== undefined) {
              let data84 = data71['allowed-volume-types'];
              if (Array.isArray(data84)) {
                const len10 = data84.length;
                for (let i16 = 0; i16 < len10; i16++) {
                  let data85 = data84[i16];
                  if (typeof data85 === 'string') {
                    if (!pattern26.test(data85)) {
                      const err199 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/allowed-volume-types/' +
                          i16,
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/allowed-volume-types/items/pattern',
                        keyword: 'pattern',
                        params: { pattern: '^[a-zA-Z][a-zA-Z0-9]*$' },
                        message: 'must match pattern "' + '^[a-zA-Z][a-zA-Z0-9]*$' + '"',
                        schema: '^[a-zA-Z][a-zA-Z0-9]*$',
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'allowed-volume-types'
                          ].items,
                        data: data85,
                      };
                      if (vErrors === null) {
                        vErrors = [err199];
                      } else {
                        vErrors.push(err199);
                      }
                      errors++;
                    }
                  } else {
                    const err200 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/allowed-volume-types/' +
                        i16,
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/allowed-volume-types/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-volume-types'
                        ].items.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-volume-types'
                        ].items,
                      data: data85,
                    };
                    if (vErrors === null) {
                      vErrors = [err200];
                    } else {
                      vErrors.push(err200);
                    }
                    errors++;
                  }
                }
                let i17 = data84.length;
                let j6;
                if (i17 > 1) {
                  const indices6 = {};
                  for (; i17--;) {
                    let item6 = data84[i17];
                    if (typeof item6 !== 'string') {
                      continue;
                    }
                    if (typeof indices6[item6] == 'number') {
                      j6 = indices6[item6];
                      const err201 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/allowed-volume-types',
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/allowed-volume-types/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i17, j: j6 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j6 +
                          ' and ' +
                          i17 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'allowed-volume-types'
                          ],
                        data: data84,
                      };
                      if (vErrors === null) {
                        vErrors = [err201];
                      } else {
                        vErrors.push(err201);
                      }
                      errors++;
                      break;
                    }
                    indices6[item6] = i17;
                  }
                }
              } else {
                const err202 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/allowed-volume-types',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/allowed-volume-types/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-volume-types'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-volume-types'
                    ],
                  data: data84,
                };
                if (vErrors === null) {
                  vErrors = [err202];
                } else {
                  vErrors.push(err202);
                }
                errors++;
              }
            }
            if (data71['allowed-priority-classes'] !== undefined) {
              let data86 = data71['allowed-priority-classes'];
              if (Array.isArray(data86)) {
                const len11 = data86.length;
                for (let i18 = 0; i18 < len11; i18++) {
                  let data87 = data86[i18];
                  if (typeof data87 === 'string') {
                    if (func3(data87) < 1) {
                      const err203 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/allowed-priority-classes/' +
                          i18,
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/allowed-priority-classes/items/minLength',
                        keyword: 'minLength',
                        params: { limit: 1 },
                        message: 'must NOT have fewer than 1 characters',
                        schema: 1,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'allowed-priority-classes'
                          ].items,
                        data: data87,
                      };
                      if (vErrors === null) {
                        vErrors = [err203];
                      } else {
                        vErrors.push(err203);
                      }
                      errors++;
                    }
                  } else {
                    const err204 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/allowed-priority-classes/' +
                        i18,
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/allowed-priority-classes/items/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-priority-classes'
                        ].items.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-priority-classes'
                        ].items,
                      data: data87,
                    };
                    if (vErrors === null) {
                      vErrors = [err204];
                    } else {
                      vErrors.push(err204);
                    }
                    errors++;
                  }
                }
                let i19 = data86.length;
                let j7;
                if (i19 > 1) {
                  const indices7 = {};
                  for (; i19--;) {
                    let item7 = data86[i19];
                    if (typeof item7 !== 'string') {
                      continue;
                    }
                    if (typeof indices7[item7] == 'number') {
                      j7 = indices7[item7];
                      const err205 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/allowed-priority-classes',
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/allowed-priority-classes/uniqueItems',
                        keyword: 'uniqueItems',
                        params: { i: i19, j: j7 },
                        message:
                          'must NOT have duplicate items (items ## ' +
                          j7 +
                          ' and ' +
                          i19 +
                          ' are identical)',
                        schema: true,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'allowed-priority-classes'
                          ],
                        data: data86,
                      };
                      if (vErrors === null) {
                        vErrors = [err205];
                      } else {
                        vErrors.push(err205);
                      }
                      errors++;
                      break;
                    }
                    indices7[item7] = i19;
                  }
                }
              } else {
                const err206 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/allowed-priority-classes',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/allowed-priority-classes/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-priority-classes'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-priority-classes'
                    ],
                  data: data86,
                };
                if (vErrors === null) {
                  vErrors = [err206];
                } else {
                  vErrors.push(err206);
                }
                errors++;
              }
            }
            if (data71['allowed-tolerations'] !== undefined) {
              let data88 = data71['allowed-tolerations'];
              if (Array.isArray(data88)) {
                const len12 = data88.length;
                for (let i20 = 0; i20 < len12; i20++) {
                  let data89 = data88[i20];
                  if (data89 && typeof data89 == 'object' && !Array.isArray(data89)) {
                    for (const key14 in data89) {
                      if (!(
                        key14 === 'key' ||
                        key14 === 'operator' ||
                        key14 === 'value' ||
                        key14 === 'effect'
                      )) {
                        const err207 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20,
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/additionalProperties',
                          keyword: 'additionalProperties',
                          params: { additionalProperty: key14 },
                          message: 'must NOT have additional properties',
                          schema: false,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items,
                          data: data89,
                        };
                        if (vErrors === null) {
                          vErrors = [err207];
                        } else {
                          vErrors.push(err207);
                        }
                        errors++;
                      }
                    }
                    if (data89.key !== undefined) {
                      let data90 = data89.key;
                      if (typeof data90 !== 'string') {
                        const err208 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/key',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/key/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.key.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.key,
                          data: data90,
                        };
                        if (vErrors === null) {
                          vErrors = [err208];
                        } else {
                          vErrors.push(err208);
                        }
                        errors++;
                      }
                    }
                    if (data89.operator !== undefined) {
                      let data91 = data89.operator;
                      if (typeof data91 !== 'string') {
                        const err209 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/operator',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/operator/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.operator.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.operator,
                          data: data91,
                        };
                        if (vErrors === null) {
                          vErrors = [err209];
                        } else {
                          vErrors.push(err209);
                        }
                        errors++;
                      }
                      if (!(data91 === 'Exists' || data91 === 'Equal')) {
                        const err210 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/operator',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/operator/enum',
                          keyword: 'enum',
                          params: {
                            allowedValues:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'allowed-tolerations'
                              ].items.properties.operator.enum,
                          },
                          message: 'must be equal to one of the allowed values',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.operator.enum,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.operator,
                          data: data91,
                        };
                        if (vErrors === null) {
                          vErrors = [err210];
                        } else {
                          vErrors.push(err210);
                        }
                        errors++;
                      }
                    }
                    if (data89.value !== undefined) {
                      let data92 = data89.value;
                      if (typeof data92 !== 'string') {
                        const err211 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/value',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/value/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.value.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.value,
                          data: data92,
                        };
                        if (vErrors === null) {
                          vErrors = [err211];
                        } else {
                          vErrors.push(err211);
                        }
                        errors++;
                      }
                    }
                    if (data89.effect !== undefined) {
                      let data93 = data89.effect;
                      if (typeof data93 !== 'string') {
                        const err212 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/effect',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/effect/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.effect.type,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.effect,
                          data: data93,
                        };
                        if (vErrors === null) {
                          vErrors = [err212];
                        } else {
                          vErrors.push(err212);
                        }
                        errors++;
                      }
                      if (!(
                        data93 === 'NoSchedule' ||
                        data93 === 'PreferNoSchedule' ||
                        data93 === 'NoExecute'
                      )) {
                        const err213 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/allowed-tolerations/' +
                            i20 +
                            '/effect',
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/properties/effect/enum',
                          keyword: 'enum',
                          params: {
                            allowedValues:
                              schema11.properties['queue-policies'].additionalProperties.properties[
                                'allowed-tolerations'
                              ].items.properties.effect.enum,
                          },
                          message: 'must be equal to one of the allowed values',
                          schema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.effect.enum,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'allowed-tolerations'
                            ].items.properties.effect,
                          data: data93,
                        };
                        if (vErrors === null) {
                          vErrors = [err213];
                        } else {
                          vErrors.push(err213);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err214 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/allowed-tolerations/' +
                        i20,
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/items/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-tolerations'
                        ].items.type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'allowed-tolerations'
                        ].items,
                      data: data89,
                    };
                    if (vErrors === null) {
                      vErrors = [err214];
                    } else {
                      vErrors.push(err214);
                    }
                    errors++;
                  }
                }
              } else {
                const err215 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/allowed-tolerations',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/allowed-tolerations/type',
                  keyword: 'type',
                  params: { type: 'array' },
                  message: 'must be array',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-tolerations'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'allowed-tolerations'
                    ],
                  data: data88,
                };
                if (vErrors === null) {
                  vErrors = [err215];
                } else {
                  vErrors.push(err215);
                }
                errors++;
              }
            }
            if (data71['max-resources'] !== undefined) {
              let data94 = data71['max-resources'];
              if (data94 && typeof data94 == 'object' && !Array.isArray(data94)) {
                for (const key15 in data94) {
                  let data95 = data94[key15];
                  const _errs313 = errors;
                  let valid66 = false;
                  const _errs314 = errors;
                  if (typeof data95 === 'string') {
                    if (!pattern27.test(data95)) {
                      const err216 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/max-resources/' +
                          key15.replace(/~/g, '~0').replace(/\//g, '~1'),
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/max-resources/additionalProperties/anyOf/0/pattern',
                        keyword: 'pattern',
                        params: {
                          pattern:
                            '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$',
                        },
                        message:
                          'must match pattern "' +
                          '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$' +
                          '"',
                        schema: '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$',
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'max-resources'
                          ].additionalProperties.anyOf[0],
                        data: data95,
                      };
                      if (vErrors === null) {
                        vErrors = [err216];
                      } else {
                        vErrors.push(err216);
                      }
                      errors++;
                    }
                  } else {
                    const err217 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/max-resources/' +
                        key15.replace(/~/g, '~0').replace(/\//g, '~1'),
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/max-resources/additionalProperties/anyOf/0/type',
                      keyword: 'type',
                      params: { type: 'string' },
                      message: 'must be string',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'max-resources'
                        ].additionalProperties.anyOf[0].type,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'max-resources'
                        ].additionalProperties.anyOf[0],
                      data: data95,
                    };
                    if (vErrors === null) {
                      vErrors = [err217];
                    } else {
                      vErrors.push(err217);
                    }
                    errors++;
                  }
                  var _valid3 = _errs314 === errors;
                  valid66 = valid66 || _valid3;
                  if (!valid66) {
                    const _errs316 = errors;
                    if (typeof data95 == 'number' && isFinite(data95)) {
                      if (data95 < 0 || isNaN(data95)) {
                        const err218 = {
                          instancePath:
                            instancePath +
                            '/queue-policies/' +
                            key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/max-resources/' +
                            key15.replace(/~/g, '~0').replace(/\//g, '~1'),
                          schemaPath:
                            '#/properties/queue-policies/additionalProperties/properties/max-resources/additionalProperties/anyOf/1/minimum',
                          keyword: 'minimum',
                          params: { comparison: '>=', limit: 0 },
                          message: 'must be >= 0',
                          schema: 0,
                          parentSchema:
                            schema11.properties['queue-policies'].additionalProperties.properties[
                              'max-resources'
                            ].additionalProperties.anyOf[1],
                          data: data95,
                        };
                        if (vErrors === null) {
                          vErrors = [err218];
                        } else {
                          vErrors.push(err218);
                        }
                        errors++;
                      }
                    } else {
                      const err219 = {
                        instancePath:
                          instancePath +
                          '/queue-policies/' +
                          key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                          '/max-resources/' +
                          key15.replace(/~/g, '~0').replace(/\//g, '~1'),
                        schemaPath:
                          '#/properties/queue-policies/additionalProperties/properties/max-resources/additionalProperties/anyOf/1/type',
                        keyword: 'type',
                        params: { type: 'number' },
                        message: 'must be number',
                        schema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'max-resources'
                          ].additionalProperties.anyOf[1].type,
                        parentSchema:
                          schema11.properties['queue-policies'].additionalProperties.properties[
                            'max-resources'
                          ].additionalProperties.anyOf[1],
                        data: data95,
                      };
                      if (vErrors === null) {
                        vErrors = [err219];
                      } else {
                        vErrors.push(err219);
                      }
                      errors++;
                    }
                    var _valid3 = _errs316 === errors;
                    valid66 = valid66 || _valid3;
                  }
                  if (!valid66) {
                    const err220 = {
                      instancePath:
                        instancePath +
                        '/queue-policies/' +
                        key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/max-resources/' +
                        key15.replace(/~/g, '~0').replace(/\//g, '~1'),
                      schemaPath:
                        '#/properties/queue-policies/additionalProperties/properties/max-resources/additionalProperties/anyOf',
                      keyword: 'anyOf',
                      params: {},
                      message: 'must match a schema in anyOf',
                      schema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'max-resources'
                        ].additionalProperties.anyOf,
                      parentSchema:
                        schema11.properties['queue-policies'].additionalProperties.properties[
                          'max-resources'
                        ].additionalProperties,
                      data: data95,
                    };
                    if (vErrors === null) {
                      vErrors = [err220];
                    } else {
                      vErrors.push(err220);
                    }
                    errors++;
                  } else {
                    errors = _errs313;
                    if (vErrors !== null) {
                      if (_errs313) {
                        vErrors.length = _errs313;
                      } else {
                        vErrors = null;
                      }
                    }
                  }
                }
              } else {
                const err221 = {
                  instancePath:
                    instancePath +
                    '/queue-policies/' +
                    key9.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/max-resources',
                  schemaPath:
                    '#/properties/queue-policies/additionalProperties/properties/max-resources/type',
                  keyword: 'type',
                  params: { type: 'object' },
                  message: 'must be object',
                  schema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'max-resources'
                    ].type,
                  parentSchema:
                    schema11.properties['queue-policies'].additionalProperties.properties[
                      'max-resources'
                    ],
                  data: data94,
                };
                if (vErrors === null) {
                  vErrors = [err221];
                } else {
                  vErrors.push(err221);
                }
                errors++;
              }
            }
          } else {
            const err222 = {
              instancePath:
                instancePath + '/queue-policies/' + key9.replace(/~/g, '~0').replace(/\//g, '~1'),
              schemaPath: '#/properties/queue-policies/additionalProperties/type',
              keyword: 'type',
              params: { type: 'object' },
              message: 'must be object',
              schema: schema11.properties['queue-policies'].additionalProperties.type,
              parentSchema: schema11.properties['queue-policies'].additionalProperties,
              data: data71,
            };
            if (vErrors === null) {
              vErrors = [err222];
            } else {
              vErrors.push(err222);
            }
            errors++;
          }
        }
      } else {
        const err223 = {
          instancePath: instancePath + '/queue-policies',
          schemaPath: '#/properties/queue-policies/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties['queue-policies'].type,
          parentSchema: schema11.properties['queue-policies'],
          data: data70,
        };
        if (vErrors === null) {
          vErrors = [err223];
        } else {
          vErrors.push(err223);
        }
        errors++;
      }
    }
    if (data['run-templates'] !== undefined) {
      let data96 = data['run-templates'];
      if (data96 && typeof data96 == 'object' && !Array.isArray(data96)) {
        for (const key16 in data96) {
          const _errs322 = errors;
          if (typeof key16 === 'string') {
            if (func3(key16) > 253) {
              const err224 = {
                instancePath: instancePath + '/run-templates',
                schemaPath: '#/properties/run-templates/propertyNames/maxLength',
                keyword: 'maxLength',
                params: { limit: 253 },
                message: 'must NOT have more than 253 characters',
                schema: 253,
                parentSchema: schema11.properties['run-templates'].propertyNames,
                data: key16,
                propertyName: key16,
              };
              if (vErrors === null) {
                vErrors = [err224];
              } else {
                vErrors.push(err224);
              }
              errors++;
            }
            if (func3(key16) < 1) {
              const err225 = {
                instancePath: instancePath + '/run-templates',
                schemaPath: '#/properties/run-templates/propertyNames/minLength',
                keyword: 'minLength',
                params: { limit: 1 },
                message: 'must NOT have fewer than 1 characters',
                schema: 1,
                parentSchema: schema11.properties['run-templates'].propertyNames,
                data: key16,
                propertyName: key16,
              };
              if (vErrors === null) {
                vErrors = [err225];
              } else {
                vErrors.push(err225);
              }
              errors++;
            }
          }
          var valid67 = _errs322 === errors;
          if (!valid67) {
            const err226 = {
              instancePath: instancePath + '/run-templates',
              schemaPath: '#/properties/run-templates/propertyNames',
              keyword: 'propertyNames',
              params: { propertyName: key16 },
              message: 'property name must be valid',
              schema: schema11.properties['run-templates'].propertyNames,
              parentSchema: schema11.properties['run-templates'],
              data: data96,
            };
            if (vErrors === null) {
              vErrors = [err226];
            } else {
              vErrors.push(err226);
            }
            errors++;
          }
        }
        for (const key17 in data96) {
          let data97 = data96[key17];
          if (data97 && typeof data97 == 'object' && !Array.isArray(data97)) {
            for (const key18 in data97) {
              if (!(
                key18 === 'apiVersion' ||
                key18 === 'kind' ||
                key18 === 'metadata' ||
                key18 === 'spec'
              )) {
                const err227 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1'),
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/additionalProperties',
                  keyword: 'additionalProperties',
                  params: { additionalProperty: key18 },
                  message: 'must NOT have additional properties',
                  schema: false,
                  parentSchema: schema11.properties['run-templates'].additionalProperties,
                  data: data97,
                };
                if (vErrors === null) {
                  vErrors = [err227];
                } else {
                  vErrors.push(err227);
                }
                errors++;
              }
            }
            if (data97.apiVersion !== undefined) {
              let data98 = data97.apiVersion;
              if (typeof data98 !== 'string') {
                const err228 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/apiVersion',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/apiVersion/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.apiVersion
                      .type,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.apiVersion,
                  data: data98,
                };
                if (vErrors === null) {
                  vErrors = [err228];
                } else {
                  vErrors.push(err228);
                }
                errors++;
              }
              if (!(data98 === 'batch/v1')) {
                const err229 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/apiVersion',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/apiVersion/enum',
                  keyword: 'enum',
                  params: {
                    allowedValues:
                      schema11.properties['run-templates'].additionalProperties.properties
                        .apiVersion.enum,
                  },
                  message: 'must be equal to one of the allowed values',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.apiVersion
                      .enum,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.apiVersion,
                  data: data98,
                };
                if (vErrors === null) {
                  vErrors = [err229];
                } else {
                  vErrors.push(err229);
                }
                errors++;
              }
            }
            if (data97.kind !== undefined) {
              let data99 = data97.kind;
              if (typeof data99 !== 'string') {
                const err230 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/kind',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/kind/type',
                  keyword: 'type',
                  params: { type: 'string' },
                  message: 'must be string',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.kind.type,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.kind,
                  data: data99,
                };
                if (vErrors === null) {
                  vErrors = [err230];
                } else {
                  vErrors.push(err230);
                }
                errors++;
              }
              if (!(data99 === 'Job')) {
                const err231 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/kind',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/kind/enum',
                  keyword: 'enum',
                  params: {
                    allowedValues:
                      schema11.properties['run-templates'].additionalProperties.properties.kind
                        .enum,
                  },
                  message: 'must be equal to one of the allowed values',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.kind.enum,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.kind,
                  data: data99,
                };
                if (vErrors === null) {
                  vErrors = [err231];
                } else {
                  vErrors.push(err231);
                }
                errors++;
              }
            }
            if (data97.metadata !== undefined) {
              let data100 = data97.metadata;
              if (data100 && typeof data100 == 'object' && !Array.isArray(data100)) {
                for (const key19 in data100) {
                  if (!(key19 === 'labels' || key19 === 'annotations')) {
                    const err232 = {
                      instancePath:
                        instancePath +
                        '/run-templates/' +
                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/metadata',
                      schemaPath:
                        '#/properties/run-templates/additionalProperties/properties/metadata/additionalProperties',
                      keyword: 'additionalProperties',
                      params: { additionalProperty: key19 },
                      message: 'must NOT have additional properties',
                      schema: false,
                      parentSchema:
                        schema11.properties['run-templates'].additionalProperties.properties
                          .metadata,
                      data: data100,
                    };
                    if (vErrors === null) {
                      vErrors = [err232];
                    } else {
                      vErrors.push(err232);
                    }
                    errors++;
                  }
                }
                if (data100.labels !== undefined) {
                  let data101 = data100.labels;
                  if (data101 && typeof data101 == 'object' && !Array.isArray(data101)) {
                    for (const key20 in data101) {
                      let data102 = data101[key20];
                      if (typeof data102 !== 'string') {
                        const err233 = {
                          instancePath:
                            instancePath +
                            '/run-templates/' +
                            key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/metadata/labels/' +
                            key20.replace(/~/g, '~0').replace(/\//g, '~1'),
                          schemaPath:
                            '#/properties/run-templates/additionalProperties/properties/metadata/properties/labels/additionalProperties/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .metadata.properties.labels.additionalProperties.type,
                          parentSchema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .metadata.properties.labels.additionalProperties,
                          data: data102,
                        };
                        if (vErrors === null) {
                          vErrors = [err233];
                        } else {
                          vErrors.push(err233);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err234 = {
                      instancePath:
                        instancePath +
                        '/run-templates/' +
                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/metadata/labels',
                      schemaPath:
                        '#/properties/run-templates/additionalProperties/properties/metadata/properties/labels/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties['run-templates'].additionalProperties.properties
                          .metadata.properties.labels.type,
                      parentSchema:
                        schema11.properties['run-templates'].additionalProperties.properties
                          .metadata.properties.labels,
                      data: data101,
                    };
                    if (vErrors === null) {
                      vErrors = [err234];
                    } else {
                      vErrors.push(err234);
                    }
                    errors++;
                  }
                }
                if (data100.annotations !== undefined) {
                  let data103 = data100.annotations;
                  if (data103 && typeof data103 == 'object' && !Array.isArray(data103)) {
                    for (const key21 in data103) {
                      let data104 = data103[key21];
                      if (typeof data104 !== 'string') {
                        const err235 = {
                          instancePath:
                            instancePath +
                            '/run-templates/' +
                            key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/metadata/annotations/' +
                            key21.replace(/~/g, '~0').replace(/\//g, '~1'),
                          schemaPath:
                            '#/properties/run-templates/additionalProperties/properties/metadata/properties/annotations/additionalProperties/type',
                          keyword: 'type',
                          params: { type: 'string' },
                          message: 'must be string',
                          schema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .metadata.properties.annotations.additionalProperties.type,
                          parentSchema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .metadata.properties.annotations.additionalProperties,
                          data: data104,
                        };
                        if (vErrors === null) {
                          vErrors = [err235];
                        } else {
                          vErrors.push(err235);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err236 = {
                      instancePath:
                        instancePath +
                        '/run-templates/' +
                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/metadata/annotations',
                      schemaPath:
                        '#/properties/run-templates/additionalProperties/properties/metadata/properties/annotations/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties['run-templates'].additionalProperties.properties
                          .metadata.properties.annotations.type,
                      parentSchema:
                        schema11.properties['run-templates'].additionalProperties.properties
                          .metadata.properties.annotations,
                      data: data103,
                    };
                    if (vErrors === null) {
                      vErrors = [err236];
                    } else {
                      vErrors.push(err236);
                    }
                    errors++;
                  }
                }
              } else {
                const err237 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/metadata',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/metadata/type',
                  keyword: 'type',
                  params: { type: 'object' },
                  message: 'must be object',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.metadata
                      .type,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.metadata,
                  data: data100,
                };
                if (vErrors === null) {
                  vErrors = [err237];
                } else {
                  vErrors.push(err237);
                }
                errors++;
              }
            }
            if (data97.spec !== undefined) {
              let data105 = data97.spec;
              const _errs354 = errors;
              const _errs355 = errors;
              const _errs356 = errors;
              let valid74 = false;
              const _errs357 = errors;
              if (data105 && typeof data105 == 'object' && !Array.isArray(data105)) {
                let missing4;
                if (data105.selector === undefined && (missing4 = 'selector')) {
                  const err238 = {};
                  if (vErrors === null) {
                    vErrors = [err238];
                  } else {
                    vErrors.push(err238);
                  }
                  errors++;
                }
              }
              var _valid4 = _errs357 === errors;
              valid74 = valid74 || _valid4;
              if (!valid74) {
                const _errs358 = errors;
                if (data105 && typeof data105 == 'object' && !Array.isArray(data105)) {
                  let missing5;
                  if (data105.suspend === undefined && (missing5 = 'suspend')) {
                    const err239 = {};
                    if (vErrors === null) {
                      vErrors = [err239];
                    } else {
                      vErrors.push(err239);
                    }
                    errors++;
                  }
                }
                var _valid4 = _errs358 === errors;
                valid74 = valid74 || _valid4;
              }
              if (!valid74) {
                const err240 = {};
                if (vErrors === null) {
                  vErrors = [err240];
                } else {
                  vErrors.push(err240);
                }
                errors++;
              } else {
                errors = _errs356;
                if (vErrors !== null) {
                  if (_errs356) {
                    vErrors.length = _errs356;
                  } else {
                    vErrors = null;
                  }
                }
              }
              var valid73 = _errs355 === errors;
              if (valid73) {
                const err241 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/spec',
                  schemaPath: '#/properties/run-templates/additionalProperties/properties/spec/not',
                  keyword: 'not',
                  params: {},
                  message: 'must NOT be valid',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.spec.not,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.spec,
                  data: data105,
                };
                if (vErrors === null) {
                  vErrors = [err241];
                } else {
                  vErrors.push(err241);
                }
                errors++;
              } else {
                errors = _errs354;
                if (vErrors !== null) {
                  if (_errs354) {
                    vErrors.length = _errs354;
                  } else {
                    vErrors = null;
                  }
                }
              }
              if (data105 && typeof data105 == 'object' && !Array.isArray(data105)) {
                if (data105.template !== undefined) {
                  let data106 = data105.template;
                  if (data106 && typeof data106 == 'object' && !Array.isArray(data106)) {
                    for (const key22 in data106) {
                      if (!(key22 === 'metadata' || key22 === 'spec')) {
                        const err242 = {
                          instancePath:
                            instancePath +
                            '/run-templates/' +
                            key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/spec/template',
                          schemaPath:
                            '#/properties/run-templates/additionalProperties/properties/spec/properties/template/additionalProperties',
                          keyword: 'additionalProperties',
                          params: { additionalProperty: key22 },
                          message: 'must NOT have additional properties',
                          schema: false,
                          parentSchema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .spec.properties.template,
                          data: data106,
                        };
                        if (vErrors === null) {
                          vErrors = [err242];
                        } else {
                          vErrors.push(err242);
                        }
                        errors++;
                      }
                    }
                    if (data106.metadata !== undefined) {
                      let data107 = data106.metadata;
                      if (data107 && typeof data107 == 'object' && !Array.isArray(data107)) {
                        for (const key23 in data107) {
                          if (!(key23 === 'labels' || key23 === 'annotations')) {
                            const err243 = {
                              instancePath:
                                instancePath +
                                '/run-templates/' +
                                key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/spec/template/metadata',
                              schemaPath:
                                '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/additionalProperties',
                              keyword: 'additionalProperties',
                              params: { additionalProperty: key23 },
                              message: 'must NOT have additional properties',
                              schema: false,
                              parentSchema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.metadata,
                              data: data107,
                            };
                            if (vErrors === null) {
                              vErrors = [err243];
                            } else {
                              vErrors.push(err243);
                            }
                            errors++;
                          }
                        }
                        if (data107.labels !== undefined) {
                          let data108 = data107.labels;
                          if (data108 && typeof data108 == 'object' && !Array.isArray(data108)) {
                            for (const key24 in data108) {
                              let data109 = data108[key24];
                              if (typeof data109 !== 'string') {
                                const err244 = {
                                  instancePath:
                                    instancePath +
                                    '/run-templates/' +
                                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                    '/spec/template/metadata/labels/' +
                                    key24.replace(/~/g, '~0').replace(/\//g, '~1'),
                                  schemaPath:
                                    '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/properties/labels/additionalProperties/type',
                                  keyword: 'type',
                                  params: { type: 'string' },
                                  message: 'must be string',
                                  schema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.metadata
                                      .properties.labels.additionalProperties.type,
                                  parentSchema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.metadata
                                      .properties.labels.additionalProperties,
                                  data: data109,
                                };
                                if (vErrors === null) {
                                  vErrors = [err244];
                                } else {
                                  vErrors.push(err244);
                                }
                                errors++;
                              }
                            }
                          } else {
                            const err245 = {
                              instancePath:
                                instancePath +
                                '/run-templates/' +
                                key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/spec/template/metadata/labels',
                              schemaPath:
                                '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/properties/labels/type',
                              keyword: 'type',
                              params: { type: 'object' },
                              message: 'must be object',
                              schema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.metadata.properties.labels
                                  .type,
                              parentSchema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.metadata.properties.labels,
                              data: data108,
                            };
                            if (vErrors === null) {
                              vErrors = [err245];
                            } else {
                              vErrors.push(err245);
                            }
                            errors++;
                          }
                        }
                        if (data107.annotations !== undefined) {
                          let data110 = data107.annotations;
                          if (data110 && typeof data110 == 'object' && !Array.isArray(data110)) {
                            for (const key25 in data110) {
                              let data111 = data110[key25];
                              if (typeof data111 !== 'string') {
                                const err246 = {
                                  instancePath:
                                    instancePath +
                                    '/run-templates/' +
                                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                    '/spec/template/metadata/annotations/' +
                                    key25.replace(/~/g, '~0').replace(/\//g, '~1'),
                                  schemaPath:
                                    '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/properties/annotations/additionalProperties/type',
                                  keyword: 'type',
                                  params: { type: 'string' },
                                  message: 'must be string',
                                  schema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.metadata
                                      .properties.annotations.additionalProperties.type,
                                  parentSchema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.metadata
                                      .properties.annotations.additionalProperties,
                                  data: data111,
                                };
                                if (vErrors === null) {
                                  vErrors = [err246];
                                } else {
                                  vErrors.push(err246);
                                }
                                errors++;
                              }
                            }
                          } else {
                            const err247 = {
                              instancePath:
                                instancePath +
                                '/run-templates/' +
                                key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/spec/template/metadata/annotations',
                              schemaPath:
                                '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/properties/annotations/type',
                              keyword: 'type',
                              params: { type: 'object' },
                              message: 'must be object',
                              schema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.metadata.properties
                                  .annotations.type,
                              parentSchema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.metadata.properties
                                  .annotations,
                              data: data110,
                            };
                            if (vErrors === null) {
                              vErrors = [err247];
                            } else {
                              vErrors.push(err247);
                            }
                            errors++;
                          }
                        }
                      } else {
                        const err248 = {
                          instancePath:
                            instancePath +
                            '/run-templates/' +
                            key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/spec/template/metadata',
                          schemaPath:
                            '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/metadata/type',
                          keyword: 'type',
                          params: { type: 'object' },
                          message: 'must be object',
                          schema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .spec.properties.template.properties.metadata.type,
                          parentSchema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .spec.properties.template.properties.metadata,
                          data: data107,
                        };
                        if (vErrors === null) {
                          vErrors = [err248];
                        } else {
                          vErrors.push(err248);
                        }
                        errors++;
                      }
                    }
                    if (data106.spec !== undefined) {
                      let data112 = data106.spec;
                      if (data112 && typeof data112 == 'object' && !Array.isArray(data112)) {
                        if (data112.containers !== undefined) {
                          let data113 = data112.containers;
                          if (Array.isArray(data113)) {
                            if (data113.length > 1) {
                              const err249 = {
                                instancePath:
                                  instancePath +
                                  '/run-templates/' +
                                  key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                  '/spec/template/spec/containers',
                                schemaPath:
                                  '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/maxItems',
                                keyword: 'maxItems',
                                params: { limit: 1 },
                                message: 'must NOT have more than 1 items',
                                schema: 1,
                                parentSchema:
                                  schema11.properties['run-templates'].additionalProperties
                                    .properties.spec.properties.template.properties.spec.properties
                                    .containers,
                                data: data113,
                              };
                              if (vErrors === null) {
                                vErrors = [err249];
                              } else {
                                vErrors.push(err249);
                              }
                              errors++;
                            }
                            const len13 = data113.length;
                            for (let i21 = 0; i21 < len13; i21++) {
                              let data114 = data113[i21];
                              const _errs390 = errors;
                              const _errs391 = errors;
                              const _errs392 = errors;
                              let valid84 = false;
                              const _errs393 = errors;
                              if (
                                data114 &&
                                typeof data114 == 'object' &&
                                !Array.isArray(data114)
                              ) {
                                let missing6;
                                if (data114.command === undefined && (missing6 = 'command')) {
                                  const err250 = {};
                                  if (vErrors === null) {
                                    vErrors = [err250];
                                  } else {
                                    vErrors.push(err250);
                                  }
                                  errors++;
                                }
                              }
                              var _valid5 = _errs393 === errors;
                              valid84 = valid84 || _valid5;
                              if (!valid84) {
                                const _errs394 = errors;
                                if (
                                  data114 &&
                                  typeof data114 == 'object' &&
                                  !Array.isArray(data114)
                                ) {
                                  let missing7;
                                  if (data114.args === undefined && (missing7 = 'args')) {
                                    const err251 = {};
                                    if (vErrors === null) {
                                      vErrors = [err251];
                                    } else {
                                      vErrors.push(err251);
                                    }
                                    errors++;
                                  }
                                }
                                var _valid5 = _errs394 === errors;
                                valid84 = valid84 || _valid5;
                              }
                              if (!valid84) {
                                const err252 = {};
                                if (vErrors === null) {
                                  vErrors = [err252];
                                } else {
                                  vErrors.push(err252);
                                }
                                errors++;
                              } else {
                                errors = _errs392;
                                if (vErrors !== null) {
                                  if (_errs392) {
                                    vErrors.length = _errs392;
                                  } else {
                                    vErrors = null;
                                  }
                                }
                              }
                              var valid83 = _errs391 === errors;
                              if (valid83) {
                                const err253 = {
                                  instancePath:
                                    instancePath +
                                    '/run-templates/' +
                                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                    '/spec/template/spec/containers/' +
                                    i21,
                                  schemaPath:
                                    '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/items/not',
                                  keyword: 'not',
                                  params: {},
                                  message: 'must NOT be valid',
                                  schema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items.not,
                                  parentSchema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items,
                                  data: data114,
                                };
                                if (vErrors === null) {
                                  vErrors = [err253];
                                } else {
                                  vErrors.push(err253);
                                }
                                errors++;
                              } else {
                                errors = _errs390;
                                if (vErrors !== null) {
                                  if (_errs390) {
                                    vErrors.length = _errs390;
                                  } else {
                                    vErrors = null;
                                  }
                                }
                              }
                              if (
                                data114 &&
                                typeof data114 == 'object' &&
                                !Array.isArray(data114)
                              ) {
                                if (data114.image !== undefined) {
                                  let data115 = data114.image;
                                  if (typeof data115 !== 'string') {
                                    const err254 = {
                                      instancePath:
                                        instancePath +
                                        '/run-templates/' +
                                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                        '/spec/template/spec/containers/' +
                                        i21 +
                                        '/image',
                                      schemaPath:
                                        '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/items/properties/image/type',
                                      keyword: 'type',
                                      params: { type: 'string' },
                                      message: 'must be string',
                                      schema:
                                        schema11.properties['run-templates'].additionalProperties
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.image.type,
                                      parentSchema:
                                        schema11.properties['run-templates'].additionalProperties
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.image,
                                      data: data115,
                                    };
                                    if (vErrors === null) {
                                      vErrors = [err254];
                                    } else {
                                      vErrors.push(err254);
                                    }
                                    errors++;
                                  }
                                  if (!(data115 === '${image_uri}')) {
                                    const err255 = {
                                      instancePath:
                                        instancePath +
                                        '/run-templates/' +
                                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                        '/spec/template/spec/containers/' +
                                        i21 +
                                        '/image',
                                      schemaPath:
                                        '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/items/properties/image/enum',
                                      keyword: 'enum',
                                      params: {
                                        allowedValues:
                                          schema11.properties['run-templates'].additionalProperties
                                            .properties.spec.properties.template.properties.spec
                                            .properties.containers.items.properties.image.enum,
                                      },
                                      message: 'must be equal to one of the allowed values',
                                      schema:
                                        schema11.properties['run-templates'].additionalProperties
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.image.enum,
                                      parentSchema:
                                        schema11.properties['run-templates'].additionalProperties
                                          .properties.spec.properties.template.properties.spec
                                          .properties.containers.items.properties.image,
                                      data: data115,
                                    };
                                    if (vErrors === null) {
                                      vErrors = [err255];
                                    } else {
                                      vErrors.push(err255);
                                    }
                                    errors++;
                                  }
                                }
                              } else {
                                const err256 = {
                                  instancePath:
                                    instancePath +
                                    '/run-templates/' +
                                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                    '/spec/template/spec/containers/' +
                                    i21,
                                  schemaPath:
                                    '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/items/type',
                                  keyword: 'type',
                                  params: { type: 'object' },
                                  message: 'must be object',
                                  schema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items.type,
                                  parentSchema:
                                    schema11.properties['run-templates'].additionalProperties
                                      .properties.spec.properties.template.properties.spec
                                      .properties.containers.items,
                                  data: data114,
                                };
                                if (vErrors === null) {
                                  vErrors = [err256];
                                } else {
                                  vErrors.push(err256);
                                }
                                errors++;
                              }
                            }
                          } else {
                            const err257 = {
                              instancePath:
                                instancePath +
                                '/run-templates/' +
                                key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                                '/spec/template/spec/containers',
                              schemaPath:
                                '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/properties/containers/type',
                              keyword: 'type',
                              params: { type: 'array' },
                              message: 'must be array',
                              schema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.spec.properties.containers
                                  .type,
                              parentSchema:
                                schema11.properties['run-templates'].additionalProperties.properties
                                  .spec.properties.template.properties.spec.properties.containers,
                              data: data113,
                            };
                            if (vErrors === null) {
                              vErrors = [err257];
                            } else {
                              vErrors.push(err257);
                            }
                            errors++;
                          }
                        }
                      } else {
                        const err258 = {
                          instancePath:
                            instancePath +
                            '/run-templates/' +
                            key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                            '/spec/template/spec',
                          schemaPath:
                            '#/properties/run-templates/additionalProperties/properties/spec/properties/template/properties/spec/type',
                          keyword: 'type',
                          params: { type: 'object' },
                          message: 'must be object',
                          schema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .spec.properties.template.properties.spec.type,
                          parentSchema:
                            schema11.properties['run-templates'].additionalProperties.properties
                              .spec.properties.template.properties.spec,
                          data: data112,
                        };
                        if (vErrors === null) {
                          vErrors = [err258];
                        } else {
                          vErrors.push(err258);
                        }
                        errors++;
                      }
                    }
                  } else {
                    const err259 = {
                      instancePath:
                        instancePath +
                        '/run-templates/' +
                        key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                        '/spec/template',
                      schemaPath:
                        '#/properties/run-templates/additionalProperties/properties/spec/properties/template/type',
                      keyword: 'type',
                      params: { type: 'object' },
                      message: 'must be object',
                      schema:
                        schema11.properties['run-templates'].additionalProperties.properties.spec
                          .properties.template.type,
                      parentSchema:
                        schema11.properties['run-templates'].additionalProperties.properties.spec
                          .properties.template,
                      data: data106,
                    };
                    if (vErrors === null) {
                      vErrors = [err259];
                    } else {
                      vErrors.push(err259);
                    }
                    errors++;
                  }
                }
              } else {
                const err260 = {
                  instancePath:
                    instancePath +
                    '/run-templates/' +
                    key17.replace(/~/g, '~0').replace(/\//g, '~1') +
                    '/spec',
                  schemaPath:
                    '#/properties/run-templates/additionalProperties/properties/spec/type',
                  keyword: 'type',
                  params: { type: 'object' },
                  message: 'must be object',
                  schema:
                    schema11.properties['run-templates'].additionalProperties.properties.spec.type,
                  parentSchema:
                    schema11.properties['run-templates'].additionalProperties.properties.spec,
                  data: data105,
                };
                if (vErrors === null) {
                  vErrors = [err260];
                } else {
                  vErrors.push(err260);
                }
                errors++;
              }
            }
          } else {
            const err261 = {
              instancePath:
                instancePath + '/run-templates/' + key17.replace(/~/g, '~0').replace(/\//g, '~1'),
              schemaPath: '#/properties/run-templates/additionalProperties/type',
              keyword: 'type',
              params: { type: 'object' },
              message: 'must be object',
              schema: schema11.properties['run-templates'].additionalProperties.type,
              parentSchema: schema11.properties['run-templates'].additionalProperties,
              data: data97,
            };
            if (vErrors === null) {
              vErrors = [err261];
            } else {
              vErrors.push(err261);
            }
            errors++;
          }
        }
      } else {
        const err262 = {
          instancePath: instancePath + '/run-templates',
          schemaPath: '#/properties/run-templates/type',
          keyword: 'type',
          params: { type: 'object' },
          message: 'must be object',
          schema: schema11.properties['run-templates'].type,
          parentSchema: schema11.properties['run-templates'],
          data: data96,
        };
        if (vErrors === null) {
          vErrors = [err262];
        } else {
          vErrors.push(err262);
        }
        errors++;
      }
    }
  } else {
    const err263 = {
      instancePath,
      schemaPath: '#/type',
      keyword: 'type',
      params: { type: 'object' },
      message: 'must be object',
      schema: schema11.type,
      parentSchema: schema11,
      data,
    };
    if (vErrors === null) {
      vErrors = [err263];
    } else {
      vErrors.push(err263);
    }
    errors++;
  }
  validate10.errors = vErrors;
  return errors === 0;
}
