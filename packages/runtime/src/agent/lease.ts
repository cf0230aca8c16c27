import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kubernetes/kube-client.js';
import { kubeJsonRequest, microTime } from '../kubernetes/raw-request.js';
import { Informer } from '../kubernetes/informer.js';
import type { AgentLogger } from './agent-log.js';

/** Label on every agent Lease, so agents watch each other's and nothing else. */
export const LABEL_AGENT_LEASE = 'launch-agent.dev/agent-lease';

const NAME_MAX = 63;

interface RawLease {
  metadata?: Record<string, unknown>;
  spec?: Record<string, unknown>;
}

/** The Lease's name for an agent identity (a pod name, a hostname): a DNS label, stable. */
export function agentLeaseName(identity: string): string {
  const clean = identity
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 8);
  const base = `launch-agent-${clean}`.slice(0, NAME_MAX - hash.length - 1).replace(/-+$/, '');
  return `${base}-${hash}`;
}

export interface AgentLeaseOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  identity: string;
  /** How often the Lease is renewed. */
  renewMs: number;
  /** leaseDurationSeconds: how long after its last renewal an agent counts as gone. */
  durationMs: number;
  log: AgentLogger;
  now?: () => Date;
}

interface Observed {
  renewTime: string | undefined;
  /** Local time at which this renewal was first seen: immune to clock skew between agents. */
  observedAt: number;
  durationMs: number;
}

/**
 * One coordination.k8s.io/v1 Lease per agent, renewed on a timer: the only periodic write an
 * agent makes, however many jobs it runs. The same object tells every agent which of the others
 * are alive: a claim whose agent's Lease has not been renewed for its duration is taken over.
 * As in client-go's leader election, expiry is judged from when this agent saw the renewal,
 * not from the renewer's clock.
 */
export class AgentLease {
  readonly name: string;
  private readonly informer: Informer<k8s.V1Lease>;
  private readonly observed = new Map<string, Observed>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;
  private lastRenewed: number | undefined;
  private lease: RawLease | undefined;
  private failing = false;
  /** Lease writes made (create and renew). */
  writes = 0;
  private readonly now: () => Date;

  constructor(private readonly options: AgentLeaseOptions) {
    this.name = agentLeaseName(options.identity);
    this.now = options.now ?? (() => new Date());
    const labelSelector = `${LABEL_AGENT_LEASE}=true`;
    this.informer = new Informer<k8s.V1Lease>({
      kubeConfig: options.kubeConfig,
      path: `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases`,
      selector: { labelSelector },
      what: `agent Leases in ${options.namespace}`,
      log: options.log,
    });
    const see = (lease: k8s.V1Lease) => {
      const holder = lease.spec?.holderIdentity;
      if (!holder) return;
      const renewTime = lease.spec?.renewTime ? String(lease.spec.renewTime) : undefined;
      const previous = this.observed.get(holder);
      if (previous && previous.renewTime === renewTime) return;
      this.observed.set(holder, {
        renewTime,
        observedAt: Date.now(),
        durationMs: (lease.spec?.leaseDurationSeconds ?? options.durationMs / 1000) * 1000,
      });
    };
    this.informer.on({
      add: see,
      update: (_previous, lease) => see(lease),
      delete: (lease) => {
        const holder = lease.spec?.holderIdentity;
        if (holder) this.observed.delete(holder);
      },
    });
  }

  /** Starts watching the agents' Leases and renewing this one. */
  start(onChange?: () => void): void {
    if (onChange) {
      this.informer.on({ add: onChange, update: onChange, delete: onChange });
    }
    this.informer.start();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.renewMs);
    this.timer.unref();
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  informerState(): Informer<k8s.V1Lease> {
    return this.informer;
  }

  /** This agent's Lease was renewed within its duration: its claims are safe from takeover. */
  isHeld(): boolean {
    return (
      this.lastRenewed !== undefined && Date.now() - this.lastRenewed < this.options.durationMs
    );
  }

  /**
   * Milliseconds until the agent `identity` counts as gone (0 when it already does). Unknown
   * agents are judged from `since` (when their claim was made): a Lease created a moment ago
   * may not have reached this agent's watch yet.
   */
  expiresIn(identity: string, since: number | undefined): number {
    if (identity === this.options.identity) return Infinity;
    const seen = this.observed.get(identity);
    const now = Date.now();
    if (seen) return Math.max(0, seen.observedAt + seen.durationMs - now);
    if (since === undefined || Number.isNaN(since)) return 0;
    return Math.max(0, since + this.options.durationMs - now);
  }

  private tick(): void {
    // A slow API server must not pile up renewals.
    if (this.renewing || this.stopped) return;
    this.renewing = this.renew().finally(() => (this.renewing = undefined));
  }

  /**
   * Renews (or creates) the Lease. Failures are retried at the next tick. Raw JSON requests:
   * renewTime is a MicroTime, which the API server parses only with six fractional digits.
   */
  private async renew(): Promise<void> {
    const { namespace, identity, kubeConfig } = this.options;
    const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    const path = `${collection}/${this.name}`;
    const now = microTime(this.now());
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.round(this.options.durationMs / 1000)),
      renewTime: now,
    };
    try {
      if (!this.lease) {
        try {
          this.lease = (await kubeJsonRequest(kubeConfig, 'POST', collection, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.name, namespace, labels: { [LABEL_AGENT_LEASE]: 'true' } },
            spec: { ...spec, acquireTime: now },
          })) as RawLease;
        } catch (error) {
          if (!isConflict(error)) throw error;
          // Ours from before a restart (same identity): take it up again.
          const current = (await kubeJsonRequest(kubeConfig, 'GET', path)) as RawLease;
          this.lease = (await kubeJsonRequest(kubeConfig, 'PUT', path, {
            ...current,
            spec: { ...current.spec, ...spec, acquireTime: now },
          })) as RawLease;
        }
      } else {
        try {
          this.lease = (await kubeJsonRequest(kubeConfig, 'PUT', path, {
            ...this.lease,
            spec: { ...this.lease.spec, ...spec },
          })) as RawLease;
        } catch (error) {
          // Changed or deleted behind our back: start from what the server has next time.
          if (isConflict(error) || isNotFound(error)) this.lease = undefined;
          throw error;
        }
      }
      this.writes += 1;
      if (this.failing) {
        this.options.log.info('agent Lease renewed again', { lease: this.name });
        this.failing = false;
      }
      this.lastRenewed = Date.now();
    } catch (error) {
      (this.failing ? this.options.log.debug : this.options.log.warn)(
        'could not renew the agent Lease',
        { lease: `${namespace}/${this.name}`, error: (error as Error).message },
      );
      this.failing = true;
    }
  }

  /** Stops renewing; with `release`, deletes the Lease so others need not wait for it to expire. */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.informer.stop();
    await this.renewing;
    if (!release) return;
    try {
      await kubeJsonRequest(
        this.options.kubeConfig,
        'DELETE',
        `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases/${this.name}`,
      );
    } catch (error) {
      if (!isNotFound(error)) {
        this.options.log.warn('could not delete the agent Lease', {
          error: (error as Error).message,
        });
      }
    }
  }
}
