// What an EdgeCluster's Ready condition says (pure): refused (Cycle, AttachedTwice), Connected,
// Unreachable (never answered) or HeartbeatTimeout (answered once, silent past the timeout).

import { type ConditionUpdate, metaTime, setCondition } from "../../pkg/status/conditions.ts";
import type { ClusterProbe } from "./adapter.ts";
import type { Connection, EdgeCluster, EdgeClusterStatus, SecretKeyRef, SubtreeEntry } from "./api.ts";
import type { HeartbeatTiming } from "./liveness.ts";
import { type AttachmentVerdict, markDisconnected } from "./tree.ts";

export type ReadyCondition = Omit<ConditionUpdate, "observedGeneration">;

export interface EdgeReadyInput {
  verdict: AttachmentVerdict;
  connected: boolean;
  lastError: string | undefined;
  /** Whether the child ever answered (this process, or the heartbeat the status records). */
  everAnswered: boolean;
  timing: HeartbeatTiming;
  secretRef: Pick<SecretKeyRef, "namespace" | "name">;
}

export function edgeReady(i: EdgeReadyInput): ReadyCondition {
  const { periodMs, timeoutMs } = i.timing;
  if (!i.verdict.accepted) {
    return { type: "Ready", status: "False", reason: i.verdict.reason, message: i.verdict.message };
  }
  if (i.connected) {
    return {
      type: "Ready",
      status: "True",
      reason: "Connected",
      message: i.lastError
        ? `last heartbeat failed (${i.lastError}); disconnected after ${timeoutMs / 1000} s without one`
        : `heartbeat every ${periodMs / 1000} s`,
    };
  }
  if (!i.everAnswered) {
    return {
      type: "Ready",
      status: "False",
      reason: "Unreachable",
      message: `the cluster in Secret ${i.secretRef.namespace}/${i.secretRef.name} does not answer: ${i.lastError ?? "no heartbeat yet"}`,
    };
  }
  return {
    type: "Ready",
    status: "False",
    reason: "HeartbeatTimeout",
    message: `no heartbeat for more than ${timeoutMs / 1000} s: ${i.lastError ?? ""}`,
  };
}

/** An event is recorded when the Ready reason changes (Normal when True, Warning otherwise). */
export function readyEvent(
  previousReason: string | undefined,
  ready: ReadyCondition,
): { type: "Normal" | "Warning"; reason: string; message: string } | undefined {
  if (previousReason === ready.reason) return undefined;
  return {
    type: ready.status === "True" ? "Normal" : "Warning",
    reason: ready.reason,
    message: ready.message,
  };
}

/** The reason of an EdgeCluster's Ready condition, as its status records it. */
export const readyReason = (ec: EdgeCluster): string | undefined =>
  ec.status?.conditions?.find((c) => c.type === "Ready")?.reason;

/**
 * The mission controller's predicate on EdgeCluster updates: a change that moves missions'
 * routes (connection, Ready reason such as Cycle, deletion started), not a heartbeat.
 */
export function childStateChanged(old: EdgeCluster, ec: EdgeCluster): boolean {
  return (
    old.status?.connection !== ec.status?.connection ||
    readyReason(old) !== readyReason(ec) ||
    old.metadata.deletionTimestamp !== ec.metadata.deletionTimestamp
  );
}

export interface EdgeStatusInput {
  ec: EdgeCluster;
  connection: Connection;
  probe: ClusterProbe | undefined;
  lastHeartbeat: Date | undefined;
  subtree: SubtreeEntry[];
  missions: EdgeClusterStatus["missions"];
  ready: ReadyCondition;
}

/** The EdgeCluster's status: this process's probe when it has one, else what the status recorded. */
export function edgeClusterStatus(i: EdgeStatusInput): EdgeClusterStatus {
  const { ec } = i;
  const generation = ec.metadata.generation;
  const clusterID = i.probe ? i.probe.clusterID : ec.status?.clusterID;
  const lastHeartbeat = i.lastHeartbeat ? metaTime(i.lastHeartbeat) : ec.status?.lastHeartbeat;
  const status: EdgeClusterStatus = {
    observedGeneration: generation,
    connection: i.connection,
    ...(i.probe || clusterID ? { clusterID } : {}),
    ...(lastHeartbeat ? { lastHeartbeat } : {}),
    ...(i.probe ? { nodes: i.probe.nodes, capacity: i.probe.capacity } : {}),
    subtree: i.subtree,
    missions: i.missions,
    conditions: setCondition(ec.status?.conditions, { ...i.ready, observedGeneration: generation }),
  };
  if (!i.probe && ec.status?.nodes) {
    status.nodes = ec.status.nodes;
    if (ec.status.capacity) status.capacity = ec.status.capacity;
  }
  return status;
}

/** The status of an EdgeCluster whose kubeconfig cannot be used: Disconnected, with the reason. */
export function unusableKubeconfigStatus(
  ec: EdgeCluster,
  reason: string,
  message: string,
): EdgeClusterStatus {
  const generation = ec.metadata.generation;
  return {
    observedGeneration: generation,
    ...(ec.status?.lastHeartbeat ? { lastHeartbeat: ec.status.lastHeartbeat } : {}),
    ...(ec.status?.clusterID ? { clusterID: ec.status.clusterID } : {}),
    connection: "Disconnected",
    subtree: markDisconnected(ec.status?.subtree ?? []),
    conditions: setCondition(ec.status?.conditions, {
      type: "Ready",
      status: "False",
      reason,
      message,
      observedGeneration: generation,
    }),
  };
}
