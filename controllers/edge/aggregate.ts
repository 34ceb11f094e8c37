// Mission status flowing up (pure): this cluster's own result, plus each child's report
// re-keyed from the child's paths to ours; clusters that cannot be reached are Unreachable.

import type { ClusterMissionStatus, MissionSummary } from "./api.ts";
import { prefixPath, SELF } from "./tree.ts";

export interface ChildMissionReport {
  /** The child's EdgeCluster name. */
  child: string;
  connected: boolean;
  /** Selected clusters in its subtree, relative to this cluster (from routeMission). */
  targets: readonly string[];
  /**
   * The child's mission status (paths relative to the child), or undefined when the child has
   * not reported on the current spec yet.
   */
  reported?: readonly ClusterMissionStatus[];
  /** Why the child could not be reached or written, for the Unreachable/Failed message. */
  problem?: { state: "Unreachable" | "Failed"; reason: string; message: string };
}

export function summarize(entries: readonly ClusterMissionStatus[]): MissionSummary {
  const s: MissionSummary = { total: entries.length, applied: 0, failed: 0, unreachable: 0, pending: 0 };
  for (const e of entries) {
    if (e.state === "Applied") s.applied++;
    else if (e.state === "Failed") s.failed++;
    else if (e.state === "Unreachable") s.unreachable++;
    else s.pending++;
  }
  return s;
}

/**
 * The mission's status entries in this cluster, sorted by path. A child that is disconnected
 * (or could not be written) turns every target below it into Unreachable (or Failed) with the
 * reason; a connected child's report is taken as it stands, and targets it has not reported
 * yet are Pending.
 */
export function aggregateMissionStatus(
  local: ClusterMissionStatus | undefined,
  children: readonly ChildMissionReport[],
): ClusterMissionStatus[] {
  const byPath = new Map<string, ClusterMissionStatus>();
  if (local) byPath.set(SELF, { ...local, path: SELF });
  for (const c of children) {
    if (!c.connected || c.problem) {
      const p = c.problem ?? {
        state: "Unreachable" as const,
        reason: "ClusterDisconnected",
        message: `cluster ${c.child} is Disconnected`,
      };
      for (const t of c.targets)
        byPath.set(t, { path: t, state: p.state, reason: p.reason, message: p.message });
      continue;
    }
    if (c.reported) {
      for (const e of c.reported) {
        const path = prefixPath(c.child, e.path);
        byPath.set(path, { ...e, path });
      }
    }
    for (const t of c.targets) {
      if (!byPath.has(t)) {
        byPath.set(t, {
          path: t,
          state: "Pending",
          reason: "Propagating",
          message: `waiting for cluster ${c.child} to report`,
        });
      }
    }
  }
  return [...byPath.values()].sort((a, b) =>
    a.path === SELF ? -1 : b.path === SELF ? 1 : a.path.localeCompare(b.path),
  );
}

/** Per-state counts of the missions that target a given path (for EdgeCluster status and the CLI). */
export function countForPath(
  missions: ReadonlyArray<{ clusters?: readonly ClusterMissionStatus[] }>,
  path: string,
): { total: number; applied: number; failed: number; unreachable: number } {
  const out = { total: 0, applied: 0, failed: 0, unreachable: 0 };
  for (const m of missions) {
    const e = m.clusters?.find((c) => c.path === path);
    if (!e) continue;
    out.total++;
    if (e.state === "Applied") out.applied++;
    else if (e.state === "Failed") out.failed++;
    else if (e.state === "Unreachable") out.unreachable++;
  }
  return out;
}
