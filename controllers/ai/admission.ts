// Admission and growth planning (pure; reserves on the in-memory GpuCluster index, no API
// calls): whether a waiting GPUJob starts now and where its replicas go, what to evict to make
// room, and how far a running elastic job may grow.

import type { GPUJob, ReplicaStatus } from "./api.ts";
import {
  admit,
  type Eviction,
  type QueueInfo,
  type QueueLoad,
  type RunningJob,
  selectEvictions,
  type WaitingJob,
} from "./fairshare.ts";
import { describeRequest } from "./job-status.ts";
import { jobGpuRequest, type PodLike } from "./objects.ts";
import { type Assignment, type GpuCluster, type HolderTags, unitsOf } from "./placement.ts";

export interface AdmissionInput {
  job: GPUJob;
  cluster: GpuCluster;
  queues: readonly QueueInfo[];
  load: ReadonlyMap<string, QueueLoad>;
  /** Waiting jobs in the order they get GPUs. */
  ranked: readonly WaitingJob[];
  /** GPU units held by pods being deleted. */
  freeingSoon: number;
  running: () => RunningJob[];
  /** A fresh replica name for index i. */
  replicaName: (i: number) => string;
}

export type AdmissionDecision =
  | { kind: "behind"; ahead: WaitingJob }
  /** Reserved on the index: replica key → assignment (the gang first, then elastic extras). */
  | { kind: "placed"; placed: Map<string, Assignment> }
  | { kind: "wait-for-preemption"; freeingSoon: number }
  | { kind: "evict"; evictions: Eviction[] }
  /** parked: waiting for something other than GPUs (queue maximum), which does not hold back growth. */
  | { kind: "wait"; reason: string; message: string; parked: boolean };

export function jobTags(job: GPUJob, key: string): HolderTags {
  return { job: key, queue: job.spec.queue, priority: job.spec.priority ?? 0 };
}

export function planAdmission(input: AdmissionInput): AdmissionDecision {
  const { job, cluster, queues, load } = input;
  const key = `${job.metadata.namespace}/${job.metadata.name}`;
  // Strict priority: no job starts while one of higher priority waits for GPUs.
  const ahead = input.ranked.find((w) => w.key !== key && w.priority > (job.spec.priority ?? 0));
  if (ahead) return { kind: "behind", ahead };
  const request = jobGpuRequest(job);
  const units = unitsOf(request);
  const min = job.spec.replicas.min;
  const total = cluster.totalUnits();
  const verdict = admit(queues, load, total, cluster.freeUnits(), job.spec.queue, min * units);
  if (verdict.ok) {
    const placed = placeWithExtras(input, verdict.usable);
    if (placed) return { kind: "placed", placed };
  }
  const wantsPreemption = verdict.ok || verdict.reason === "InsufficientGPUs";
  const { freeingSoon } = input;
  if (wantsPreemption && freeingSoon > 0 && cluster.freeUnits() + freeingSoon + 1e-9 >= min * units) {
    // Earlier evictions are still being carried out: wait for them rather than evict more.
    return { kind: "wait-for-preemption", freeingSoon };
  }
  if (wantsPreemption) {
    const mine = load.get(job.spec.queue) ?? { used: 0, demand: 0 };
    const withJob = new Map(load).set(job.spec.queue, { used: mine.used, demand: mine.demand + min * units });
    const evictions = selectEvictions(
      queues,
      withJob,
      total,
      input.running().filter((r) => r.key !== key),
      job.spec.queue,
      job.spec.priority ?? 0,
      min * units,
      (verdict.ok ? 0 : cluster.freeUnits()) + freeingSoon,
      verdict.ok ? true : verdict.reclaim,
    );
    if (evictions && evictions.length > 0) return { kind: "evict", evictions };
  }
  if (verdict.ok) {
    return {
      kind: "wait",
      reason: "InsufficientGPUs",
      message: `no placement for ${min} replica(s) of ${describeRequest(request)} now (fragmented or busy GPUs); waiting`,
      parked: false,
    };
  }
  return {
    kind: "wait",
    reason: verdict.reason,
    message: verdict.message,
    parked: verdict.reason !== "InsufficientGPUs",
  };
}

