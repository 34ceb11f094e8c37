// The edge operator of one cluster (the same code runs in every cluster of the tree). It
// manages the cluster's direct children, one EdgeCluster each:
//
// - EdgeCluster controller: reads the kubeconfig Secret, keeps one client per child, probes it
//   every heartbeat period (identity, nodes, capacity), marks it Disconnected once the
//   disconnect timeout passes without an answer, refuses cycles and clusters attached twice,
//   tells the child who it is (the identity ConfigMap), and flattens the child's subtree.
// - Mission controller: applies a mission's objects here when this cluster is selected,
//   copies the Mission into the children whose subtree holds a selected cluster (and removes
//   it from the others), and aggregates the children's status, keyed by path.
//
// Status flows up by watches, not polling: the operator watches each child's Missions and
// EdgeClusters through the child's API server, and every change there enqueues the mission
// (or EdgeCluster) here at once. Heartbeats only decide liveness. Drift is corrected the same
// way: every kind a mission applied is watched (label edge.centaurus.io/mission), and a
// change or deletion re-runs that mission's reconcile.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { Controller, type Request, type Result } from "../../pkg/controller/controller.ts";
import { apply, applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isNotFound } from "../../pkg/kube/errors.ts";
import { canonicalJSON, controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { apiVersionOf, Resources, type ResourceType, resourceId } from "../../pkg/kube/resource.ts";
import { type Logger, rootLogger } from "../../pkg/log.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { metaTime, setCondition } from "../../pkg/status/conditions.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { addFinalizer, removeFinalizer } from "../../pkg/status/finalizers.ts";
import { adapterFor } from "./adapter.ts";
import { aggregateMissionStatus, type ChildMissionReport, countForPath, summarize } from "./aggregate.ts";
import {
  API_VERSION,
  type ClusterMissionStatus,
  type Connection,
  EDGE_NAMESPACE,
  type EdgeCluster,
  type EdgeClusterStatus,
  EdgeClusters,
  IDENTITY_CONFIGMAP,
  type InventoryEntry,
  MISSION_LABEL,
  type Mission,
  type MissionStatus,
  Missions,
  PROPAGATED_BY_LABEL,
} from "./api.ts";
import { type ChildConnection, ConnectionPool } from "./connections.ts";
import { Discovery } from "./discovery.ts";
import { edgeReady, readyEvent } from "./edge-status.ts";
import {
  type ConfigMap,
  childIdentity,
  namesOf,
  parseIdentity,
  type SelfIdentity,
  writtenBy,
} from "./identity.ts";
import { heartbeatTiming, isConnected, nextProbeInMs, probeDue, probeTimeoutMs } from "./liveness.ts";
import {
  applyFingerprint,
  canSkipApply,
  isObjectFault,
  localEntry,
  planInventory,
  RESYNC_MS,
} from "./local-apply.ts";
import { missionEvents, missionReady } from "./mission-status.ts";
import { placementMatches, routeMission } from "./placement.ts";
import { objectRef, planChildMissions, resolveObjects, sameSpec, validateObjects } from "./realign.ts";
import { flattenSubtree, type GrandchildReport, markDisconnected, validateAttachments } from "./tree.ts";

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** Held on an EdgeCluster so that deleting it removes what this cluster put into the child. */
export const DETACH_FINALIZER = "edge.centaurus.io/detach";

const REJECTED_REASONS = new Set(["Cycle", "AttachedTwice"]);

export interface EdgeOperatorOptions {
  logger?: Logger;
}

/** The operator's state in one cluster; its two controllers share it. */
export class EdgeOperator {
  readonly edgeController: Controller;
  readonly missionController: Controller;
  /** The children's connections: a runnable, stopped with the operator. */
  readonly connections: ConnectionPool;
  private readonly discovery: Discovery;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private selfID: string | undefined;
  private readonly driftWatched = new Set<string>();
  /** Per mission: what was last applied here (a fingerprint), so an unchanged mission is not re-applied. */
  private readonly appliedHere = new Map<string, { fingerprint: string; at: number }>();
  /** Missions one of whose objects someone else changed or deleted since the last apply. */
  private readonly drifted = new Set<string>();
  /** Inventories of missions deleted here, until their reconcile has removed the objects. */
  private readonly deletedInventories = new Map<string, { uid: string; inventory: InventoryEntry[] }>();
  private factory: SharedInformerFactory | undefined;

  constructor(
    private readonly client: KubeClient,
    opts: EdgeOperatorOptions = {},
  ) {
    this.log = opts.logger ?? rootLogger;
    this.discovery = new Discovery(client);
    this.events = new EventRecorder(client, "centaurus.io/edge", "edge", this.log);
    this.connections = new ConnectionPool((kind, key) => {
      if (kind === "mission") this.missionController.queue.add(key);
      else this.edgeController.queue.add(key);
    }, this.log);
    const identityInformer = {
      namespace: EDGE_NAMESPACE,
      fieldSelector: `metadata.name=${IDENTITY_CONFIGMAP}`,
    };
    this.edgeController = new Controller({
      name: "edge-cluster",
      for: EdgeClusters,
      concurrency: 4,
      logger: this.log,
      watches: [
        { resource: Resources.ConfigMap, informer: identityInformer, map: () => this.edgeClusterNames() },
      ],
      reconcile: (req) => this.reconcileEdgeCluster(req),
    });
    this.missionController = new Controller({
      name: "edge-mission",
      for: Missions,
      concurrency: 8,
      logger: this.log,
      watches: [
        { resource: Resources.ConfigMap, informer: identityInformer, map: () => this.missionNames() },
      ],
      reconcile: (req) => this.reconcileMission(req),
    });
  }

  setup(manager: Manager): void {
    this.factory = manager.factory;
    // Remember what a deleted mission had applied here, so its reconcile removes the objects at
    // once; the garbage collector (owner references) is the backstop when this process was not
    // running, but it can lag by tens of seconds (its discovery resync, an API server restart).
    manager.factory.informerFor<Mission>(Missions).addEventHandler({
      onDelete: (m) => {
        if (m.metadata.uid && m.status?.inventory?.length) {
          this.deletedInventories.set(m.metadata.name ?? "", {
            uid: m.metadata.uid,
            inventory: m.status.inventory,
          });
        }
      },
    });
    manager.add(this.edgeController);
    manager.add(this.missionController);
  }

  async stop(): Promise<void> {
    await this.connections.stop();
  }

  private cache(): SharedInformerFactory {
    if (!this.factory) throw new Error("edge operator: setup(manager) was not called");
    return this.factory;
  }

  private edgeClusterStore() {
    return this.cache().informerFor<EdgeCluster>(EdgeClusters).store;
  }

  private missionStore() {
    return this.cache().informerFor<Mission>(Missions).store;
  }

  private edgeClusterNames(): string[] {
    return this.edgeClusterStore().keys();
  }

  private missionNames(): string[] {
    return this.missionStore().keys();
  }

  private identity(): SelfIdentity {
    const cm = this.cache()
      .informerFor<ConfigMap>(Resources.ConfigMap, {
        namespace: EDGE_NAMESPACE,
        fieldSelector: `metadata.name=${IDENTITY_CONFIGMAP}`,
      })
      .store.get(`${EDGE_NAMESPACE}/${IDENTITY_CONFIGMAP}`);
    return parseIdentity(cm);
  }

  private async ownID(): Promise<string> {
    if (!this.selfID) {
      const ns = await this.client.get(Resources.Namespace, "kube-system");
      this.selfID = ns.metadata.uid ?? "";
    }
    return this.selfID;
  }

  // ---------------------------------------------------------------- EdgeCluster

  private async connectionFor(ec: EdgeCluster, kubeconfig: string): Promise<ChildConnection> {
    return this.connections.connect(ec.metadata.name ?? "", kubeconfig, await this.ownID());
  }

  private async dropConnection(name: string): Promise<void> {
    if (await this.connections.drop(name)) this.requeueMissions();
  }

  private requeueMissions(): void {
    for (const k of this.missionNames()) this.missionController.queue.add(k);
  }

  /**
   * An EdgeCluster being deleted: the child is detached, so what this cluster put there (its
   * Missions, whose objects the child's garbage collector then removes, and the identity
   * ConfigMap) is removed from the child. A child that cannot be reached keeps them: the
   * deletion is not held up by a cluster that may never come back; a Warning event says so.
   */
  private async detach(ec: EdgeCluster): Promise<void> {
    const name = ec.metadata.name ?? "";
    const selfID = await this.ownID();
    const ref = ec.spec.kubeconfigSecretRef;
    try {
      let conn = this.connections.get(name);
      if (!conn) {
        const secret = await this.client.get<Secret>(Resources.Secret, ref.name, ref.namespace);
        const encoded = secret.data?.[ref.key || "kubeconfig"];
        if (!encoded) throw new Error(`Secret ${ref.namespace}/${ref.name} has no kubeconfig`);
        conn = await this.connectionFor(ec, Buffer.from(encoded, "base64").toString("utf8"));
      }
      conn.accepted = false;
      let removed = 0;
      // Twice: a mission reconcile that was already writing into the child may have re-created one.
      for (let pass = 0; pass < 2; pass++) {
        const copies = await conn.client.list<Mission>(Missions, {
          labelSelector: `${PROPAGATED_BY_LABEL}=${selfID}`,
          signal: AbortSignal.timeout(5000),
        });
        for (const m of copies.items) {
          if (await conn.client.delete(Missions, m.metadata.name ?? "")) removed++;
        }
      }
      const identity = await conn.client
        .get<ConfigMap>(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE)
        .catch(() => undefined);
      if (writtenBy(identity, selfID)) {
        await conn.client.delete(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE);
      }
      await this.events.record(ec, "Normal", "Detached", `removed ${removed} mission(s) from the child`);
    } catch (err) {
      await this.events.record(
        ec,
        "Warning",
        "DetachedWithoutCleanup",
        `the child could not be cleaned up (${(err as Error).message}): missions this cluster put there stay until removed by hand`,
      );
    }
    await removeFinalizer(this.client, EdgeClusters, ec, DETACH_FINALIZER);
  }

  private async writeEdgeStatus(ec: EdgeCluster, status: EdgeClusterStatus): Promise<void> {
    if (canonicalJSON(ec.status ?? {}) === canonicalJSON(status)) return;
    await applyStatus(this.client, EdgeClusters, ec.metadata.name ?? "", undefined, status);
  }

  private async reconcileEdgeCluster(req: Request): Promise<Result | undefined> {
    const ec = this.edgeClusterStore().get(req.key);
    if (!ec) {
      await this.dropConnection(req.name);
      return undefined;
    }
    if (ec.metadata.deletionTimestamp) {
      if (ec.metadata.finalizers?.includes(DETACH_FINALIZER)) await this.detach(ec);
      await this.dropConnection(req.name);
      return undefined;
    }
    if (!ec.metadata.finalizers?.includes(DETACH_FINALIZER)) {
      await addFinalizer(this.client, EdgeClusters, ec, DETACH_FINALIZER);
    }
    const timing = heartbeatTiming(ec.spec);
    const { periodMs } = timing;
    const generation = ec.metadata.generation;
    const base: EdgeClusterStatus = {
      observedGeneration: generation,
      ...(ec.status?.lastHeartbeat ? { lastHeartbeat: ec.status.lastHeartbeat } : {}),
      ...(ec.status?.clusterID ? { clusterID: ec.status.clusterID } : {}),
    };
    const fail = async (reason: string, message: string): Promise<Result> => {
      await this.dropConnection(req.name);
      const conditions = setCondition(ec.status?.conditions, {
        type: "Ready",
        status: "False",
        reason,
        message,
        observedGeneration: generation,
      });
      if (ec.status?.conditions?.find((c) => c.type === "Ready")?.reason !== reason) {
        await this.events.record(ec, "Warning", reason, message);
      }
      await this.writeEdgeStatus(ec, {
        ...base,
        connection: "Disconnected",
        subtree: markDisconnected(ec.status?.subtree ?? []),
        conditions,
      });
      return { requeueAfterMs: periodMs };
    };

    // The kubeconfig: read again only when a heartbeat is due (or the reference changed), not
    // on every event from the child, so a Secret that changes or goes is seen within a period.
    const ref = ec.spec.kubeconfigSecretRef;
    const key = ref.key || "kubeconfig";
    const secretRef = `${ref.namespace}/${ref.name}/${key}`;
    let conn = this.connections.get(req.name);
    if (!conn || conn.secretRef !== secretRef || probeDue(conn.lastProbeAt, periodMs, Date.now())) {
      let secret: Secret;
      try {
        secret = await this.client.get<Secret>(Resources.Secret, ref.name, ref.namespace);
      } catch (err) {
        if (isNotFound(err)) {
          return fail(
            "SecretNotFound",
            `Secret ${ref.namespace}/${ref.name} holding the kubeconfig does not exist`,
          );
        }
        throw err;
      }
      const encoded = secret.data?.[key];
      if (!encoded) {
        return fail("KubeconfigInvalid", `Secret ${ref.namespace}/${ref.name} has no key "${key}"`);
      }
      try {
        conn = await this.connectionFor(ec, Buffer.from(encoded, "base64").toString("utf8"));
        conn.secretRef = secretRef;
      } catch (err) {
        return fail(
          "KubeconfigInvalid",
          `Secret ${ref.namespace}/${ref.name} key "${key}" is not a usable kubeconfig: ${(err as Error).message}`,
        );
      }
    }

    // The heartbeat: a probe when one is due.
    const now = Date.now();
    if (probeDue(conn.lastProbeAt, periodMs, now)) {
      conn.lastProbeAt = now;
      try {
        conn.probe = await adapterFor(ec.spec.distro).probe(
          conn.client,
          AbortSignal.timeout(probeTimeoutMs(timing)),
        );
        conn.lastHeartbeat = new Date();
        conn.lastError = undefined;
      } catch (err) {
        conn.lastError = err instanceof Error ? err.message : String(err);
      }
    }
    const wasConnected = conn.connected;
    conn.connected = isConnected({
      lastError: conn.lastError,
      lastHeartbeat: conn.lastHeartbeat,
      recordedHeartbeat: ec.status?.lastHeartbeat,
      now,
      timeoutMs: timing.timeoutMs,
    });

    // The tree stays a tree.
    const selfID = await this.ownID();
    const self = this.identity();
    const all = this.edgeClusterStore().list();
    const verdicts = validateAttachments({
      selfID,
      ancestors: self.ancestors,
      children: all.map((other) => {
        const c = this.connections.get(other.metadata.name ?? "");
        return {
          name: other.metadata.name ?? "",
          clusterID: c?.probe?.clusterID ?? other.status?.clusterID,
          subtree: c?.subtree.length ? c.subtree : (other.status?.subtree ?? []),
          creationTimestamp: other.metadata.creationTimestamp,
        };
      }),
    });
    const verdict = verdicts.get(req.name) ?? { accepted: true };
    const wasAccepted = conn.accepted;
    conn.accepted = verdict.accepted;

    if (conn.connected && conn.accepted && (!wasConnected || !conn.watching)) {
      await conn.restartWatches();
    }
    if (conn.connected !== wasConnected || conn.accepted !== wasAccepted) {
      this.log.info(
        { edgeCluster: req.name, connected: conn.connected, accepted: conn.accepted },
        "child changed state",
      );
      this.requeueMissions();
    }

    // Tell the child who it is (name, path, labels, ancestors): it decides its own matches.
    if (conn.connected && conn.accepted) {
      const identity = childIdentity(req.name, ec.spec.labels, self, selfID);
      const text = canonicalJSON(identity);
      if (conn.identityWritten !== text || !wasConnected) {
        try {
          await apply(conn.client, Resources.Namespace, {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name: EDGE_NAMESPACE },
          });
          await apply(conn.client, Resources.ConfigMap, identity);
          conn.identityWritten = text;
        } catch (err) {
          conn.lastError = `writing the identity ConfigMap: ${(err as Error).message}`;
        }
      }
      // Realignment: Missions this cluster put into the child that it no longer has (deleted
      // while the child was away) go; the mission controller handles the rest.
      if (conn.synced()) {
        const plan = planChildMissions(this.missionStore().list(), conn.missions.store.list(), selfID);
        for (const name of plan.remove) {
          if (this.missionStore().get(name)) continue; // still here: its own reconcile decides
          await conn.client.delete(Missions, name).catch((err: unknown) => {
            conn.lastError = `removing mission ${name}: ${(err as Error).message}`;
          });
        }
      }
    }

    // The child's subtree, flattened by path.
    const connection: Connection = conn.connected ? "Connected" : "Disconnected";
    if (conn.connected && conn.accepted && conn.synced()) {
      const grandchildren: GrandchildReport[] = conn.edgeClusters.store
        .list()
        .filter((g) => {
          const ready = g.status?.conditions?.find((c) => c.type === "Ready");
          return !(ready?.status === "False" && REJECTED_REASONS.has(ready.reason));
        })
        .map((g) => ({ name: g.metadata.name ?? "", labels: g.spec.labels, subtree: g.status?.subtree }));
      conn.subtree = flattenSubtree(
        {
          name: req.name,
          clusterID: conn.probe?.clusterID,
          connection,
          labels: ec.spec.labels,
          nodesReady: conn.probe?.nodes.ready,
          nodesTotal: conn.probe?.nodes.total,
        },
        grandchildren,
      );
    } else if (!conn.accepted) {
      conn.subtree = [];
    } else {
      const known = conn.subtree.length ? conn.subtree : (ec.status?.subtree ?? []);
      conn.subtree = conn.connected
        ? known
        : markDisconnected(
            known.length
              ? known
              : [
                  {
                    path: req.name,
                    connection: "Disconnected",
                    ...(ec.spec.labels ? { labels: ec.spec.labels } : {}),
                  },
                ],
          );
    }

    const ready = edgeReady({
      verdict,
      connected: conn.connected,
      lastError: conn.lastError,
      everAnswered: conn.lastHeartbeat !== undefined || ec.status?.lastHeartbeat !== undefined,
      timing,
      secretRef: ref,
    });
    const event = readyEvent(ec.status?.conditions?.find((c) => c.type === "Ready")?.reason, ready);
    if (event) await this.events.record(ec, event.type, event.reason, event.message);
    const missions = this.missionStore()
      .list()
      .map((m) => ({ clusters: m.status?.clusters }));
    const status: EdgeClusterStatus = {
      observedGeneration: generation,
      connection,
      ...(conn.probe
        ? { clusterID: conn.probe.clusterID }
        : base.clusterID
          ? { clusterID: base.clusterID }
          : {}),
      ...(conn.lastHeartbeat
        ? { lastHeartbeat: metaTime(conn.lastHeartbeat) }
        : base.lastHeartbeat
          ? { lastHeartbeat: base.lastHeartbeat }
          : {}),
      ...(conn.probe ? { nodes: conn.probe.nodes, capacity: conn.probe.capacity } : {}),
      subtree: conn.subtree,
      missions: countForPath(missions, req.name),
      conditions: setCondition(ec.status?.conditions, { ...ready, observedGeneration: generation }),
    };
    if (!conn.probe && ec.status?.nodes) {
      status.nodes = ec.status.nodes;
      if (ec.status.capacity) status.capacity = ec.status.capacity;
    }
    await this.writeEdgeStatus(ec, status);
    return { requeueAfterMs: nextProbeInMs(conn.lastProbeAt, periodMs, Date.now()) };
  }

  // ---------------------------------------------------------------- Mission

  private ensureDriftWatch(rt: ResourceType): void {
    const id = resourceId(rt);
    if (this.driftWatched.has(id)) return;
    this.driftWatched.add(id);
    const enqueue = (o: KubeObject) => {
      const name = o.metadata.labels?.[MISSION_LABEL];
      if (!name) return;
      this.drifted.add(name);
      this.missionController.queue.add(name);
    };
    this.cache()
      .informerFor(rt, { labelSelector: MISSION_LABEL })
      .addEventHandler({ onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
  }

  /**
   * Applies the mission here unless the very same objects were applied within the last minute
   * and none of them has been touched since (the drift watches say so): status flowing up
   * re-runs a mission's reconcile often, and re-applying each time would only add round trips.
   */
  private async applyLocalIfNeeded(
    mission: Mission,
    self: SelfIdentity,
  ): Promise<{ entry: ClusterMissionStatus | undefined; inventory: InventoryEntry[] }> {
    const name = mission.metadata.name ?? "";
    const fingerprint = applyFingerprint(mission, namesOf(self));
    const previous = mission.status?.clusters?.find((c) => c.path === ".");
    const skip = canSkipApply({
      last: this.appliedHere.get(name),
      fingerprint,
      now: Date.now(),
      drifted: this.drifted.has(name),
      previous,
    });
    if (skip) {
      return { entry: previous, inventory: mission.status?.inventory ?? [] };
    }
    // Cleared before applying: a change made while applying marks it again.
    this.drifted.delete(name);
    const result = await this.applyLocal(mission, self);
    if (result.entry.state === "Applied") this.appliedHere.set(name, { fingerprint, at: Date.now() });
    else this.appliedHere.delete(name);
    return result;
  }

  private async removeLocal(mission: Mission): Promise<void> {
    this.appliedHere.delete(mission.metadata.name ?? "");
    for (const ref of mission.status?.inventory ?? []) await this.deleteObject(ref);
  }

  /** Applies the mission's objects here; returns this cluster's status entry and inventory. */
  private async applyLocal(
    mission: Mission,
    self: SelfIdentity,
  ): Promise<{ entry: ClusterMissionStatus; inventory: InventoryEntry[] }> {
    const name = mission.metadata.name ?? "";
    const previous = mission.status?.inventory ?? [];
    const problems = validateObjects(mission.spec.objects);
    if (problems.length) {
      return {
        entry: { path: ".", state: "Failed", reason: "InvalidObjects", message: problems.join("; ") },
        inventory: previous,
      };
    }
    const objects = resolveObjects(mission.spec, name, namesOf(self));
    const owner = controllerReference({ ...mission, apiVersion: API_VERSION, kind: "Mission" });
    const failures: string[] = [];
    const applied: InventoryEntry[] = [];
    for (const obj of objects) {
      const ref = objectRef(obj);
      const rt = await this.discovery.resourceFor(ref.apiVersion, ref.kind);
      if (!rt) {
        failures.push(`${ref.kind} ${ref.name}: this cluster does not serve ${ref.apiVersion} ${ref.kind}`);
        continue;
      }
      this.ensureDriftWatch(rt);
      const body: KubeObject = {
        ...obj,
        apiVersion: apiVersionOf(rt),
        kind: rt.kind,
        metadata: {
          ...obj.metadata,
          ...(rt.namespaced ? { namespace: obj.metadata.namespace ?? "default" } : { namespace: undefined }),
          ownerReferences: [owner],
        },
      };
      try {
        await apply(this.client, rt, body);
        applied.push({ ...ref, ...(rt.namespaced ? { namespace: body.metadata.namespace } : {}) });
      } catch (err) {
        // A 4xx answer is the object's fault (invalid, forbidden, namespace missing): report it.
        if (err instanceof ApiError && isObjectFault(err.code)) {
          failures.push(`${ref.kind} ${ref.name}: ${err.status.message ?? err.message}`);
          continue;
        }
        throw err;
      }
    }
    // What the mission no longer holds goes (what it still holds but failed to apply stays).
    const plan = planInventory(previous, applied, objects);
    for (const stale of plan.remove) await this.deleteObject(stale);
    const entry = localEntry(failures, applied.length);
    const inventory = plan.inventory;
    return { entry, inventory };
  }

  /** Deletes an applied object; with `ownerUid`, only while that (deleted) mission still owns it. */
  private async deleteObject(ref: InventoryEntry, ownerUid?: string): Promise<void> {
    const rt = await this.discovery.resourceFor(ref.apiVersion, ref.kind);
    if (!rt) return;
    const namespace = rt.namespaced ? ref.namespace : undefined;
    if (ownerUid) {
      let current: KubeObject;
      try {
        current = await this.client.get(rt, ref.name, namespace);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (!current.metadata.ownerReferences?.some((o) => o.uid === ownerUid)) return;
      await this.client.delete(rt, ref.name, namespace, { preconditionUid: current.metadata.uid });
      return;
    }
    await this.client.delete(rt, ref.name, namespace);
  }

  private async reconcileMission(req: Request): Promise<Result | undefined> {
    const selfID = await this.ownID();
    const mission = this.missionStore().get(req.key);
    if (!mission || mission.metadata.deletionTimestamp) {
      this.appliedHere.delete(req.name);
      this.drifted.delete(req.name);
      const deleted = this.deletedInventories.get(req.name);
      if (deleted && !mission) {
        for (const ref of deleted.inventory) await this.deleteObject(ref, deleted.uid);
        this.deletedInventories.delete(req.name);
      }
      // Gone here: its objects go by garbage collection (owner references); its copies in the
      // children go now, or at realignment for a child that is away.
      for (const conn of this.connections.values()) {
        if (!conn.connected || !conn.synced()) continue;
        const copy = conn.missions.store.get(req.name);
        if (copy?.metadata.labels?.[PROPAGATED_BY_LABEL] === selfID) {
          await conn.client.delete(Missions, req.name).catch(() => undefined);
        }
      }
      return undefined;
    }
    const self = this.identity();
    let retryMs: number | undefined;

    // Here and below at once: the children get the mission while this cluster applies it,
    // so each level adds one write, not two, to the time a mission takes to reach the leaves.
    const matchesHere = placementMatches(mission.spec.placement, self);
    const here = matchesHere
      ? this.applyLocalIfNeeded(mission, self)
      : this.removeLocal(mission).then(() => ({ entry: undefined, inventory: [] as InventoryEntry[] }));

    // Below: only through children whose subtree holds a selected cluster.
    // A child being detached (its EdgeCluster is being deleted) gets nothing more.
    const accepted = [...this.connections.values()].filter((c) => {
      const ec = this.edgeClusterStore().get(c.name);
      return c.accepted && ec !== undefined && !ec.metadata.deletionTimestamp;
    });
    const routes = routeMission(
      mission.spec.placement,
      self.path,
      accepted.map((c) => ({
        name: c.name,
        subtree: c.subtree.length ? c.subtree : (this.edgeClusterStore().get(c.name)?.status?.subtree ?? []),
      })),
    );
    const propagate = async (conn: ChildConnection): Promise<ChildMissionReport | undefined> => {
      const route = routes.find((r) => r.child === conn.name);
      if (!conn.connected) {
        if (!route) return undefined;
        const ec = this.edgeClusterStore().get(conn.name);
        return {
          child: conn.name,
          connected: false,
          targets: route.targets,
          problem: {
            state: "Unreachable",
            reason: "ClusterDisconnected",
            message: `cluster ${conn.name} is Disconnected (last heartbeat ${ec?.status?.lastHeartbeat ?? "never"})`,
          },
        };
      }
      const copy = conn.missions.store.get(req.name);
      if (!route) {
        if (copy) await conn.client.delete(Missions, req.name).catch(() => undefined);
        return undefined;
      }
      const report: ChildMissionReport = { child: conn.name, connected: true, targets: route.targets };
      const plan = planChildMissions([mission], copy ? [copy] : [], selfID);
      if (plan.apply.length) {
        try {
          await apply(conn.client, Missions, {
            apiVersion: API_VERSION,
            kind: "Mission",
            metadata: { name: req.name, labels: { [PROPAGATED_BY_LABEL]: selfID } },
            spec: mission.spec,
          } as Mission);
        } catch (err) {
          report.problem = {
            state: "Unreachable",
            reason: "PropagationFailed",
            message: `writing the mission into cluster ${conn.name} failed: ${(err as Error).message}`,
          };
          retryMs = 1000;
        }
      } else if (
        copy &&
        sameSpec(copy.spec, mission.spec) &&
        copy.status?.observedGeneration === copy.metadata.generation
      ) {
        report.reported = copy.status?.clusters ?? [];
      }
      return report;
    };
    const [{ entry: local, inventory }, ...childReports] = await Promise.all([
      here,
      ...accepted.map(propagate),
    ]);
    const reports = childReports.filter((r): r is ChildMissionReport => r !== undefined);

    const clusters = aggregateMissionStatus(local, reports);
    // Events for what changed (not awaited: best-effort, and kept off the path a mission travels).
    for (const e of missionEvents(mission.status?.clusters ?? [], clusters)) {
      void this.events.record(mission, e.type, e.reason, e.message);
    }
    const summary = summarize(clusters);
    const ready = missionReady(summary);
    const status: MissionStatus = {
      observedGeneration: mission.metadata.generation,
      clusters,
      summary,
      inventory,
      conditions: setCondition(mission.status?.conditions, {
        ...ready,
        observedGeneration: mission.metadata.generation,
      }),
    };
    if (canonicalJSON(mission.status ?? {}) !== canonicalJSON(status)) {
      await applyStatus(this.client, Missions, req.name, undefined, status);
    }
    // A periodic look as a backstop for anything a watch missed.
    return { requeueAfterMs: retryMs ?? RESYNC_MS };
  }
}

/** The edge operator for a manager: both controllers added. */
export function setupEdge(
  manager: Manager,
  client: KubeClient,
  opts: EdgeOperatorOptions = {},
): EdgeOperator {
  const op = new EdgeOperator(client, { logger: opts.logger ?? manager.log });
  op.setup(manager);
  return op;
}
