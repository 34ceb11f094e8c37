// Fair sharing of GPUs across queues (pure, no I/O): each queue's deserved share (its
// guarantee, then the rest of the cluster divided by weight, capped by its maximum and its
// demand), whether a job may start now, and which running work to shrink or preempt so
// that a queue gets back its guarantee or a higher-priority job can start.
//
// Units are GPUs: a whole device is 1, a fractional share its compute fraction.

export interface QueueInfo {
  name: string;
  weight: number;
  guaranteedGPUs: number;
  /** Upper bound on what the queue may use, borrowing included (undefined: no bound). */
  maxGPUs?: number;
  /** May other queues borrow this queue's idle guaranteed share? */
  lendIdle: boolean;
}

export interface QueueLoad {
  /** GPUs the queue's running work holds now. */
  used: number;
  /** GPUs its running and waiting work would use at their minimum (used + waiting minimums). */
  demand: number;
}

const EPS = 1e-9;

/**
 * Deserved GPUs per queue by water-filling: guarantees first (up to demand), then what is
 * left goes out in proportion to weight, never above a queue's demand or maximum.
 */
export function deservedShares(
  queues: readonly QueueInfo[],
  load: ReadonlyMap<string, QueueLoad>,
  total: number,
): Map<string, number> {
  const cap = new Map<string, number>();
  const deserved = new Map<string, number>();
  let left = total;
  for (const q of queues) {
    const demand = Math.max(load.get(q.name)?.demand ?? 0, load.get(q.name)?.used ?? 0);
    const c = Math.min(demand, q.maxGPUs ?? Number.POSITIVE_INFINITY);
    cap.set(q.name, c);
    const g = Math.min(q.guaranteedGPUs, c);
    deserved.set(q.name, g);
    left -= g;
  }
  left = Math.max(0, left);
  for (let round = 0; round < queues.length + 1 && left > EPS; round++) {
    const open = queues.filter((q) => (cap.get(q.name) ?? 0) - (deserved.get(q.name) ?? 0) > EPS);
    if (open.length === 0) break;
    const weights = open.reduce((s, q) => s + Math.max(q.weight, EPS), 0);
    let given = 0;
    for (const q of open) {
      const room = (cap.get(q.name) ?? 0) - (deserved.get(q.name) ?? 0);
      const add = Math.min(room, (left * Math.max(q.weight, EPS)) / weights);
      deserved.set(q.name, (deserved.get(q.name) ?? 0) + add);
      given += add;
    }
    left -= given;
  }
  return deserved;
}

/**
 * GPUs held back for queues that do not lend their idle guarantee: their unused guaranteed
 * share is not handed to anyone else.
 */
export function reservedForOthers(
  queues: readonly QueueInfo[],
  load: ReadonlyMap<string, QueueLoad>,
  forQueue: string,
): number {
  let reserved = 0;
  for (const q of queues) {
    if (q.name === forQueue || q.lendIdle) continue;
    reserved += Math.max(0, q.guaranteedGPUs - (load.get(q.name)?.used ?? 0));
  }
  return reserved;
}

export type AdmissionVerdict =
  | { ok: true; mode: "guaranteed" | "fair-share" | "borrowing"; usable: number }
  | { ok: false; reason: "QueueMaxExceeded" | "InsufficientGPUs"; message: string; reclaim: boolean };

/**
 * May a job needing `need` GPUs in `queue` start now? `free` is what the cluster has free.
 * Within its guarantee or deserved share a job may reclaim (reclaim: true) GPUs that
 * other queues borrowed; beyond its share it only borrows what is idle and lendable.
 */
export function admit(
  queues: readonly QueueInfo[],
  load: ReadonlyMap<string, QueueLoad>,
  total: number,
  free: number,
  queue: string,
  need: number,
): AdmissionVerdict {
  const q = queues.find((x) => x.name === queue);
  if (!q)
    return {
      ok: false,
      reason: "InsufficientGPUs",
      message: `queue ${queue} does not exist`,
      reclaim: false,
    };
  const used = load.get(queue)?.used ?? 0;
  if (q.maxGPUs !== undefined && used + need > q.maxGPUs + EPS) {
    return {
      ok: false,
      reason: "QueueMaxExceeded",
      message: `queue ${queue} may use at most ${q.maxGPUs} GPUs; it uses ${fmt(used)} and the job needs ${fmt(need)}`,
      reclaim: false,
    };
  }
  const withThis = new Map(load);
  const mine = withThis.get(queue) ?? { used: 0, demand: 0 };
  withThis.set(queue, { used: mine.used, demand: Math.max(mine.demand, used + need) });
  const deserved = deservedShares(queues, withThis, total).get(queue) ?? 0;
  const usable = Math.max(0, free - reservedForOthers(queues, load, queue));
  const inGuarantee = used + need <= q.guaranteedGPUs + EPS;
  const inShare = used + need <= deserved + EPS;
  if (need <= usable + EPS) {
    return { ok: true, mode: inGuarantee ? "guaranteed" : inShare ? "fair-share" : "borrowing", usable };
  }
  return {
    ok: false,
    reason: "InsufficientGPUs",
    message: `needs ${fmt(need)} GPUs; ${fmt(usable)} usable free; queue ${queue} uses ${fmt(used)} of its deserved ${fmt(deserved)} (guaranteed ${fmt(q.guaranteedGPUs)})`,
    reclaim: inGuarantee || inShare,
  };
}

