// The step table, as a pure function: from what is observed of one LaunchJob (the job, its
// build, its run Job, the holder's Lease, the policies) to the one next step. No I/O, no clock:
// reconcile.ts gathers the observations and carries the step out (status writes, Events,
// metrics, logs). When a step needs something not observed yet (the run Job, the whole spec,
// a namespace's labels), decide asks for it with an `observe` step and is called again.
//
//   gone                      → forget it; remove its run Job (proved its by uid)
//   not one of my queues      → ignore
//   finished                  → delete it when its TTL has run out, else look again then
//   cancel requested          → stop its build or run Job, then Cancelled (cancel.ts); a live
//                               other holder does that itself
//   namespace or queue refused→ Failed with the reason, no slot taken (run-policy.ts)
//   held by a live agent      → look again when that agent's Lease would expire
//   unclaimed / agent gone    → claim it (a free slot under max_jobs, a write one agent wins)
//   held here, run Job made   → mirror it: Pending while Kueue holds it, Running, its end
//   held here, build running  → wait for it to settle
//   held here, spec refused   → Failed with the policy's reason (checked on every path)
//   held here, prebuilt image → run it (create the run Job)
//   held here, needs a build  → Building, start it; settled: run its image, or Failed
//
// Nothing in a LaunchJob's status is trusted to name what to act on: the run Job is the one of
// the job's deterministic name in its own namespace that carries the job's uid.
import type { V1Job } from '@kubernetes/client-node';
import type { AgentSettings } from '@launch-agent/config';
import {
  cancelRequest,
  isTerminal,
  type CachedLaunchJob,
  type LaunchJob,
  type LaunchJobCancel,
} from '../kubernetes/launchjob-types.js';
import type { BuildOutcome } from './builds.js';
import type { EventReason } from './events.js';
import { failureReason } from './job-errors.js';
import { runJobWaiting, type RunJobWait } from './run-job-spec.js';
import { runOutcome } from './run-jobs.js';
import { statusMessage } from './status.js';
import {
  namespaceViolation,
  needsNamespaceLabels,
  queueViolation,
  runPolicyViolations,
  type PolicyViolation,
} from './run-policy.js';

/** What reconcile has observed of one job; the optional parts are read when decide asks. */
export interface Observed {
  /** This agent's identity (status.agent of the jobs it holds). */
  identity: string;
  settings: Pick<
    AgentSettings,
    'queues' | 'queuePolicies' | 'runTemplates' | 'secureMode' | 'builder'
  >;
  agentNamespace: string;
  servedNamespaces: readonly string[];
  stopping: boolean;
  /** The job as cached (or as this agent last wrote it); undefined once deleted. */
  job: CachedLaunchJob | undefined;
  /** When deleted: its last state, and whether this agent's retention deleted it. */
  tombstone?: CachedLaunchJob | undefined;
  removedByRetention?: boolean;
  /** Finished: ms until its TTL runs out (undefined: kept for ever). */
  ttlExpiresInMs?: number | undefined;
  /** Held by another agent: ms until that agent's Lease would expire (<= 0: gone). */
  holderLeaseExpiresInMs?: number;
  /** The job's build in this agent, if any. */
  build?: { settled: boolean; outcome?: BuildOutcome | undefined } | undefined;
  /** Read on request: the labels of the job's namespace. */
  namespaceLabels?: Record<string, string>;
  /** Read on request: the run Job of the job's deterministic name (null: there is none). */
  runJob?: V1Job | null;
  /** Read on request: the whole job at the cached version (null: gone or the cache is behind). */
  whole?: LaunchJob | null;
  /** Checks a git source the way the agent fetches it; throws a refusal with a reason. */
  checkGitSource: (git: { url: string; ref?: string }) => void;
}

/** How a job ends. */
export interface Ending {
  phase: 'Succeeded' | 'Failed' | 'Cancelled';
  reason: string;
  message: string;
  event: EventReason;
}

/** Where a run's image comes from. */
export type RunImage =
  | { from: 'prebuilt'; image: string }
  | { from: 'build'; outcome: Required<Pick<BuildOutcome, 'report'>> & BuildOutcome };

