// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
// - a candidate takes the lease when it is free or its holder has not renewed it for
//   leaseDuration, measured on *our* clock from when we last saw the record change (clocks
//   of different machines are never compared);
// - the leader renews every retryPeriod and steps down if it could not renew for renewDeadline;
// - every write is a PUT with the resourceVersion read, so two candidates cannot both win;
// - on a clean stop the leader releases the lease so a standby takes over at once.

import type { KubeClient } from "../kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../kube/errors.ts";
import type { KubeObject } from "../kube/object.ts";
import { Resources } from "../kube/resource.ts";
import type { Logger } from "../log.ts";
import { microTime } from "../status/conditions.ts";

export interface LeaderElectionOptions {
  leaseName: string;
  namespace: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The last record we saw and when (our clock) it last changed. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private lastRenew = 0;
  /** The lease duration the current holder announced. */
  private observedDurationMs = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
  ) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader releases the lease first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      await this.release().catch((err) =>
        this.log.warn(
          { err: String(err) },
          "could not release the lease: the next leader takes over once it expires (nothing to do)",
        ),
      );
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.log.info({ lease: this.opts.leaseName, identity: this.opts.identity }, "became leader");
      this.callbacks.onStartedLeading();
    } else {
      const who = { lease: this.opts.leaseName, identity: this.opts.identity };
      if (this.stopped) this.log.info(who, "stopped leading (shutting down)");
      else {
        this.log.warn(
          who,
          "lost the lease (renewals failed or another replica holds it): this replica's controllers stop; if it repeats, check the API server's latency",
        );
      }
      this.callbacks.onStoppedLeading();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.debug({ err: String(err) }, "lease update failed");
      }
      if (ok) this.lastRenew = Date.now();
      if (this.leading && !ok && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeading(false);
      else if (ok) this.setLeading(true);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.nextTryInMs());
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * A candidate retries every retryPeriod (jittered so candidates spread out), but never later
   * than the moment the holder's lease runs out: failover then takes the lease duration plus
   * how late we saw the last renewal, not an extra retry period on top.
   */
  private nextTryInMs(): number {
    if (this.leading) return this.retryPeriodMs;
    const jittered = this.retryPeriodMs * (1 + Math.random() * 0.2);
    if (!this.observed || !this.observedDurationMs) return jittered;
    const expiresIn = this.observed.at + this.observedDurationMs - Date.now() + 50;
    return Math.max(50, Math.min(jittered, expiresIn));
  }

  private spec(existing?: Lease["spec"], transition = false): Lease["spec"] {
    const now = microTime();
    return {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      acquireTime: transition || !existing?.acquireTime ? now : existing.acquireTime,
      renewTime: now,
      leaseTransitions: (existing?.leaseTransitions ?? 0) + (transition ? 1 : 0),
    };
  }

  /** One round: returns whether we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { leaseName, namespace, identity } = this.opts;
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(Resources.Lease, leaseName, namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create<Lease>(Resources.Lease, {
          metadata: { name: leaseName, namespace },
          spec: this.spec(undefined, false),
        });
        this.observed = undefined;
        return true;
      } catch (createErr) {
        if (isAlreadyExists(createErr)) return false;
        throw createErr;
      }
    }
    const holder = lease.spec.holderIdentity ?? "";
    const renewTime = lease.spec.renewTime ?? "";
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    this.observedDurationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    const heldByOther = holder !== "" && holder !== identity;
    const expired = Date.now() - this.observed.at > this.observedDurationMs;
    if (heldByOther && !expired) return false;
    try {
      await this.client.replace<Lease>(Resources.Lease, {
        ...lease,
        spec: this.spec(lease.spec, holder !== identity),
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.client.get<Lease>(Resources.Lease, this.opts.leaseName, this.opts.namespace);
    if (lease.spec.holderIdentity !== this.opts.identity) return;
    await this.client.replace<Lease>(Resources.Lease, {
      ...lease,
      spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime() },
    });
  }
}
