// The LaunchJob status the agent writes at each step, and the one place it is written. Every
// write carries the resourceVersion the agent read, so a write based on a stale copy is refused
// (409) and the reconcile that made it simply runs again on the fresh copy.
import { LaunchJobClient } from '../kubernetes/launchjob-client.js';
import {
  cachedLaunchJob,
  setCondition,
  type CachedLaunchJob,
  type LaunchJobPhase,
  type LaunchJobStatus,
} from '../kubernetes/launchjob-types.js';
import { redactText } from './agent-log.js';

const MESSAGE_LIMIT = 4000;
/** Of a longer message, this much of its start is kept (what failed); the rest of the limit goes to its end. */
const MESSAGE_HEAD = 1000;

/**
 * A status message: secrets removed, bounded (the whole object must stay well under 1.5 MB). A
 * longer one keeps its start (what failed) and its end (a build log's last lines say why), with
 * a marker of how much was cut between them.
 */
export function statusMessage(error: unknown): string {
  const text = redactText(error instanceof Error ? error.message : String(error));
  if (text.length <= MESSAGE_LIMIT) return text;
  const cut = `\n[... ${text.length - MESSAGE_LIMIT} characters cut ...]\n`;
  const tail = MESSAGE_LIMIT - MESSAGE_HEAD - cut.length;
  return `${text.slice(0, MESSAGE_HEAD)}${cut}${text.slice(text.length - tail)}`;
}

export type ClaimKind = 'new' | 'restart' | 'takeover';

export function claimedStatus(
  job: CachedLaunchJob,
  agent: string,
  kind: ClaimKind,
  now: Date,
): LaunchJobStatus {
  const previous = job.status?.agent;
  const { heartbeatTime: _legacy, ...status } = job.status ?? {};
  return {
    ...status,
    phase: status.phase ?? 'Pending',
    agent,
    claimedTime: now.toISOString(),
    conditions: setCondition(
      status.conditions,
      {
        type: 'Claimed',
        status: 'True',
        reason:
          kind === 'takeover'
            ? 'ResumedFromStaleAgent'
            : kind === 'restart'
              ? 'ResumedAfterRestart'
              : 'Claimed',
        message:
          kind === 'takeover'
            ? `claimed by ${agent} after the Lease of ${previous} expired`
            : `claimed by ${agent}`,
      },
      now,
    ),
  };
}

export function buildingStatus(job: CachedLaunchJob, what: string, now: Date): LaunchJobStatus {
  const status = job.status ?? {};
  return {
    ...status,
    phase: 'Building',
    conditions: setCondition(
      status.conditions,
      { type: 'Built', status: 'Unknown', reason: 'Building', message: `building ${what}` },
      now,
    ),
  };
}

export interface RunStarted {
  image: string;
  runJobName: string;
  runJobNamespace: string;
  imageStatus?: LaunchJobStatus['imageStatus'];
  /** The manifest digest the run Job's image is pinned to. */
  digest?: string;
  /** Why a prebuilt image runs by tag (no digest could be resolved). */
  pinNote?: string;
  buildDurationSeconds?: number;
}

function builtReason(run: RunStarted): string {
  if (run.imageStatus === 'built') return 'Built';
  if (run.imageStatus === 'reused') return 'ImageExists';
  return run.pinNote ? 'PrebuiltByTag' : 'Prebuilt';
}

export function runningStatus(job: CachedLaunchJob, run: RunStarted, now: Date): LaunchJobStatus {
  const status = job.status ?? {};
  let conditions = status.conditions;
  if (run.imageStatus) {
    conditions = setCondition(
      conditions,
      {
        type: 'Built',
        status: 'True',
        reason: builtReason(run),
        message: run.pinNote
          ? `${run.image} ${redactText(run.pinNote)}`
          : `${run.image}${run.digest && !run.image.includes('@') ? `@${run.digest}` : ''}`,
      },
      now,
    );
  }
  return {
    ...status,
    ...(run.imageStatus ? { imageStatus: run.imageStatus } : {}),
    ...(run.digest ? { digest: run.digest } : {}),
    ...(run.buildDurationSeconds !== undefined
      ? { buildDurationSeconds: run.buildDurationSeconds }
      : {}),
    phase: 'Running',
    image: run.image,
    runJobName: run.runJobName,
    runJobNamespace: run.runJobNamespace,
    startTime: status.startTime ?? now.toISOString(),
    conditions: setCondition(
      conditions,
      {
        type: 'Running',
        status: 'True',
        reason: 'RunJobCreated',
        message: `${run.runJobNamespace}/${run.runJobName}`,
      },
      now,
    ),
  };
}

