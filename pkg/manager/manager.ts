// The manager runs a set of controllers and runnables in one process: shared informers,
// Lease leader election (only the leader reconciles; standbys keep warm caches), the metrics
// and probe endpoints, and a graceful shutdown that drains in-flight reconciles, then stops
// every runnable (which waits for its own in-flight work).

import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import { hostname } from "node:os";
import { collectDefaultMetrics, Registry } from "prom-client";
import { SharedInformerFactory } from "../cache/factory.ts";
import { Controller } from "../controller/controller.ts";
import type { KubeClient } from "../kube/client.ts";
import { type Logger, rootLogger } from "../log.ts";
import { leaderElectionGauge, restClientRequests } from "../metrics/registry.ts";
import { type WebhookOptions, WebhookServer } from "../webhook/server.ts";
import { boundPort, listen, metricsHandler, probeHandler } from "./http-server.ts";
import { type LeaderElectionOptions, LeaderElector } from "./leader-election.ts";
import type { Runnable } from "./runnable.ts";

export interface ManagerOptions {
  client: KubeClient;
  /** Lease settings; false runs every controller at once (a single replica). */
  leaderElection?: false | (Partial<LeaderElectionOptions> & { namespace: string });
  /** Where /metrics listens ("" to disable). */
  metricsBindAddress?: string;
  /** Where /healthz and /readyz listen ("" to disable). */
  healthProbeBindAddress?: string;
  /** How long shutdown waits for in-flight reconciles. */
  gracefulShutdownMs?: number;
  /** What to do when leadership is lost; default: exit the process, as controller-runtime does,
   * since another replica is already acting on the same objects. */
  onLostLeadership?: () => void;
  logger?: Logger;
  informerIdleTimeoutMs?: number;
  /** The admission webhook server's settings (used when a module registers a webhook). */
  webhook?: WebhookOptions;
}

export const DEFAULT_LEASE_NAME = "centaurus-manager";

export class Manager {
  readonly client: KubeClient;
  readonly registry = new Registry();
  readonly factory: SharedInformerFactory;
  readonly log: Logger;
  readonly identity: string;
  private readonly controllers: Controller[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly startedRunnables: Runnable[] = [];
  private readonly opts: ManagerOptions;
  private elector: LeaderElector | undefined;
  private webhookServer: WebhookServer | undefined;
  private servers: http.Server[] = [];
  private metricsServer: http.Server | undefined;
  private probeServer: http.Server | undefined;
  private controllersRunning = false;
  private started = false;
  private stopping = false;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.client = opts.client;
    this.log = opts.logger ?? rootLogger;
    this.identity = `${hostname()}_${randomUUID()}`;
    this.factory = new SharedInformerFactory(opts.client, {
      idleTimeoutMs: opts.informerIdleTimeoutMs,
      logger: this.log,
    });
    collectDefaultMetrics({ register: this.registry });
    const requests = restClientRequests(this.registry);
    opts.client.observe((method, code, host) => requests.inc({ method, code: String(code), host }));
  }

  /**
   * The one admission webhook server (created and added on first use): every replica serves it;
   * the leader writes its ValidatingWebhookConfiguration.
   */
  get webhooks(): WebhookServer {
    if (!this.webhookServer) {
      this.webhookServer = new WebhookServer(this.client, { logger: this.log, ...this.opts.webhook });
      this.add(this.webhookServer).add(this.webhookServer.registrar);
    }
    return this.webhookServer;
  }

  /** Adds a controller (wired to the shared informers now) or a runnable. */
  add(item: Controller | Runnable): this {
    if (this.started) throw new Error("add controllers and runnables before Manager.start()");
    if (item instanceof Controller) {
      this.controllers.push(item);
      item.setup(this.factory, this.registry);
    } else {
      this.runnables.push(item);
    }
    return this;
  }

  private async startRunnables(leader: boolean): Promise<void> {
    for (const r of this.runnables) {
      if ((r.needLeaderElection ?? true) !== leader || this.startedRunnables.includes(r)) continue;
      this.startedRunnables.push(r);
      await r.start();
    }
  }

  get metricsPort(): number | undefined {
    return this.metricsServer ? boundPort(this.metricsServer) : undefined;
  }

  get healthPort(): number | undefined {
    return this.probeServer ? boundPort(this.probeServer) : undefined;
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.controllersRunning;
  }

  /** Ready once every informer cache has synced. */
  ready(): boolean {
    return this.started && !this.stopping && this.factory.hasSynced();
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const metricsAddr = this.opts.metricsBindAddress ?? ":8080";
    const probeAddr = this.opts.healthProbeBindAddress ?? ":8081";
    if (metricsAddr) {
      this.metricsServer = await listen(metricsAddr, metricsHandler(this.registry));
      this.servers.push(this.metricsServer);
    }
    if (probeAddr) {
      this.probeServer = await listen(
        probeAddr,
        probeHandler({ healthy: () => !this.stopping, ready: () => this.ready() }),
      );
      this.servers.push(this.probeServer);
    }
    this.factory.start();
    await this.startRunnables(false);
    const le = this.opts.leaderElection;
    const gauge = leaderElectionGauge(this.registry);
    if (le === false || le === undefined) {
      await this.factory.waitForSync();
      await this.startControllers();
      return;
    }
    const leaseName = le.leaseName ?? DEFAULT_LEASE_NAME;
    gauge.set({ name: leaseName }, 0);
    this.elector = new LeaderElector(
      this.client,
      { ...le, leaseName, identity: le.identity ?? this.identity },
      {
        onStartedLeading: () => {
          gauge.set({ name: leaseName }, 1);
          void this.factory.waitForSync().then(async () => {
            if (!this.stopping) await this.startControllers();
          });
        },
        onStoppedLeading: () => {
          gauge.set({ name: leaseName }, 0);
          if (this.stopping) return;
          this.log.error("leadership lost");
          (this.opts.onLostLeadership ?? (() => process.exit(1)))();
        },
      },
      this.log,
    );
    this.elector.start();
  }

  private async startControllers(): Promise<void> {
    if (this.controllersRunning) return;
    this.controllersRunning = true;
    this.log.info({ controllers: this.controllers.map((c) => c.name) }, "starting controllers");
    await this.startRunnables(true);
    for (const c of this.controllers) c.start();
  }

  /** Graceful stop: drain reconciles, stop runnables, release the lease, stop informers, close endpoints. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const drainMs = this.opts.gracefulShutdownMs ?? 30_000;
    await Promise.all(this.controllers.map((c) => c.stop(drainMs)));
    // Runnables stop after the controllers that feed them, in reverse order of start.
    for (const r of [...this.startedRunnables].reverse()) {
      await r
        .stop()
        .catch((err) =>
          this.log.warn(
            { runnable: r.name, err: err instanceof Error ? err.message : String(err) },
            "runnable did not stop cleanly: what it held is released when the process exits (nothing to do unless it repeats)",
          ),
        );
    }
    this.startedRunnables.length = 0;
    await this.elector?.stop();
    await this.factory.stop();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    this.servers = [];
  }

  /** Stops on SIGINT/SIGTERM, then exits. */
  stopOnSignals(): void {
    const onSignal = (sig: string) => {
      this.log.info({ signal: sig }, "shutting down");
      void this.stop().then(() => process.exit(0));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
}
