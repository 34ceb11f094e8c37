// What an EdgeCluster's Ready condition says (pure): refused (Cycle, AttachedTwice), Connected,
// Unreachable (never answered) or HeartbeatTimeout (answered once, silent past the timeout).

import type { ConditionUpdate } from "../../pkg/status/conditions.ts";
import type { SecretKeyRef } from "./api.ts";
import type { HeartbeatTiming } from "./liveness.ts";
import type { AttachmentVerdict } from "./tree.ts";

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