/**
 * The run Job exists but is suspended (Kueue has not admitted it): the job waits, phase Pending,
 * its Running condition False with why; startTime is set only once the Job runs.
 */
export function waitingStatus(
  job: CachedLaunchJob,
  run: RunStarted,
  wait: { reason: string; message: string },
  now: Date,
): LaunchJobStatus {
  const { startTime: _notYet, ...running } = runningStatus(job, run, now);
  return {
    ...running,
    ...(job.status?.startTime ? { startTime: job.status.startTime } : {}),
    phase: 'Pending',
    conditions: setCondition(
      running.conditions,
      { type: 'Running', status: 'False', reason: wait.reason, message: wait.message },
      now,
    ),
  };
}

export function finishedStatus(
  job: CachedLaunchJob,
  phase: Extract<LaunchJobPhase, 'Succeeded' | 'Failed' | 'Cancelled'>,
  reason: string,
  message: string,
  now: Date,
): LaunchJobStatus {
  const status = job.status ?? {};
  return {
    ...status,
    phase,
    message,
    completionTime: now.toISOString(),
    conditions: setCondition(
      setCondition(status.conditions, { type: 'Running', status: 'False', reason, message }, now),
      { type: phase, status: 'True', reason, message },
      now,
    ),
  };
}

/** Handed back on shutdown: no agent, back to Pending unless its run Job exists. */
export function releasedStatus(job: CachedLaunchJob, agent: string, now: Date): LaunchJobStatus {
  const { agent: _agent, heartbeatTime: _legacy, ...rest } = job.status ?? {};
  return {
    ...rest,
    phase: rest.runJobName ? 'Running' : 'Pending',
    conditions: setCondition(
      rest.conditions,
      { type: 'Claimed', status: 'False', reason: 'AgentShutdown', message: `${agent} shut down` },
      now,
    ),
  };
}

function newer(a: CachedLaunchJob, b: CachedLaunchJob): boolean {
  const x = Number(a.metadata.resourceVersion);
  const y = Number(b.metadata.resourceVersion);
  return Number.isFinite(x) && Number.isFinite(y) && x > y;
}

/**
 * Status writes, and what this agent wrote last per job. Until the watch delivers the result
 * of a write, the copy the write returned is the freshest view there is: reading it spares a
 * reconcile a certain conflict (client-go calls this a mutation cache).
 */
export class StatusWriter {
  private readonly written = new Map<string, CachedLaunchJob>();
  /** Status writes made (the scale benchmark counts API writes with it). */
  writes = 0;

  constructor(private readonly client: LaunchJobClient) {}

  /** The freshest copy of `observed`: the cached one, or what this agent wrote since. */
  freshest(key: string, observed: CachedLaunchJob): CachedLaunchJob {
    const mine = this.written.get(key);
    if (!mine || mine.metadata.uid !== observed.metadata.uid || !newer(mine, observed)) {
      if (mine) this.written.delete(key);
      return observed;
    }
    return mine;
  }

  /** Writes the status; resolves with the job as written, trimmed as the cache keeps it. */
  async write(
    key: string,
    job: CachedLaunchJob,
    status: LaunchJobStatus,
  ): Promise<CachedLaunchJob> {
    const updated = cachedLaunchJob(await this.client.replaceStatus(job, status));
    this.writes += 1;
    this.written.set(key, updated);
    return updated;
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}
