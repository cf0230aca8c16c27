/** Exit codes of every `launch-agent` command. Documented in docs/cli.md. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** The config is invalid, a check failed, or the work (a build, a job) failed. */
  failure: 1,
  /** Usage error: unknown flag, missing argument, unreadable file. */
  usage: 2,
  /** Interrupted by SIGINT or SIGTERM before the work finished. */
  interrupted: 130,
} as const;

/** A command-line mistake: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT.usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