/** Places the gang's minimum, then (elastic start) more replicas up to max while the queue's share allows. */
function placeWithExtras(input: AdmissionInput, usable: number): Map<string, Assignment> | undefined {
  const { job, cluster } = input;
  const key = `${job.metadata.namespace}/${job.metadata.name}`;
  const request = jobGpuRequest(job);
  const units = unitsOf(request);
  const min = job.spec.replicas.min;
  const tags = jobTags(job, key);
  const policy = job.spec.placement ?? "binpack";
  const members = Array.from({ length: min }, (_, i) => ({
    key: `${job.metadata.namespace}/${input.replicaName(i)}`,
    request,
    tags,
  }));
  const placed = cluster.placeGang(members, policy);
  if (!placed) return undefined;
  const queueMax = input.queues.find((q) => q.name === job.spec.queue)?.maxGPUs ?? Number.POSITIVE_INFINITY;
  const allowance = Math.min(usable, queueMax - (input.load.get(job.spec.queue)?.used ?? 0));
  let used = min * units;
  for (let i = min; i < job.spec.replicas.max && used + units <= allowance + 1e-9; i++) {
    const k = `${job.metadata.namespace}/${input.replicaName(i)}`;
    const a = cluster.find(request, policy);
    if (!a) break;
    cluster.allocate(k, a, tags);
    placed.set(k, a);
    used += units;
  }
  return placed;
}

/** Whether a running job could take one more replica now (a cheap check before reading the API server). */
export function mayGrowNow(job: GPUJob, cluster: GpuCluster): boolean {
  const request = jobGpuRequest(job);
  return (
    cluster.freeUnits() + 1e-9 >= unitsOf(request) && !!cluster.find(request, job.spec.placement ?? "binpack")
  );
}

/**
 * Elastic growth towards max while GPUs are free and the queue's share allows: reserves and
 * returns the new replicas (their indices fill the gaps among the active ones).
 */
export function planGrowth(
  job: GPUJob,
  active: readonly PodLike[],
  cluster: GpuCluster,
  queues: readonly QueueInfo[],
  load: Map<string, QueueLoad>,
  replicaName: (i: number) => string,
): ReplicaStatus[] {
  const key = `${job.metadata.namespace}/${job.metadata.name}`;
  const request = jobGpuRequest(job);
  const units = unitsOf(request);
  const tags = jobTags(job, key);
  const plan: ReplicaStatus[] = [];
  const used = new Set(active.map((p) => Number(p.metadata.labels?.["ai.centaurus.io/replica"])));
  for (let n = active.length; n < job.spec.replicas.max; n++) {
    const verdict = admit(queues, load, cluster.totalUnits(), cluster.freeUnits(), job.spec.queue, units);
    if (!verdict.ok) break;
    const a = cluster.find(request, job.spec.placement ?? "binpack");
    if (!a) break;
    let index = 0;
    while (used.has(index)) index++;
    used.add(index);
    const name = replicaName(index);
    cluster.allocate(`${job.metadata.namespace}/${name}`, a, tags);
    const cur = load.get(job.spec.queue) ?? { used: 0, demand: 0 };
    load.set(job.spec.queue, { used: cur.used + units, demand: cur.demand + units });
    plan.push({ name, node: a.node, devices: a.devices });
  }
  return plan;
}

/** The assignment a recorded replica plan stands for. */
export function planAssignment(job: GPUJob, r: ReplicaStatus): Assignment {
  const request = jobGpuRequest(job);
  return request.kind === "fraction"
    ? { node: r.node, devices: r.devices, share: request.share }
    : { node: r.node, devices: r.devices };
}

/** Which of a victim's pods an eviction deletes: all when preempted, else the highest-numbered replicas. */
export function evictionVictims(pods: readonly PodLike[], e: Eviction): PodLike[] {
  const sorted = [...pods].sort(
    (a, b) =>
      Number(b.metadata.labels?.["ai.centaurus.io/replica"]) -
      Number(a.metadata.labels?.["ai.centaurus.io/replica"]),
  );
  return e.preempt ? sorted : sorted.slice(0, e.replicas);
}

export function newReplicaName(job: GPUJob, index: number): string {
  const suffix = Math.random().toString(36).slice(2, 7);
  return `${job.metadata.name}-${index}-${suffix}`.slice(0, 63).replace(/-+$/, "");
}
