// Fornax: the edge-cluster tree (EdgeCluster, Mission) as a controller module.

import type { ControllerModule } from "../module.ts";
import { edgeClusterCRD, missionCRD } from "./api.ts";
import { setupEdge } from "./operator.ts";

export const edgeModule: ControllerModule = {
  name: "edge",
  crds: [edgeClusterCRD, missionCRD],
  rbac: [
    {
      apiGroups: ["edge.centaurus.io"],
      resources: ["edgeclusters", "missions"],
      verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
      apiGroups: ["edge.centaurus.io"],
      resources: ["edgeclusters/status", "missions/status"],
      verbs: ["get", "update", "patch"],
    },
    // Owner references with blockOwnerDeletion on the objects a mission applies.
    { apiGroups: ["edge.centaurus.io"], resources: ["missions/finalizers"], verbs: ["update"] },
    // The kubeconfig Secrets of the children (read only).
    { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
    // Identity (kube-system's uid) and node counts for heartbeats of this cluster seen as a child.
    { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "create", "patch"] },
    { apiGroups: [""], resources: ["nodes"], verbs: ["list"] },
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "create", "patch"] },
    // Missions carry objects of any kind: applying them (server-side apply), watching them for
    // drift and deleting what a mission drops needs broad rights; scope them down with a
    // narrower ClusterRole if the missions of a tree only ever carry a few kinds.
    { apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  ],
  setup(manager, client) {
    setupEdge(manager, client);
  },
};