export type Step =
  | { kind: 'observe'; what: 'namespaceLabels' | 'runJob' | 'whole' }
  | { kind: 'ignore' }
  | { kind: 'forget'; removeLeftoversOf?: CachedLaunchJob }
  | { kind: 'keepFinished'; requeueAfterMs?: number }
  | { kind: 'expire' }
  | { kind: 'refuse'; violations: PolicyViolation[] }
  | { kind: 'waitForHolder'; holder: string; requeueAfterMs: number }
  | { kind: 'claim'; previous?: string }
  | { kind: 'wait' }
  | { kind: 'fail'; ending: Ending; clearBuild: boolean }
  | { kind: 'startBuild'; job: LaunchJob; announce: boolean }
  | { kind: 'run'; job: LaunchJob; image: RunImage }
  | { kind: 'mirror'; wait: RunJobWait | undefined }
  | { kind: 'finish'; ending: Ending }
  | { kind: 'cancel'; ending: Ending; abortBuild: boolean; deleteRunJob: boolean };

const inQueues = (o: Observed, job: CachedLaunchJob) => o.settings.queues.includes(job.spec?.queue);

export function decide(o: Observed): Step {
  const { job } = o;
  if (!job) return gone(o);
  if (!inQueues(o, job)) return { kind: 'ignore' };
  if (isTerminal(job)) {
    if (o.ttlExpiresInMs === undefined) return { kind: 'keepFinished' };
    if (o.ttlExpiresInMs > 0) return { kind: 'keepFinished', requeueAfterMs: o.ttlExpiresInMs };
    return { kind: 'expire' };
  }
  const cancel = cancelRequest(job);
  if (cancel) return cancelled(o, job, cancel);
  const outside = namespaceViolation(job.metadata.namespace!, o.servedNamespaces, o.agentNamespace);
  if (outside) return { kind: 'refuse', violations: [outside] };
  const policy = o.settings.queuePolicies[job.spec.queue];
  if (needsNamespaceLabels(policy) && !o.namespaceLabels) {
    return { kind: 'observe', what: 'namespaceLabels' };
  }
  const unoffered = queueViolation(
    job.spec.queue,
    job.metadata.namespace!,
    policy,
    o.namespaceLabels,
  );
  if (unoffered) return { kind: 'refuse', violations: [unoffered] };
  const holder = job.status?.agent;
  if (holder !== o.identity) {
    if (holder && (o.holderLeaseExpiresInMs ?? 0) > 0) {
      return { kind: 'waitForHolder', holder, requeueAfterMs: o.holderLeaseExpiresInMs! + 250 };
    }
    if (o.stopping) return { kind: 'wait' };
    return holder ? { kind: 'claim', previous: holder } : { kind: 'claim' };
  }
  if (o.stopping) return { kind: 'wait' };
  return held(o, job);
}

/**
 * Cancel requested: whoever holds the job ends it. A run Job may exist once the job was ever
 * claimed (a crash can come between creating it and saying so in status), so it is looked for
 * by its deterministic name and uid whenever the job has had an agent.
 */
function cancelled(o: Observed, job: CachedLaunchJob, cancel: LaunchJobCancel): Step {
  const holder = job.status?.agent;
  if (holder && holder !== o.identity && (o.holderLeaseExpiresInMs ?? 0) > 0) {
    return { kind: 'waitForHolder', holder, requeueAfterMs: o.holderLeaseExpiresInMs! + 250 };
  }
  if (o.stopping) return { kind: 'wait' };
  const status = job.status ?? {};
  const step = status.runJobName
    ? status.phase === 'Pending'
      ? 'waiting for admission'
      : 'running'
    : o.build || status.phase === 'Building'
      ? 'building'
      : holder
        ? 'claimed'
        : 'unclaimed';
  const who = [
    cancel.requestedBy ? ` by ${cancel.requestedBy}` : '',
    cancel.requestedAt ? ` at ${cancel.requestedAt}` : '',
  ].join('');
  return {
    kind: 'cancel',
    ending: {
      phase: 'Cancelled',
      reason: 'CancelRequested',
      message: `cancelled while ${step}${who}${cancel.reason ? `: ${cancel.reason}` : ''}`,
      event: 'Cancelled',
    },
    abortBuild: o.build !== undefined,
    deleteRunJob: holder !== undefined || status.runJobName !== undefined,
  };
}

