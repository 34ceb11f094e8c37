// What the edge reconcilers share: the clients, the caches, the connection pool, who this
// cluster is. (A child's change of state re-runs the missions through a declared watch.)

import type { Store } from "../../pkg/cache/store.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Logger } from "../../pkg/log.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import type { StatusWriter } from "../../pkg/status/status-writer.ts";
import type { EdgeCluster, Mission } from "./api.ts";
import type { ConnectionPool } from "./connections.ts";
import type { SelfIdentity } from "./identity.ts";

export interface EdgeContext {
  readonly client: KubeClient;
  readonly connections: ConnectionPool;
  readonly events: EventRecorder;
  /** Writes Mission status (no events of its own: missions record theirs per cluster). */
  readonly statusWriter: StatusWriter;
  readonly log: Logger;
  edgeClusterStore(): Store<EdgeCluster>;
  missionStore(): Store<Mission>;
  /** Who this cluster is (its identity ConfigMap). */
  identity(): SelfIdentity;
  /** This cluster's id: the kube-system namespace's uid. */
  ownID(): Promise<string>;
}

/** Held on an EdgeCluster so that deleting it removes what this cluster put into the child. */
export const DETACH_FINALIZER = "edge.centaurus.io/detach";
