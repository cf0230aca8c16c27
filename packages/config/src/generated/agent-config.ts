// Generated from schemas/agent-config.schema.json by `pnpm generate`. Do not edit.

/**
 * The launch agent's configuration file (launch-config.yaml). A file written for the Weights & Biases launch agent loads here with the same meaning; keys this agent adds are marked as such.
 */
export interface LaunchAgentConfig {
  /**
   * Names of the queues the agent takes jobs from.
   */
  queues?: string[];
  /**
   * Legacy single queue name. Still accepted: it is appended to `queues`.
   */
  queue?: string;
  /**
   * The team or user that owns the queues.
   */
  entity?: string;
  /**
   * How many jobs the agent runs at once. -1 means no limit.
   */
  max_jobs?: number;
  /**
   * How many sweep schedulers the agent runs at once. -1 means no limit.
   */
  max_schedulers?: number;
  /**
   * Log detail: 0 is info, 1 adds debug messages, 2 adds the full build and Kubernetes traffic.
   */
  verbosity?: number;
  /**
   * When true, jobs may not override the container entrypoint, run privileged or mount host paths.
   */
  secure_mode?: boolean;
  /**
   * Seconds the agent waits for a stopped run's workload to exit before it is killed.
   */
  stopped_run_timeout?: number;
  /**
   * The cloud the agent runs in. It decides how cloud credentials are found.
   */
  environment?: {
    /**
     * Cloud environment: aws, gcp, azure, or local (no cloud).
     */
    type: 'aws' | 'gcp' | 'azure' | 'local';
    /**
     * Region the agent runs in. Required for aws and gcp.
     */
    region?: string;
    /**
     * Google Cloud project the agent runs in. Required for gcp.
     */
    project?: string;
  };
  /**
   * Deprecated: set builder.destination instead. The registry block is folded into the builder with a warning.
   */
  registry?: {
    /**
     * Registry kind: ecr, gcr (Artifact Registry) or acr.
     */
    type?: 'ecr' | 'gcr' | 'acr';
    /**
     * Repository URI, used as builder.destination when that is not set.
     */
    uri?: string;
  };
  /**
   * How the agent turns source into images. Without this block the agent uses docker when a Docker engine answers, else noop.
   */
  builder?: {
    /**
     * docker builds through a Docker Engine API, kaniko builds in a Kubernetes Job, noop never builds.
     */
    type: 'docker' | 'kaniko' | 'noop';
    /**
     * Repository the agent pushes images to, without a tag: every image is tagged with its source hash. ECR <account>.dkr.ecr.<region>.amazonaws.com/<repository>, Artifact Registry <region>-docker.pkg.dev/<project>/<repository>/<image>, ACR <name>.azurecr.io/<repository> (Azure allows 5 to 50 letters and digits in <name>; any other name under azurecr.io is an error, never a plain registry), or any host[:port]/path. A leading https:// is allowed.
     */
    destination?: string;
    /**
     * Alias of destination, as written in the W&B launch agent guide's Google Cloud example. Set one of the two.
     */
    uri?: string;
    /**
     * Target platform of built images.
     */
    platform?: 'linux/amd64' | 'linux/arm64';
    /**
     * Where kaniko build contexts are uploaded: s3://bucket[/path], gs://bucket[/path], https://<account>.blob.core.windows.net/<container>[/path], or pvc://<claim>[/path] for a PersistentVolumeClaim (clusters without an object store, such as CoreWeave). Required by the kaniko builder.
     */
    'build-context-store'?: string;
    /**
     * Prefix of kaniko build Job names; a short hash of the build is appended.
     */
    'build-job-name'?: string;
    /**
     * Kubernetes Secret holding cloud credentials for kaniko (for example a Google service-account key). Needs secret-key.
     */
    'secret-name'?: string;
    /**
     * Key inside secret-name that holds the credentials file. Needs secret-name.
     */
    'secret-key'?: string;
    /**
     * Kaniko executor image used by build Jobs. Defaults to a maintained executor pinned by the runtime.
     */
    'kaniko-image'?: string;
    /**
     * Added by this agent. Image of the push container of kaniko build pods: it pushes the image tarball the build container wrote, and alone holds the push credentials. Runs `crane push`; defaults to a crane image pinned by the runtime.
     */
    'kaniko-push-image'?: string;
    /**
     * Added by this agent. kubernetes.io/dockerconfigjson Secret with pull-only credentials for the base images a Dockerfile names; mounted into the kaniko build container. Never give it the push credentials: a Dockerfile's RUN steps can read it. Without it, base images are pulled anonymously.
     */
    'pull-docker-config-secret'?: string;
    /**
     * Added by this agent. Use kaniko's registry layer cache (--cache-repo). Off by default: the cache is pushed from the build container, so turning it on mounts the push credentials there, where RUN steps can read them.
     */
    'kaniko-cache'?: boolean;
    /**
     * Partial batch/v1 Job laid over the kaniko build Job: lists are appended, scalars you set win, container args are merged by flag name.
     */
    'kaniko-config'?: {
      /**
       * Job spec fields laid over the defaults (backoffLimit, activeDeadlineSeconds, template).
       */
      spec?: {
        /**
         * Pod template of the build Job: labels, annotations and the pod spec.
         */
        template?: {
          /**
           * Pod spec of the build pod: volumes, nodeSelector, tolerations, the executor container.
           */
          spec?: {
            /**
             * Exactly one container: the kaniko executor.
             *
             * @minItems 1
             * @maxItems 1
             */
            containers?: [
              {
                /**
                 * Executor flags, each --key=value; a flag given here replaces the default with the same name.
                 */
                args?: string[];
              },
            ];
          };
        };
      };
    };
    /**
     * Added by this agent. Deadline of a kaniko build Job (activeDeadlineSeconds).
     */
    'build-timeout-seconds'?: number;
    /**
     * Added by this agent. Create the ECR repository when it does not exist (needs ecr:CreateRepository).
     */
    'create-repository'?: boolean;
    /**
     * Added by this agent. kubernetes.io/dockerconfigjson Secret mounted into kaniko pods as registry credentials (CoreWeave or any registry without a cloud helper).
     */
    'docker-config-secret'?: string;
    /**
     * Added by this agent. Secret holding the Azure storage account key kaniko uses to read build contexts from Azure Blob Storage. Without it, kaniko pods use workload identity.
     */
    'azure-storage-secret'?: {
      /**
       * Secret name.
       */
      name: string;
      /**
       * Key inside the Secret.
       */
      key?: string;
    };
    /**
     * Added by this agent. Where the claim named by a pvc:// build-context-store is mounted in the agent's own pod.
     */
    'context-pvc-mount-path'?: string;
    /**
     * Added by this agent. Endpoint of an S3-compatible store for an s3:// build-context-store (CoreWeave AI Object Storage, MinIO, Ceph). The agent uses it and passes it to kaniko pods (S3_ENDPOINT). Default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL in the agent's environment, else Amazon S3.
     */
    's3-endpoint'?: string;
    /**
     * Added by this agent. How requests name the bucket: virtual (bucket.host, what Amazon S3 prefers and the only style CoreWeave AI Object Storage serves) or path (host/bucket, what MinIO and most emulators expect). Default: path when an endpoint is set (s3-endpoint or the environment), virtual for Amazon S3. Kaniko pods get the same style (S3_FORCE_PATH_STYLE).
     */
    's3-addressing-style'?: 'path' | 'virtual';
  };
  /**
   * Added by this agent. Facts about the cluster the agent runs in; the Helm chart fills this block in.
   */
  kubernetes?: {
    /**
     * Namespace of the agent, where its Lease, build Jobs and their push credential Secrets are created. Never runs user code. Defaults to the pod's own namespace.
     */
    namespace?: string;
    /**
     * ServiceAccount the agent runs as.
     */
    'service-account'?: string;
    /**
     * ServiceAccount of kaniko build pods. It carries only the cloud identity needed to push images and read contexts, none of the agent's Kubernetes permissions.
     */
    'build-service-account'?: string;
    /**
     * The tenant namespaces the agent serves: LaunchJobs are created in one of these and run there, with everything made for them. The agent's own namespace (kubernetes.namespace) holds its credentials and is never one of them: a LaunchJob created there fails with NamespaceNotServed. The chart fills this in from additionalTargetNamespaces.
     */
    'target-namespaces'?: string[];
  };
  /**
   * Added by this agent. How the agent holds LaunchJobs: how often it renews its Lease (which keeps every job it holds), when another agent may take a silent agent's jobs over, how long finished jobs are kept, how much of a job's source the agent unpacks, and where git sources may come from.
   */
  launchjobs?: {
    /**
     * How often the agent renews its Lease (one per agent, in its namespace), which says it is alive and so still holds its jobs. One write per agent per interval, however many jobs it holds.
     */
    'heartbeat-seconds'?: number;
    /**
     * The duration of the agent's Lease: when it has not been renewed for this long, the agent is taken for gone and another agent of its queue takes its jobs over. Must cover at least three renewals (3 x heartbeat-seconds), so a slow write is not mistaken for a dead agent.
     */
    'stale-after-seconds'?: number;
    /**
     * Deletes a LaunchJob this long after it Succeeded or Failed, with its run Job and, when no other LaunchJob uses it, its uploaded build context. Unset keeps finished jobs until someone deletes them, as Kubernetes does for Jobs.
     */
    'ttl-seconds-after-finished'?: number;
    /**
     * The most bytes a LaunchJob's source may take on the agent: a stored build context (source.context) as it unpacks, a git source (source.git) as it is fetched and checked out (its fetched pack and its files together). The write that would pass it stops, the job fails (UnsafeBuildContext) and what was written is removed. Keep it below the agent's /tmp size limit (the chart's tmpVolume.sizeLimit).
     */
    'max-source-bytes'?: number;
    /**
     * The most files, directories and links a LaunchJob's source (a stored build context or a git checkout) may hold. More fails the job (UnsafeBuildContext).
     */
    'max-source-entries'?: number;
    /**
     * The most bytes the sources of all builds in progress may take on the agent's /tmp together (stored contexts as they unpack, git sources as they are fetched and checked out). A build reserves max-source-bytes before it writes anything and keeps what its source really takes until the build ends; a build whose reservation does not fit waits (in phase Building) until others release theirs. Unset: 3 x max-source-bytes. Keep it below the agent's /tmp size limit (the chart's tmpVolume.sizeLimit, 4Gi by default).
     */
    'source-budget-bytes'?: number;
    /**
     * Where a LaunchJob's source.git may come from, and which hosts get the agent's git credentials. Without hosts the agent refuses every git source (GitSourceNotAllowed): a job's URL is untrusted input, and the agent sits inside the cluster with credentials. file:// URLs, local paths and git's other transports (ext::, fd::) are always refused, whatever this says. See docs/agent.md#git-sources.
     */
    'git-sources'?: {
      /**
       * Hosts a git source may name: exact names (github.com), a wildcard for every subdomain of a name (*.git.example.com matches a.git.example.com and a.b.git.example.com, not git.example.com itself), IP addresses, or * for any host. Empty or unset: no git source is allowed. Any port of a listed host is allowed.
       */
      hosts?: string[];
      /**
       * URL schemes a git source may use. https and ssh (also user@host:path) by default; http and git (git://) carry the source unauthenticated and in clear text and are allowed only when listed. file:// is never allowed.
       *
       * @minItems 1
       */
      schemes?: ['https' | 'ssh' | 'http' | 'git', ...('https' | 'ssh' | 'http' | 'git')[]];
      /**
       * Hosts that are offered the agent's git credentials: the entries of credentials-file over https, and the SSH keys of the agent's GIT_SSH_COMMAND (or its ~/.ssh) over ssh. Every other host is fetched with no credentials at all, and never over http or git://. Same forms as hosts except *; each must also be allowed by hosts. Unset: every entry of hosts other than *.
       */
      'credential-hosts'?: string[];
      /**
       * A git-credential-store file (lines https://user:token@host) whose entries are offered to credential-hosts over https. Unset: ~/.git-credentials of the agent (where the chart's migration mounts a gitCreds Secret). The agent's ~/.gitconfig and system git config are not read.
       */
      'credentials-file'?: string;
    };
  };
  /**
   * Added by this agent. Per queue, who may use it and what its LaunchJobs may ask for. A LaunchJob lives in, and runs in, a namespace the agent serves (kubernetes.target-namespaces); a queue is offered to the namespaces listed here or matched by the selector (every served namespace when neither is set). What the queue's run template fixes (serviceAccountName, priorityClassName, nodeSelector, tolerations) a LaunchJob cannot change or extend; these keys cap the rest. Run pods meet the Pod Security baseline level unless pod-security says privileged. See docs/tenancy.md.
   */
  'queue-policies'?: {
    /**
     * The policy of one queue.
     */
    [k: string]:
      | {
          /**
           * Namespaces whose LaunchJobs may use this queue (each must be one of kubernetes.target-namespaces). With namespace-selector, a namespace matched by either may use it.
           */
          namespaces?: string[];
          /**
           * A label selector over served namespaces, as in a Kueue ClusterQueue's namespaceSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist).
           */
          'namespace-selector'?: {
            matchLabels?: {
              [k: string]: string | undefined;
            };
            matchExpressions?: {
              key: string;
              operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
              values?: string[];
            }[];
          };
          /**
           * baseline (default): no privileged containers, host namespaces, host ports or hostPath, privilege escalation off, volume types from the allow-list. privileged: a LaunchJob of this queue may ask for any of those.
           */
          'pod-security'?: 'baseline' | 'privileged';
          /**
           * Volume types a LaunchJob of this queue may use besides emptyDir, configMap, secret, persistentVolumeClaim, projected, downwardAPI and ephemeral (for example nfs or csi). hostPath needs pod-security: privileged.
           */
          'allowed-volume-types'?: string[];
          /**
           * PriorityClasses a LaunchJob of this queue may ask for (spec.run.priorityClassName). Unset: any class except the system- ones. A class the run template sets is fixed and needs no listing.
           */
          'allowed-priority-classes'?: string[];
          /**
           * Tolerations a LaunchJob of this queue may add; each of the job's must equal one of these in key, operator, value and effect (an entry without effect allows any effect). Unset: tolerations that name a key are allowed, except control-plane keys; a toleration of every taint (no key, operator Exists) is always refused.
           */
          'allowed-tolerations'?: {
            key?: string;
            operator?: 'Exists' | 'Equal';
            value?: string;
            effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
          }[];
          /**
           * The most a container of this queue's LaunchJobs may request or limit, per resource (for example cpu: 8, memory: 64Gi, nvidia.com/gpu: 8). A job asking for more, in requests or limits, is refused.
           */
          'max-resources'?: {
            [k: string]: string | number | undefined;
          };
        }
      | undefined;
  };
  /**
   * Added by this agent. Per queue, a partial batch/v1 Job laid over the run Job of every LaunchJob of that queue (resources, node selectors, tolerations, affinity, labels, annotations, imagePullSecrets, service account, env, volumes), with the same merge rules as builder.kaniko-config. See docs/run-templates.md.
   */
  'run-templates'?: {
    /**
     * A partial batch/v1 Job laid over the run Job of this queue's LaunchJobs: lists are appended, mappings merged, scalars set here win; its one container is merged into the run container. Strings may use the macros ${image_uri}, ${run_id}, ${run_name}, ${queue_name}, ${project_name}, ${entity_name}.
     */
    [k: string]:
      | {
          /**
           * Optional; batch/v1 when given.
           */
          apiVersion?: 'batch/v1';
          /**
           * Optional; Job when given.
           */
          kind?: 'Job';
          /**
           * Labels and annotations added to the run Job; the agent's own labels win on a clash.
           */
          metadata?: {
            /**
             * Labels of the run Job. On the Job, kueue.x-k8s.io/queue-name hands the run to Kueue: the agent creates the Job suspended and Kueue admits it.
             */
            labels?: {
              [k: string]: string | undefined;
            };
            /**
             * Annotations of the run Job.
             */
            annotations?: {
              [k: string]: string | undefined;
            };
          };
          /**
           * Job spec fields laid over the run Job's (backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished, template).
           */
          spec?: {
            /**
             * Pod template: labels, annotations and the pod spec (nodeSelector, tolerations, affinity, imagePullSecrets, serviceAccountName, priorityClassName, volumes, ...).
             */
            template?: {
              /**
               * Labels and annotations added to the run pod; the agent's own labels win on a clash.
               */
              metadata?: {
                /**
                 * Labels of the run pod. On the Job, kueue.x-k8s.io/queue-name hands the run to Kueue: the agent creates the Job suspended and Kueue admits it.
                 */
                labels?: {
                  [k: string]: string | undefined;
                };
                /**
                 * Annotations of the run pod.
                 */
                annotations?: {
                  [k: string]: string | undefined;
                };
              };
              /**
               * Pod spec fields laid over the run pod's.
               */
              spec?: {
                /**
                 * At most one container, merged into the run container (env, resources, volumeMounts, securityContext...). Its command and args come from the LaunchJob, its image from the build.
                 *
                 * @maxItems 1
                 */
                containers?:
                  | []
                  | [
                      {
                        /**
                         * Only ${image_uri}, as W&B queue configs write it: the run image is the one the agent built or was given.
                         */
                        image?: '${image_uri}';
                      },
                    ];
              };
            };
          };
        }
      | undefined;
  };
}