function gone(o: Observed): Step {
  const last = o.tombstone;
  if (last && o.removedByRetention) return { kind: 'ignore' };
  const served = last && inQueues(o, last) && o.servedNamespaces.includes(last.metadata.namespace!);
  return served ? { kind: 'forget', removeLeftoversOf: last } : { kind: 'forget' };
}

/** A job this agent holds: the next step from its run Job, its build and its spec. */
function held(o: Observed, job: CachedLaunchJob): Step {
  if (job.status?.runJobName) {
    if (o.runJob === undefined) return { kind: 'observe', what: 'runJob' };
    return mirror(job, o.runJob ?? undefined);
  }
  if (o.build && !o.build.settled) return { kind: 'wait' };
  if (o.whole === undefined) return { kind: 'observe', what: 'whole' };
  if (o.whole === null) return { kind: 'wait' };
  const whole = o.whole;
  const refused = specRefusal(o, whole);
  if (refused) return { kind: 'fail', ending: refused, clearBuild: false };
  const source = whole.spec.source;
  if (source.image)
    return { kind: 'run', job: whole, image: { from: 'prebuilt', image: source.image } };
  if (!o.build)
    return { kind: 'startBuild', job: whole, announce: job.status?.phase !== 'Building' };
  const { outcome } = o.build;
  if (outcome?.error !== undefined || !outcome?.report) {
    return {
      kind: 'fail',
      ending: {
        phase: 'Failed',
        reason: failureReason(outcome?.error),
        message: statusMessage(outcome?.error),
        event: 'BuildFailed',
      },
      clearBuild: true,
    };
  }
  return {
    kind: 'run',
    job: whole,
    image: { from: 'build', outcome: { ...outcome, report: outcome.report } },
  };
}

/** What the job's spec asks that its namespace, queue or the agent cannot do. */
function specRefusal(o: Observed, job: LaunchJob): Ending | undefined {
  const refuse = (reason: string, text: string): Ending => ({
    phase: 'Failed',
    reason,
    message: text,
    event: 'Rejected',
  });
  const violations = runPolicyViolations({
    job,
    policy: o.settings.queuePolicies[job.spec.queue],
    template: o.settings.runTemplates[job.spec.queue],
    secureMode: o.settings.secureMode,
  });
  if (violations.length > 0) {
    return refuse(
      violations[0]!.reason,
      violations.map((v) => `${v.field}: ${v.message}`).join('; '),
    );
  }
  const source = job.spec.source;
  if (source.image) return undefined;
  if (!source.context && !source.git) {
    return refuse('InvalidSource', 'spec.source has none of image, context, git');
  }
  if (source.git) {
    try {
      o.checkGitSource(source.git);
    } catch (error) {
      return refuse(failureReason(error), statusMessage(error));
    }
  }
  if (!o.settings.builder.destination) {
    return refuse(
      'NoDestination',
      'the job needs a build but the agent config has no builder.destination',
    );
  }
  return undefined;
}

/** The run Job's state, mirrored: waiting, running, or its end. */
function mirror(job: CachedLaunchJob, runJob: V1Job | undefined): Step {
  const outcome = runOutcome(runJob, job.metadata.uid!);
  const phase = job.status?.phase;
  const failed = (reason: string, text: string): Step => ({
    kind: 'finish',
    ending: { phase: 'Failed', reason, message: text, event: 'Failed' },
  });
  switch (outcome.state) {
    case 'running':
      return phase === 'Running' ? { kind: 'wait' } : { kind: 'mirror', wait: undefined };
    case 'suspended':
      return phase === 'Pending'
        ? { kind: 'wait' }
        : { kind: 'mirror', wait: runJobWaiting(runJob!) };
    case 'missing':
      return failed('RunJobDeleted', 'the run Job was deleted before it finished');
    case 'foreign':
      return failed(
        'RunJobNameTaken',
        `a Job ${runJob!.metadata?.namespace}/${runJob!.metadata?.name} exists that does not belong to this LaunchJob`,
      );
    case 'succeeded':
      return {
        kind: 'finish',
        ending: {
          phase: 'Succeeded',
          reason: 'Completed',
          message: outcome.message,
          event: 'Succeeded',
        },
      };
    case 'failed':
      return failed(outcome.reason, outcome.message);
  }
}
