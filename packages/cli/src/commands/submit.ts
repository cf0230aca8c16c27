import { loadConfig } from '@launch-agent/config';
import type { LaunchJobSpec } from '@launch-agent/runtime';
import { Option, type Command } from 'commander';
import { EXIT, UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { kubeConfigFor } from './start.js';
import { parseBuildArgs, progressReporter } from './build.js';
import { loadRuntime } from '../runtime.js';
import { uploadOnce } from './submit-upload.js';
import { NAMESPACE_OPTION_HELP, tenantNamespace } from '../tenant-namespace.js';

interface SubmitOptions {
  queue?: string;
  image?: string;
  git?: string;
  ref?: string;
  dockerfile?: string;
  buildArg: string[];
  env: string[];
  config?: string;
  namespace?: string;
  runNamespace?: string;
  name?: string;
  pvcMountPath?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `NAME=VALUE` pairs for the job's environment. */
export function parseEnv(values: string[]): Array<{ name: string; value: string }> {
  return values.map((value) => {
    const eq = value.indexOf('=');
    const name = eq === -1 ? '' : value.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
      throw new UsageError(`--env "${value}" is not NAME=VALUE`);
    }
    return { name, value: value.slice(eq + 1) };
  });
}

export function registerSubmitCommand(program: Command, out: Output): void {
  program
    .command('submit')
    .description(
      'Queue a job: upload the build context PATH to the build-context store (or name a prebuilt --image) and create a LaunchJob.',
    )
    .argument('[path]', 'the build context directory (omit with --image)')
    .argument('[command...]', 'after --: the arguments the image runs with (its CMD)')
    .option('-q, --queue <queue>', 'the queue (default: the first of the config queues)')
    .option('--image <ref>', 'run this prebuilt image; nothing is uploaded or built')
    .option(
      '--git <url>',
      'build from this git repository (https://, ssh:// or user@host:path; the agent fetches it from the hosts its launchjobs.git-sources allows); nothing is uploaded',
    )
    .option('--ref <ref>', 'with --git: the branch, tag or commit (default: the remote HEAD)')
    .option('-f, --dockerfile <path>', 'Dockerfile, relative to the current directory')
    .option('--build-arg <name=value>', 'a build argument (repeatable)', collect, [])
    .option(
      '-e, --env <name=value>',
      'an environment variable for the job (repeatable)',
      collect,
      [],
    )
    .option('-c, --config <file>', 'config file (default: ~/.config/wandb/launch-config.yaml)')
    .option('-n, --namespace <ns>', NAMESPACE_OPTION_HELP)
    // Gone: a job runs where it is created. Kept hidden only to say so instead of "unknown option".
    .addOption(new Option('--run-namespace <ns>').hideHelp())
    .option('--name <name>', 'the LaunchJob name (default: generated from "job-")')
    .option('--pvc-mount-path <dir>', 'where the pvc:// context store is mounted here')
    .option('--json', 'print the created LaunchJob as JSON')
    .addHelpText(
      'after',
      '\nThe context is packed as the build command sends it (.dockerignore applies) and stored\n' +
        'under contexts/<source hash>.tar.gz, so the same source is uploaded once. Stored contexts\n' +
        'are written once: when the key exists, the stored archive is read and its sha256 goes into\n' +
        'the job (spec.source.context.digest); the agent then builds it only if it unpacks to this\n' +
        'source. A context this command uploads is deleted with its job; one it reused is not.\n' +
        'The job runs in the namespace it is created in: one of the kubernetes.target-namespaces\n' +
        "the agent serves, never the agent's own (kubernetes.namespace). Example:\n" +
        '  launch-agent submit ./train -n team-a --queue gpu -- python train.py --epochs 3\n' +
        'See docs/agent.md.',
    )
    .action(async (path: string | undefined, command: string[], options: SubmitOptions) => {
      const runtime = await loadRuntime();
      const {
        LaunchJobClient,
        checkGitSource,
        createBuildPlan,
        contextUploadMetadata,
        createContextTar,
        newUploadToken,
        parallelGzip,
        selectContextStore,
      } = runtime;
      if (options.runNamespace !== undefined) {
        throw new UsageError(
          `--run-namespace is gone: a LaunchJob runs in the namespace it is created in; pass -n ${options.runNamespace} to create it there`,
        );
      }
      const remote = options.image ?? options.git;
      if (options.image && options.git) throw new UsageError('give --image or --git, not both');
      if (options.ref && !options.git) throw new UsageError('--ref goes with --git');
      if (remote && path) {
        // With --image or --git the first word after the options is part of the command.
        command = [path, ...command];
        path = undefined;
      }
      if (!remote && !path) throw new UsageError('give a context PATH, --image or --git');
      const loaded = await loadConfig({ configPath: options.config });
      out.problems([], loaded.warnings);
      const { settings } = loaded;
      const queue = options.queue ?? settings.queues[0]!;
      const kubeConfig = await kubeConfigFor('submit');
      const namespace = tenantNamespace({
        runtime,
        kubeConfig,
        settings,
        given: options.namespace,
        command: 'submit',
        out,
      });
      const spec: LaunchJobSpec = { queue, source: {} };
      if (options.image) {
        spec.source.image = options.image;
      } else if (options.git) {
        checkGitSource({ url: options.git, ...(options.ref ? { ref: options.ref } : {}) });
        spec.source.git = { url: options.git, ...(options.ref ? { ref: options.ref } : {}) };
        if (options.dockerfile) spec.dockerfile = options.dockerfile;
        const buildArgs = parseBuildArgs(options.buildArg);
        if (Object.keys(buildArgs).length > 0) spec.buildArgs = buildArgs;
      } else {
        const store = await selectContextStore(settings, {
          ...(options.pvcMountPath ? { pvcMountPath: options.pvcMountPath } : {}),
        });
        if (!store) {
          throw new UsageError(
            'submitting a context needs builder.build-context-store in the config (or use --image)',
          );
        }
        const buildArgs = parseBuildArgs(options.buildArg);
        const plan = await createBuildPlan({
          contextDir: path!,
          ...(options.dockerfile ? { dockerfile: options.dockerfile } : {}),
          buildArgs,
          ...(settings.builder.platform ? { platform: settings.builder.platform } : {}),
        });
        const key = `contexts/${plan.tag}.tar.gz`;
        const context = createContextTar(plan);
        const uploaded = await uploadOnce({
          store,
          key,
          archive: () => parallelGzip(context.stream),
          namespace,
          progress: progressReporter(out),
          newUploadToken,
          contextUploadMetadata,
        });
        if (uploaded.uploadToken) {
          out.note(`uploaded ${plan.stats.files} files to ${store.location} as ${key}`);
        } else {
          context.stream.destroy();
          out.note(
            `context ${key} is already in ${store.location} (${uploaded.digest}); the agent builds it only if it unpacks to this source`,
          );
        }
        spec.source.context = { key, ...uploaded };
        spec.dockerfile = context.dockerfileName;
        if (Object.keys(buildArgs).length > 0) spec.buildArgs = buildArgs;
      }
      const env = parseEnv(options.env);
      if (command.length > 0 || env.length > 0) {
        spec.run = {
          ...(command.length > 0 ? { args: command } : {}),
          ...(env.length > 0 ? { env } : {}),
        };
      }
      const created = await new LaunchJobClient(kubeConfig).create(
        namespace,
        options.name ? { name: options.name } : { generateName: 'job-' },
        spec,
      );
      if (options.json) out.line(JSON.stringify(created));
      else out.line(`launchjob/${created.metadata.name} created in ${namespace} (queue ${queue})`);
      process.exitCode = EXIT.ok;
    });
}
