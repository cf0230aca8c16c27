import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { kubeJsonRequest, microTime } from '../kubernetes/raw-request.js';
import {
  LAUNCHJOB_API_VERSION,
  LAUNCHJOB_KIND,
  type CachedLaunchJob,
} from '../kubernetes/launchjob-types.js';
import type { AgentLogger } from './agent-log.js';
import { redactText } from './agent-log.js';

/** Who writes the Events: `kubectl describe` shows it as the source. */
export const REPORTING_CONTROLLER = 'launch-agent.dev/agent';

/** The reasons the agent records, one per decision a user asks about. */
export type EventReason =
  | 'Claimed'
  | 'TakenOver'
  | 'ImageReused'
  | 'Prebuilt'
  | 'BuildStarted'
  | 'Built'
  | 'BuildFailed'
  | 'RunStarted'
  | 'RunSuspended'
  | 'Succeeded'
  | 'Failed'
  | 'Rejected'
  | 'Released'
  | 'Cancelled';

const WARNINGS = new Set<EventReason>(['BuildFailed', 'Failed', 'Rejected']);
const NOTE_LIMIT = 1024;

/**
 * Records events.k8s.io/v1 Events on LaunchJobs. Best effort, as client-go's recorder is: an
 * Event that cannot be written is logged at debug level and never fails the step it describes.
 */
export class EventRecorder {
  /** Events written (tests and the scale benchmark count API writes with it). */
  written = 0;

  constructor(
    private readonly kubeConfig: k8s.KubeConfig,
    private readonly instance: string,
    private readonly log: AgentLogger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  record(
    job: Pick<CachedLaunchJob, 'metadata'>,
    reason: EventReason,
    note: string,
    action = reason,
  ): void {
    const namespace = job.metadata.namespace!;
    const name = job.metadata.name!;
    const text = redactText(note);
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: microTime(this.now()),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance.slice(0, 128),
      action,
      reason,
      type: WARNINGS.has(reason) ? 'Warning' : 'Normal',
      note: text.length > NOTE_LIMIT ? `${text.slice(0, NOTE_LIMIT - 1)}…` : text,
      regarding: {
        apiVersion: LAUNCHJOB_API_VERSION,
        kind: LAUNCHJOB_KIND,
        namespace,
        name,
        uid: job.metadata.uid,
        resourceVersion: job.metadata.resourceVersion,
      },
    };
    kubeJsonRequest(
      this.kubeConfig,
      'POST',
      `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
      body,
    ).then(
      () => {
        this.written += 1;
      },
      (error: unknown) =>
        this.log.debug('could not record an Event', {
          job: `${namespace}/${name}`,
          reason,
          error: (error as Error).message,
        }),
    );
  }
}
