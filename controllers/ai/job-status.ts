// Job and queue status (pure): the status a GPUJob or GPUQueue should show.

import { type ConditionUpdate, setCondition } from "../../pkg/status/conditions.ts";
import type { GPUJob, GPUJobStatus, GPUQueue, GPUQueueStatus, JobPhase, ReplicaStatus } from "./api.ts";
import { type PodLike, podAssignment } from "./objects.ts";
import type { Assignment, GpuRequest } from "./placement.ts";

const ADMITTED_PHASES: readonly JobPhase[] = ["Admitted", "Running", "Scaling", "Succeeded"];

/** The job's next status: phase, Ready and Admitted conditions, and any other fields given. */
export function jobStatus(
  job: GPUJob,
  phase: JobPhase,
  ready: ConditionUpdate,
  extra: Partial<GPUJobStatus> = {},
): GPUJobStatus {
  const prev = job.status ?? {};
  const generation = job.metadata.generation;
  const admitted = ADMITTED_PHASES.includes(phase);
  let conditions = setCondition(prev.conditions, { ...ready, observedGeneration: generation });
  if (phase !== "Succeeded" && phase !== "Failed") {
    conditions = setCondition(conditions, {
      type: "Admitted",
      status: admitted ? "True" : "False",
      reason: admitted ? "Admitted" : ready.reason,
      message: ready.message,
      observedGeneration: generation,
    });
  }
  const next: GPUJobStatus = { ...prev, ...extra, observedGeneration: generation, phase, conditions };
  for (const [k, v] of Object.entries(next)) if (v === undefined) delete (next as Record<string, unknown>)[k];
  return next;
}

/** The phase of a job that waits: Preempted stays Preempted, anything else is Pending. */
export function waitingPhase(job: GPUJob): JobPhase {
  return job.status?.phase === "Preempted" ? "Preempted" : "Pending";
}

/** The placement recorded for bound pods, by name. */
export function replicasOf(pods: readonly PodLike[]): ReplicaStatus[] {
  return pods
    .map((p) => ({ p, a: podAssignment(p) }))
    .filter((x): x is { p: PodLike; a: Assignment } => !!x.a)
    .map(({ p, a }) => ({ name: p.metadata.name ?? "", node: a.node, devices: a.devices }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

export function describeRequest(r: GpuRequest): string {
  return r.kind === "whole"
    ? `${r.count} GPU(s) each`
    : `${r.share.computePercent}% of a GPU and ${r.share.memoryMiB} MiB each`;
}

/** A queue's status: what it holds, deserves, runs and keeps waiting. */
export function queueStatus(
  q: GPUQueue,
  used: number,
  deserved: number,
  jobs: readonly GPUJob[],
  isWaiting: (job: GPUJob) => boolean,
): GPUQueueStatus {
  const running = jobs.filter((j) => j.status?.phase === "Running" || j.status?.phase === "Scaling").length;
  const waitingJobs = jobs.filter(isWaiting).length;
  const round = (n: number) => Math.round(n * 100) / 100;
  const allocated = round(used);
  return {
    observedGeneration: q.metadata.generation,
    allocatedGPUs: allocated,
    deservedGPUs: round(deserved),
    runningJobs: running,
    waitingJobs,
    conditions: setCondition(q.status?.conditions, {
      type: "Ready",
      status: "True",
      reason: "Serving",
      message: `${allocated} GPUs allocated to ${running} running job(s); ${waitingJobs} waiting`,
      observedGeneration: q.metadata.generation,
    }),
  };
}
