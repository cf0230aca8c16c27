// Cancelling a job (spec.cancel, decide's `cancel` step): what is under way for it stops, then
// the job ends Cancelled. Its build is aborted (a kaniko build removes its Job, ConfigMap and
// stored context as it ends). Its run Job is deleted with Background propagation and a grace
// period of stopped_run_timeout, which is also the run pods' terminationGracePeriodSeconds: the
// run gets SIGTERM, then that many seconds before SIGKILL. The job ends Cancelled at once; the
// pods finish terminating on their own.
import type { CachedLaunchJob } from '../kubernetes/launchjob-types.js';
import type { AgentLogger } from './agent-log.js';
import type { Builds } from './builds.js';
import type { Step } from './decide.js';
import { runJobName } from './run-job-spec.js';
import type { RunJobs } from './run-jobs.js';

export interface CancelParts {
  builds: Pick<Builds, 'abort'>;
  runJobs: Pick<RunJobs, 'deleteOwned'>;
  stopGraceSeconds: number;
  log: AgentLogger;
}

/** Stops the job's build and run Job; a failed delete throws, and the reconcile is retried. */
export async function stopCancelled(
  parts: CancelParts,
  key: string,
  job: CachedLaunchJob,
  step: Extract<Step, { kind: 'cancel' }>,
): Promise<void> {
  if (step.abortBuild) parts.builds.abort(key, new Error('the LaunchJob was cancelled'));
  let runJobDeleted = false;
  if (step.deleteRunJob) {
    runJobDeleted = await parts.runJobs.deleteOwned(
      job.metadata.namespace!,
      runJobName(job),
      job.metadata.uid!,
      { gracePeriodSeconds: parts.stopGraceSeconds },
    );
  }
  parts.log.info('job cancelled', {
    job: key,
    buildAborted: step.abortBuild,
    runJobDeleted,
    ...(runJobDeleted ? { gracePeriodSeconds: parts.stopGraceSeconds } : {}),
  });
}
