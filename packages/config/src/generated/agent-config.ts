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
     * Namespace of the agent, where build Jobs and their push credential Secrets are created. Defaults to the pod's own namespace.
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
     * Namespaces the agent may run jobs in.
     */
    'target-namespaces'?: string[];
  };
  /**
   * Added by this agent. How the agent holds LaunchJobs: how often it renews its claim on a job, when another agent may take a silent agent's jobs over, how long finished jobs are kept, and how much of a job's stored source the agent unpacks.
   */
  launchjobs?: {
    /**
     * How often the agent renews status.heartbeatTime on each job it holds. Each renewal is one status write per held job, which every agent's watch receives.
     */
    'heartbeat-seconds'?: number;
    /**
     * A held job whose heartbeat is older than this is taken over by another agent of its queue. Must be at least three heartbeats, so a slow write is not mistaken for a dead agent.
     */
    'stale-after-seconds'?: number;
    /**
     * Deletes a LaunchJob this long after it Succeeded or Failed, with its run Job and, when no other LaunchJob uses it, its uploaded build context. Unset keeps finished jobs until someone deletes them, as Kubernetes does for Jobs.
     */
    'ttl-seconds-after-finished'?: number;
    /**
     * The most bytes a LaunchJob's source may take on the agent: a stored build context (source.context) as it unpacks, a git source (source.git) once checked out. More fails the job (UnsafeBuildContext) and what was written is removed. Keep it below the agent's /tmp size limit (the chart's agent.tmpSizeLimit).
     */
    'max-source-bytes'?: number;
    /**
     * The most files, directories and links a LaunchJob's source (a stored build context or a git checkout) may hold. More fails the job (UnsafeBuildContext).
     */
    'max-source-entries'?: number;
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
