// Propagating a mission to the children (pure): what a child that is away reports, the copy
// this cluster writes into a child, and when the child's copy may report its status up.

import type { ChildMissionReport } from "./aggregate.ts";
import { API_VERSION, type Mission, PROPAGATED_BY_LABEL } from "./api.ts";
import { sameSpec } from "./realign.ts";

/** A Disconnected child that the mission routes through: its targets are Unreachable. */
export function disconnectedReport(
  child: string,
  targets: string[],
  lastHeartbeat: string | undefined,
): ChildMissionReport {
  return {
    child,
    connected: false,
    targets,
    problem: {
      state: "Unreachable",
      reason: "ClusterDisconnected",
      message: `cluster ${child} is Disconnected (last heartbeat ${lastHeartbeat ?? "never"})`,
    },
  };
}

/** Writing the copy into a child failed: its targets are Unreachable until a retry succeeds. */
export function propagationFailed(report: ChildMissionReport, err: Error): ChildMissionReport {
  return {
    ...report,
    problem: {
      state: "Unreachable",
      reason: "PropagationFailed",
      message: `writing the mission into cluster ${report.child} failed: ${err.message}`,
    },
  };
}

/** The Mission this cluster writes into a child: same name and spec, labelled as its copy. */
export function childCopy(mission: Mission, selfID: string): Mission {
  return {
    apiVersion: API_VERSION,
    kind: "Mission",
    metadata: { name: mission.metadata.name, labels: { [PROPAGATED_BY_LABEL]: selfID } },
    spec: mission.spec,
  } as Mission;
}

/** The child's copy reports up once it holds this spec and its status observed its generation. */
export function copyReports(copy: Mission | undefined, mission: Mission): boolean {
  return (
    copy !== undefined &&
    sameSpec(copy.spec, mission.spec) &&
    copy.status?.observedGeneration === copy.metadata.generation
  );
}

/** Whether a copy in a child was put there by this cluster (so this cluster may remove it). */
export function propagatedBy(copy: Mission | undefined, selfID: string): boolean {
  return copy?.metadata.labels?.[PROPAGATED_BY_LABEL] === selfID;
}
