import { formatProblem, redactText, type Problem } from '@launch-agent/config';

/** Writes human-readable output, coloured only on a terminal and never when NO_COLOR is set. */
export class Output {
  readonly color: boolean;
  constructor(
    readonly stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
    readonly stderr: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.color = Boolean(this.stderr.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  }

  private paint(code: number, text: string): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  /** A result line on stdout. */
  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** A diagnostic line on stderr, with secrets redacted: errors may quote what the user typed. */
  note(text: string): void {
    this.stderr.write(`${redactText(text)}\n`);
  }

  error(text: string): void {
    this.note(`${this.paint(31, 'error:')} ${text}`);
  }

  warning(text: string): void {
    this.note(`${this.paint(33, 'warning:')} ${text}`);
  }

  problems(errors: Problem[], warnings: Problem[]): void {
    for (const problem of errors) this.error(formatProblem(problem));
    for (const problem of warnings) this.warning(formatProblem(problem));
  }

  check(ok: boolean, text: string): void {
    this.line(`${ok ? this.paint(32, '✓') : this.paint(31, '✗')} ${text}`);
  }
}
