// The pool of connections to this cluster's direct children: one client per child, with
// watches on the child's Missions (those this cluster propagated) and EdgeClusters, whose
// changes enqueue the mission or EdgeCluster here at once (an external source: the child's
// watch has no informer in this cluster). Shaped as a Runnable: stop() closes every client
// and watch, so nothing outlives the manager.

import { createHash } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { KubeClient } from "../../pkg/kube/client.ts";
import type { Logger } from "../../pkg/log.ts";
import type { Runnable } from "../../pkg/manager/runnable.ts";
import type { ClusterProbe } from "./adapter.ts";
import {
  type EdgeCluster,
  EdgeClusters,
  type Mission,
  Missions,
  PROPAGATED_BY_LABEL,
  type SubtreeEntry,
} from "./api.ts";

/** Watches on a child retry fast: a child that comes back should be watched again at once. */
const CHILD_WATCH_BACKOFF = { initialMs: 200, maxMs: 2000, jitter: 0.2, resetAfterMs: 60_000 };

/** A change seen through a child's watches: one of its Missions or EdgeClusters, or its watches synced. */
export type ChildChange = (kind: "mission" | "edgecluster" | "synced", name: string) => void;

/** One direct child: its client, its watched Missions and EdgeClusters, its liveness. */
export class ChildConnection {
  readonly client: KubeClient;
  factory: SharedInformerFactory;
  missions!: Informer<Mission>;
  edgeClusters!: Informer<EdgeCluster>;
  lastProbeAt = 0;
  lastHeartbeat: Date | undefined;
  probe: ClusterProbe | undefined;
  lastError: string | undefined;
  connected = false;
  accepted = true;
  watching = false;
  identityWritten = "";
  subtree: SubtreeEntry[] = [];
  /** namespace/name/key of the Secret this connection was built from. */
  secretRef = "";

  constructor(
    readonly name: string,
    readonly configHash: string,
    client: KubeClient,
    private readonly selfID: string,
    private readonly onChange: ChildChange,
    private readonly log: Logger,
  ) {
    this.client = client;
    this.factory = this.newFactory();
  }

  private newFactory(): SharedInformerFactory {
    const factory = new SharedInformerFactory(this.client, { logger: this.log, idleTimeoutMs: 60_000 });
    this.missions = factory.informerFor(Missions, {
      labelSelector: `${PROPAGATED_BY_LABEL}=${this.selfID}`,
      backoff: CHILD_WATCH_BACKOFF,
    });
    this.edgeClusters = factory.informerFor(EdgeClusters, {
      backoff: CHILD_WATCH_BACKOFF,
    });
    this.missions.addEventHandler({
      onAdd: (m) => this.onChange("mission", m.metadata.name ?? ""),
      onUpdate: (_o, m) => this.onChange("mission", m.metadata.name ?? ""),
      onDelete: (m) => this.onChange("mission", m.metadata.name ?? ""),
    });
    const ec = () => this.onChange("edgecluster", this.name);
    this.edgeClusters.addEventHandler({ onAdd: ec, onUpdate: ec, onDelete: ec });
    return factory;
  }

  /** (Re)starts the watches on the child: after it comes back, at once rather than after a backoff. */
  async restartWatches(): Promise<void> {
    if (this.watching) {
      const old = this.factory;
      this.factory = this.newFactory();
      void old.stop();
    }
    this.watching = true;
    this.factory.start();
    // Once the child's watches have listed, missions may travel through it: those that ran
    // before (after a restart, while the status already said Connected and so no EdgeCluster
    // change woke them) look again. Nothing fires for a closed or replaced connection.
    const factory = this.factory;
    void factory.waitForSync().then(() => {
      if (this.watching && this.factory === factory) this.onChange("synced", this.name);
    });
  }

  synced(): boolean {
    return this.watching && this.factory.hasSynced();
  }

  async close(): Promise<void> {
    this.watching = false;
    await this.factory.stop();
    this.client.close();
  }
}

/** The children's connections, by EdgeCluster name: a Runnable (manager.add), on every replica. */
export class ConnectionPool implements Runnable {
  readonly name = "edge-connections";
  readonly needLeaderElection = false;
  private readonly connections = new Map<string, ChildConnection>();
  private stopped = false;

  constructor(
    private readonly onChange: ChildChange,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
  }

  /** Closes every child's client and watches. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.close()));
  }

  get(name: string): ChildConnection | undefined {
    return this.connections.get(name);
  }

  values(): ChildConnection[] {
    return [...this.connections.values()];
  }

  get size(): number {
    return this.connections.size;
  }

  /** The connection for a kubeconfig: the existing one while the kubeconfig is unchanged, else a new one. */
  async connect(name: string, kubeconfig: string, selfID: string): Promise<ChildConnection> {
    if (this.stopped) throw new Error("edge connection pool is stopped");
    const hash = createHash("sha256").update(kubeconfig).digest("hex");
    const existing = this.connections.get(name);
    if (existing && existing.configHash === hash) return existing;
    if (existing) {
      this.connections.delete(name);
      await existing.close();
    }
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfig);
    const client = await KubeClient.fromKubeConfig(kc);
    const conn = new ChildConnection(
      name,
      hash,
      client,
      selfID,
      this.onChange,
      this.log.child({ child: name }),
    );
    this.connections.set(name, conn);
    return conn;
  }

  /** Closes and forgets a child's connection; true when there was one. */
  async drop(name: string): Promise<boolean> {
    const conn = this.connections.get(name);
    if (!conn) return false;
    this.connections.delete(name);
    await conn.close();
    return true;
  }
}
