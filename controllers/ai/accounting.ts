// Accounting (pure, no I/O): what each pod holds in the GpuCluster index, and the GPUs each
// queue uses, demands and dominates, read from that index and the cached objects.

import type { GPUJob, GPUQueue } from "./api.ts";
import { dominantShare, type QueueInfo, type QueueLoad, type RunningJob } from "./fairshare.ts";
import { jobGpuRequest, type NodeLike, type PodLike, parseBytes, parseCpu, podCpuMemory } from "./objects.ts";
import { type Assignment, type GpuCluster, type Holder, type HolderTags, unitsOf } from "./placement.ts";

/** GPU units an allocation holds: its device count, or its share of one device. */
export function unitsHeld(a: Assignment): number {
  return a.share ? a.share.computePercent / 100 : a.devices.length;
}

/**
 * Records on the index what a bound pod holds (the API server is the truth). A node the
 * index does not know yet (pods can arrive before their node) gets a placeholder that places
 * nothing, replaced when the node arrives. Returns an error message when the pod's devices
 * overlap another allocation.
 */
export function accountPod(
  cluster: GpuCluster,
  placeholders: Set<string>,
  key: string,
  uid: string | undefined,
  a: Assignment,
  tags: HolderTags,
): string | undefined {
  const need = Math.max(...a.devices) + 1;
  const known = cluster.nodeInfo(a.node);
  if (!known || (placeholders.has(a.node) && known.count < need)) {
    placeholders.add(a.node);
    cluster.upsertNode({
      name: a.node,
      count: Math.max(known?.count ?? 0, need),
      memoryMiB: Number.MAX_SAFE_INTEGER,
      model: "unknown",
      schedulable: false,
    });
  }
  try {
    cluster.allocate(key, a, tags);
    return undefined;
  } catch (err) {
    // A reservation for the same pod under other devices means the binding we made lost to
    // another writer: the API server is the truth.
    const held = cluster.holder(key);
    if (held && (!held.uid || held.uid === uid)) {
      cluster.release(key);
      try {
        cluster.allocate(key, a, tags);
        return undefined;
      } catch {}
    }
    return String(err);
  }
}

export function queueInfos(queues: readonly GPUQueue[]): QueueInfo[] {
  return queues.map((q) => ({
    name: q.metadata.name ?? "",
    weight: q.spec.weight ?? 1,
    guaranteedGPUs: q.spec.guaranteedGPUs ?? 0,
    maxGPUs: q.spec.maxGPUs,
    lendIdle: q.spec.lendIdle ?? true,
  }));
}

/** GPUs used per queue (from allocations) and demanded (used + waiting jobs' minimums). */
export function queueLoad(
  holders: readonly Holder[],
  waitingJobs: readonly GPUJob[],
): Map<string, QueueLoad> {
  const load = new Map<string, QueueLoad>();
  const bump = (q: string | undefined, used: number, demand: number) => {
    if (!q) return;
    const cur = load.get(q) ?? { used: 0, demand: 0 };
    load.set(q, { used: cur.used + used, demand: cur.demand + demand });
  };
  for (const h of holders) bump(h.queue, unitsHeld(h.assignment), unitsHeld(h.assignment));
  for (const job of waitingJobs) bump(job.spec.queue, 0, job.spec.replicas.min * unitsOf(jobGpuRequest(job)));
  return load;
}

/** Each queue's dominant share (GPU, CPU or memory, whichever it uses most of) over its weight. */
export function queueDominantShares(
  holders: readonly Holder[],
  totalGpus: number,
  nodes: readonly NodeLike[],
  jobOf: (key: string) => GPUJob | undefined,
  queues: readonly QueueInfo[],
): Map<string, number> {
  const total = { gpu: totalGpus, cpu: 0, memory: 0 };
  for (const n of nodes) {
    total.cpu += parseCpu(n.status?.allocatable?.cpu);
    total.memory += parseBytes(n.status?.allocatable?.memory);
  }
  const used = new Map<string, { gpu: number; cpu: number; memory: number }>();
  for (const h of holders) {
    if (!h.queue) continue;
    const job = h.job ? jobOf(h.job) : undefined;
    const perReplica = job
      ? podCpuMemory({ metadata: {}, spec: job.spec.template.spec as PodLike["spec"] })
      : { cpu: 0, memory: 0 };
    const u = used.get(h.queue) ?? { gpu: 0, cpu: 0, memory: 0 };
    u.gpu += unitsHeld(h.assignment);
    u.cpu += perReplica.cpu;
    u.memory += perReplica.memory;
    used.set(h.queue, u);
  }
  const weights = new Map(queues.map((q) => [q.name, q.weight]));
  return new Map([...used].map(([q, u]) => [q, dominantShare(u, total, weights.get(q) ?? 1)]));
}

/** The running jobs as fair share and preemption see them (replicas not being deleted). */
export function runningJobs(
  holders: readonly Holder[],
  terminating: ReadonlySet<string>,
  jobOf: (key: string) => GPUJob | undefined,
): RunningJob[] {
  const byJob = new Map<string, Set<string>>();
  for (const h of holders) {
    if (!h.job || terminating.has(h.key)) continue;
    const replicas = byJob.get(h.job) ?? new Set();
    replicas.add(h.key);
    byJob.set(h.job, replicas);
  }
  const out: RunningJob[] = [];
  for (const [key, replicas] of byJob) {
    const job = jobOf(key);
    if (!job) continue;
    out.push({
      key,
      queue: job.spec.queue,
      priority: job.spec.priority ?? 0,
      replicas: replicas.size,
      minReplicas: job.spec.replicas.min,
      unitsPerReplica: unitsOf(jobGpuRequest(job)),
      startedAt: Date.parse(job.status?.admittedAt ?? job.metadata.creationTimestamp ?? "") || 0,
    });
  }
  return out;
}

/** GPU units held by pods being deleted, and the keys that hold nothing any more (never created, or released). */
export function unitsFreeingSoon(
  cluster: GpuCluster,
  terminating: Iterable<string>,
): { units: number; stale: string[] } {
  let units = 0;
  const stale: string[] = [];
  for (const key of terminating) {
    const h = cluster.holder(key);
    if (!h) stale.push(key);
    else units += unitsHeld(h.assignment);
  }
  return { units, stale };
}
