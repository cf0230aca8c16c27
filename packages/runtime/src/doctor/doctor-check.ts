/** One preflight check's outcome, as `launch-agent doctor` prints it. */
export interface DoctorCheck {
  /** Stable identifier: registry.reachable, registry.push, registry.tag-mutability, context-store.write, kubernetes.access, docker.engine. */
  id: string;
  ok: boolean;
  /** True when the check does not apply to this config or place; a skipped check is ok. */
  skipped?: boolean;
  /** True when the check passed with something to improve (`fix` says what); a warning is ok. */
  warning?: boolean;
  /** What was checked and what was found, in one line. */
  summary: string;
  /** What to do about a failure. */
  fix?: string;
}

export function passed(id: string, summary: string): DoctorCheck {
  return { id, ok: true, summary };
}

export function failed(id: string, summary: string, fix: string): DoctorCheck {
  return { id, ok: false, summary, fix };
}

export function warned(id: string, summary: string, fix: string): DoctorCheck {
  return { id, ok: true, warning: true, summary, fix };
}

export function skipped(id: string, summary: string): DoctorCheck {
  return { id, ok: true, skipped: true, summary };
}

/** Errors from registries and stores carry `hint`; their message ends with it, so split it off. */
export function failureFrom(id: string, doing: string, error: unknown): DoctorCheck {
  const hint = (error as { hint?: unknown }).hint;
  let message = error instanceof Error ? error.message : String(error);
  if (typeof hint === 'string' && message.endsWith(`. ${hint}`)) {
    message = message.slice(0, -(hint.length + 2));
  }
  return failed(
    id,
    `${doing}: ${message}`,
    typeof hint === 'string' ? hint : 'See docs/doctor.md for this check',
  );
}
