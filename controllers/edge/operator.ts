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
//
// This file wires the two controllers over the shared state (EdgeContext); the reconcilers are
// edgecluster.ts and mission.ts, the connection pool connections.ts.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { mapAll } from "../../pkg/controller/mappers.ts";
import { watch } from "../../pkg/controller/watch.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { type Logger, rootLogger } from "../../pkg/log.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { EDGE_NAMESPACE, EdgeClusters, IDENTITY_CONFIGMAP, Missions } from "./api.ts";
import { ConnectionPool } from "./connections.ts";
import type { EdgeContext } from "./context.ts";
import { Discovery } from "./discovery.ts";
import { childStateChanged } from "./edge-status.ts";
import { reconcileEdgeCluster } from "./edgecluster.ts";
import { parseIdentity, type SelfIdentity } from "./identity.ts";
import { LocalApplier } from "./local-applier.ts";
import { reconcileMission } from "./mission.ts";

export { DETACH_FINALIZER } from "./context.ts";

/** The identity ConfigMap's informer (one object), shared by both controllers. */
const IDENTITY_INFORMER = {
  namespace: EDGE_NAMESPACE,
  fieldSelector: `metadata.name=${IDENTITY_CONFIGMAP}`,
};

export interface EdgeOperatorOptions {
  logger?: Logger;
}

/** The operator's state in one cluster; its two controllers share it. */
export class EdgeOperator implements EdgeContext {
  readonly edgeController: Controller;
  readonly missionController: Controller;
  /** The children's connections: a runnable, stopped with the operator. */
  readonly connections: ConnectionPool;
  readonly events: EventRecorder;
  readonly statusWriter: StatusWriter;
  readonly log: Logger;
  private readonly local: LocalApplier;
  private selfID: string | undefined;
  private factory: SharedInformerFactory | undefined;

  constructor(
    readonly client: KubeClient,
    opts: EdgeOperatorOptions = {},
  ) {
    this.log = opts.logger ?? rootLogger;
    this.events = new EventRecorder(client, "centaurus.io/edge", "edge", this.log);
    // Without the recorder: a Mission's events are per cluster (missionEvents), not its Ready reason.
    this.statusWriter = new StatusWriter(client);
    // External sources (no informer in this cluster): the child's watches, through the pool, and
    // the drift watches of the LocalApplier. Hence controller.enqueue, not a declared watch.
    this.connections = new ConnectionPool((kind, key) => {
      if (kind === "mission") this.missionController.enqueue(key);
      else if (kind === "synced")
        for (const k of this.missionStore().keys()) this.missionController.enqueue(k);
      else this.edgeController.enqueue(key);
    }, this.log);
    this.local = new LocalApplier(
      client,
      new Discovery(client),
      () => this.cache(),
      (name) => this.missionStore().get(name)?.metadata.uid,
      (name) => this.missionController.enqueue(name),
    );
    this.edgeController = new Controller({
      name: "edge-cluster",
      for: EdgeClusters,
      concurrency: 4,
      logger: this.log,
      watches: [
        {
          resource: Resources.ConfigMap,
          informer: IDENTITY_INFORMER,
          map: () => this.edgeClusterStore().keys(),
        },
      ],
      reconcile: (req) => reconcileEdgeCluster(this, req),
    });
    this.missionController = new Controller({
      name: "edge-mission",
      for: Missions,
      concurrency: 8,
      logger: this.log,
      watches: [
        { resource: Resources.ConfigMap, informer: IDENTITY_INFORMER, map: () => this.missionStore().keys() },
        // A child that connects, disconnects, is refused or goes changes every mission's routes;
        // heartbeat-only status writes (lastHeartbeat, nodes, counts) do not.
        watch({
          resource: EdgeClusters,
          map: (ec) => mapAll(this.cache().informerFor(Missions))(ec),
          predicate: { update: childStateChanged },
        }),
      ],
      reconcile: (req) => reconcileMission(this, this.local, req),
    });
  }

  /** The pool is a Runnable: Manager.stop() closes every child connection after the controllers drain. */
  setup(manager: Manager): void {
    this.factory = manager.factory;
    manager.add(this.connections);
    manager.add(this.edgeController);
    manager.add(this.missionController);
  }

  private cache(): SharedInformerFactory {
    if (!this.factory) throw new Error("edge operator: setup(manager) was not called");
    return this.factory;
  }

  edgeClusterStore() {
    return this.cache().informerFor(EdgeClusters).store;
  }

  missionStore() {
    return this.cache().informerFor(Missions).store;
  }

  identity(): SelfIdentity {
    const informer = this.cache().informerFor(Resources.ConfigMap, IDENTITY_INFORMER);
    return parseIdentity(informer.store.get(`${EDGE_NAMESPACE}/${IDENTITY_CONFIGMAP}`));
  }

  async ownID(): Promise<string> {
    if (!this.selfID) {
      const ns = await this.client.get(Resources.Namespace, "kube-system");
      this.selfID = ns.metadata.uid ?? "";
    }
    return this.selfID;
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
