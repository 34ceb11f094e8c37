// What a Mission's status says (pure): its Ready condition from the per-path summary, and the
// events worth recording when a path's state changes.

import type { ConditionUpdate } from "../../pkg/status/conditions.ts";
import type { ClusterMissionStatus, MissionSummary } from "./api.ts";

export type MissionReady = Omit<ConditionUpdate, "observedGeneration">;

/** Ready True once applied everywhere it is meant to be; else why not. */
export function missionReady(summary: MissionSummary): MissionReady {
  if (summary.total > 0 && summary.applied === summary.total) {
    return {
      type: "Ready",
      status: "True",
      reason: "Applied",
      message: `applied in ${summary.applied} cluster(s)`,
    };
  }
  if (summary.total === 0) {
    return {
      type: "Ready",
      status: "False",
      reason: "NoClusterSelected",
      message: "the placement selects no cluster",
    };
  }
  return {
    type: "Ready",
    status: "False",
    reason: summary.failed ? "Failed" : summary.unreachable ? "Unreachable" : "Progressing",
    message: `${summary.applied}/${summary.total} applied, ${summary.failed} failed, ${summary.unreachable} unreachable, ${summary.pending} pending`,
  };
}

export interface MissionEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/**
 * Events for paths whose state changed: a Warning for Failed or Unreachable anywhere, a Normal
 * for Applied here (a child's own operator records its own Applied).
 */
export function missionEvents(
  before: readonly ClusterMissionStatus[],
  after: readonly ClusterMissionStatus[],
): MissionEvent[] {
  const was = new Map(before.map((c) => [c.path, c.state]));
  const out: MissionEvent[] = [];
  for (const c of after) {
    if (was.get(c.path) === c.state) continue;
    const where = c.path === "." ? "this cluster" : `cluster ${c.path}`;
    if (c.state === "Failed" || c.state === "Unreachable") {
      out.push({
        type: "Warning",
        reason: c.reason ?? c.state,
        message: `${where}: ${c.message ?? c.state}`,
      });
    } else if (c.state === "Applied" && c.path === ".") {
      out.push({ type: "Normal", reason: "Applied", message: `${where}: ${c.message ?? "applied"}` });
    }
  }
  return out;
}