/** Running work that could give GPUs back. */
export interface RunningJob {
  key: string;
  queue: string;
  priority: number;
  replicas: number;
  minReplicas: number;
  unitsPerReplica: number;
  /** Newer jobs go first among equals (least work lost). */
  startedAt: number;
}

export interface Eviction {
  key: string;
  /** Replicas to remove; equal to the job's replicas when the whole job is preempted. */
  replicas: number;
  preempt: boolean;
  reason: "Reclaim" | "Preemption" | "ElasticShrink";
}

/**
 * Chooses what to take back so `need` GPUs come free for a job of `priority` in `queue`.
 * Order: shrink elastic jobs towards their min (borrowers first, lowest priority first),
 * then preempt whole jobs from queues above their deserved share, then lower-priority jobs
 * of any queue that would not fall below its guarantee. Never touches a job of equal or
 * higher priority in the same queue, nor pushes a queue below its guarantee. Returns
 * undefined when even all of that would not free enough (then nothing should be evicted).
 */
export function selectEvictions(
  queues: readonly QueueInfo[],
  load: ReadonlyMap<string, QueueLoad>,
  total: number,
  running: readonly RunningJob[],
  queue: string,
  priority: number,
  need: number,
  free: number,
  mayReclaim: boolean,
): Eviction[] | undefined {
  const deserved = deservedShares(queues, load, total);
  const guarantee = new Map(queues.map((q) => [q.name, q.guaranteedGPUs]));
  const used = new Map([...load].map(([k, v]) => [k, v.used]));
  const over = (q: string) => (used.get(q) ?? 0) - (deserved.get(q) ?? 0);
  const canTake = (j: RunningJob) => {
    if (j.queue === queue) return j.priority < priority;
    // Another queue's work: reclaim from borrowers, or preempt strictly lower priority,
    // but never below that queue's guarantee.
    return (mayReclaim && over(j.queue) > EPS) || j.priority < priority;
  };
  const floor = (j: RunningJob) => (j.queue === queue ? 0 : (guarantee.get(j.queue) ?? 0));
  const order = [...running]
    .filter(canTake)
    .sort(
      (a, b) =>
        over(b.queue) - over(a.queue) ||
        a.priority - b.priority ||
        b.startedAt - a.startedAt ||
        (a.key < b.key ? -1 : 1),
    );
  const evictions: Eviction[] = [];
  let freed = free;
  const take = (j: RunningJob, replicas: number, preempt: boolean, reason: Eviction["reason"]) => {
    const units = replicas * j.unitsPerReplica;
    used.set(j.queue, (used.get(j.queue) ?? 0) - units);
    freed += units;
    evictions.push({ key: j.key, replicas, preempt, reason });
  };
  // Pass 1: shrink elastic jobs to their min.
  for (const j of order) {
    if (freed + EPS >= need) break;
    const spare = j.replicas - j.minReplicas;
    if (spare <= 0) continue;
    const room = (used.get(j.queue) ?? 0) - floor(j);
    const byFloor = Math.floor((room + EPS) / j.unitsPerReplica);
    const stillNeeded = Math.ceil((need - freed - EPS) / j.unitsPerReplica);
    const n = Math.min(spare, byFloor, stillNeeded);
    if (n > 0) take(j, n, false, "ElasticShrink");
  }
  // Pass 2: preempt whole jobs.
  for (const j of order) {
    if (freed + EPS >= need) break;
    const shrunk = evictions.find((e) => e.key === j.key);
    const remaining = j.replicas - (shrunk?.replicas ?? 0);
    if (remaining <= 0) continue;
    if ((used.get(j.queue) ?? 0) - remaining * j.unitsPerReplica < floor(j) - EPS) continue;
    const reason = j.queue !== queue && over(j.queue) > EPS && mayReclaim ? "Reclaim" : "Preemption";
    if (shrunk) {
      shrunk.replicas += remaining;
      shrunk.preempt = true;
      shrunk.reason = reason;
      used.set(j.queue, (used.get(j.queue) ?? 0) - remaining * j.unitsPerReplica);
      freed += remaining * j.unitsPerReplica;
    } else {
      take(j, remaining, true, reason);
    }
  }
  return freed + EPS >= need ? evictions : undefined;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/**
 * Dominant-resource share of a queue, divided by its weight: the order in which waiting
 * jobs of different queues are considered (smallest first).
 */
export function dominantShare(
  used: { gpu: number; cpu: number; memory: number },
  total: { gpu: number; cpu: number; memory: number },
  weight: number,
): number {
  const share = Math.max(
    total.gpu > 0 ? used.gpu / total.gpu : 0,
    total.cpu > 0 ? used.cpu / total.cpu : 0,
    total.memory > 0 ? used.memory / total.memory : 0,
  );
  return share / Math.max(weight, EPS);
}

export interface WaitingJob {
  key: string;
  priority: number;
  queue: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/**
 * The order in which waiting jobs are considered: higher priority first; among equals, the
 * job whose queue has the smallest weighted dominant share (so a queue that holds little gets
 * the next GPUs), then the oldest.
 */
export function rankWaiting(
  jobs: readonly WaitingJob[],
  queueShare: ReadonlyMap<string, number>,
): WaitingJob[] {
  return [...jobs].sort(
    (a, b) =>
      b.priority - a.priority ||
      (queueShare.get(a.queue) ?? 0) - (queueShare.get(b.queue) ?? 0) ||
      a.createdAt - b.createdAt ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}
