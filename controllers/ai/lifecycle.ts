// Lifecycle (pure): the next step for a GPUJob, from its status and its pods.

import type { GPUJob } from "./api.ts";
import { isTerminal, type PodLike } from "./objects.ts";
import type { Invalid } from "./validation.ts";

export type JobStep =
  /** Succeeded or Failed: nothing more to do. */
  | { kind: "finished" }
  /** A replica failed: delete the rest, the job fails. */
  | { kind: "fail"; failedPod: string; active: PodLike[] }
  /** Every replica succeeded. */
  | { kind: "succeed"; succeeded: number }
  /** A recorded plan not fully bound (an interrupted admission or scale-up): finish or roll it back. */
  | { kind: "complete-plan"; active: PodLike[] }
  /** The spec cannot run here: say why. */
  | { kind: "invalid"; invalid: Invalid }
  /** Pods left from an admission that never recorded a plan: start over cleanly. */
  | { kind: "restart-leftovers" }
  /** Running with pods not bound yet: wait for them. */
  | { kind: "wait" }
  | { kind: "admit" }
  /**
   * Running: belowMin says the cache shows fewer replicas than the gang's minimum (confirm with
   * the API server before restarting the gang); mayGrow, that the job is below its max.
   */
  | { kind: "running"; active: PodLike[]; belowMin: boolean; mayGrow: boolean };

export interface JobPods {
  active: PodLike[];
  succeeded: PodLike[];
  failed: PodLike[];
}

export function sortPods(pods: readonly PodLike[]): JobPods {
  return {
    active: pods.filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp),
    succeeded: pods.filter((p) => p.status?.phase === "Succeeded"),
    failed: pods.filter((p) => p.status?.phase === "Failed"),
  };
}

/** `validate` is called only when the step depends on it. */
export function nextStep(
  job: GPUJob,
  pods: readonly PodLike[],
  validate: () => Invalid | undefined,
): JobStep {
  const status = job.status ?? {};
  const phase = status.phase;
  const { active, succeeded, failed } = sortPods(pods);
  if (phase === "Succeeded" || phase === "Failed") return { kind: "finished" };
  if (failed.length > 0) return { kind: "fail", failedPod: failed[0]?.metadata.name ?? "", active };
  if (succeeded.length > 0 && active.length === 0 && (phase === "Running" || phase === "Scaling")) {
    return { kind: "succeed", succeeded: succeeded.length };
  }
  if ((phase === "Admitted" || phase === "Scaling") && (status.replicas ?? []).length > 0) {
    return { kind: "complete-plan", active };
  }
  const invalid = validate();
  if (invalid) return { kind: "invalid", invalid };
  const bound = active.filter((p) => p.spec?.nodeName);
  if (bound.length === 0 || phase === undefined || phase === "Pending" || phase === "Preempted") {
    if (active.length > 0 && phase !== "Running") return { kind: "restart-leftovers" };
    if (phase === "Running" && bound.length === 0 && active.length > 0) return { kind: "wait" };
    return { kind: "admit" };
  }
  const grows = succeeded.length === 0;
  return {
    kind: "running",
    active,
    belowMin: active.length < job.spec.replicas.min && grows,
    mayGrow: active.length < job.spec.replicas.max && grows,
  };
}
