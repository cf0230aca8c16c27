// Generated from schemas/agent-config.schema.json by `pnpm generate`. Do not edit.

export const agentConfigSchema: Record<string, unknown> = {
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
