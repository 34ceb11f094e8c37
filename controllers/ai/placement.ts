// The placement core (pure, no I/O): a per-device model of every GPU node, whole and
// fractional allocations that can never over-commit a device, and the choice of node and
// devices for one replica or an all-or-nothing gang under binpack, spread or
// utilisation-aware scoring.
//
// Nodes are indexed by how many whole devices they have free (one bucket per count), so a
// whole-GPU request looks at a handful of buckets and a bounded number of candidates rather
// than scanning every node; nodes with partly shared devices are kept in their own set for
// fractional requests.

import {
  type Assignment,
  type DeviceState,
  describe,
  FULL_COMPUTE,
  type GpuNodeInfo,
  type GpuRequest,
  type GpuShare,
  type Holder,
  type HolderTags,
  OverCommitError,
  type PlacementPolicy,
  sameAssignment,
} from "./assignment.ts";

// The assignment vocabulary, re-exported for the placement core's callers.
export * from "./assignment.ts";

interface NodeState {
  info: GpuNodeInfo;
  devices: DeviceState[];
  /** Devices wholly free (nothing allocated on them). */
  freeWhole: number;
  /** Bucket the node sits in (-1: not indexed). */
  bucket: number;
  /** True when some device holds a share and still has room. */
  shared: boolean;
}

/** How many candidate nodes a scoring policy compares before it chooses (bounds the work per pod). */
export const CANDIDATE_LIMIT = 16;

function isWhole(a: Assignment): boolean {
  return a.share === undefined;
}

function deviceIsFree(d: DeviceState): boolean {
  return d.holders.size === 0;
}

function fits(d: DeviceState, share: GpuShare, memoryMiB: number): boolean {
  return (
    d.computeUsed + share.computePercent <= FULL_COMPUTE && d.memoryUsedMiB + share.memoryMiB <= memoryMiB
  );
}

export class GpuCluster {
  private readonly nodes = new Map<string, NodeState>();
  private readonly holders = new Map<string, Holder>();
  /** buckets[k]: schedulable nodes with exactly k whole free devices. */
  private readonly buckets: Array<Set<string>> = [];
  private readonly sharedNodes = new Set<string>();

  // ---- nodes ----

  upsertNode(info: GpuNodeInfo): void {
    const existing = this.nodes.get(info.name);
    const count = Math.max(0, Math.floor(info.count));
    const old = new Map((existing?.devices ?? []).map((d) => [d.index, d]));
    const held = [...old.values()].filter((d) => d.holders.size > 0).map((d) => d.index + 1);
    const size = Math.max(count, ...held);
    // Indexed by device number; devices beyond the count that still have holders stay
    // tracked (never handed out twice) until they are released.
    const devices: DeviceState[] = [];
    for (let i = 0; i < size; i++) {
      devices.push(old.get(i) ?? { index: i, memoryUsedMiB: 0, computeUsed: 0, holders: new Set() });
    }
    const state: NodeState = existing ?? { info, devices, freeWhole: 0, bucket: -1, shared: false };
    state.info = { ...info };
    state.devices = devices;
    // The memory per device may have changed (e.g. a placeholder became the real node): recount.
    for (const d of devices) {
      d.computeUsed = 0;
      d.memoryUsedMiB = 0;
      for (const key of d.holders) {
        const share = this.holders.get(key)?.assignment.share;
        d.computeUsed += share ? share.computePercent : FULL_COMPUTE;
        d.memoryUsedMiB += share ? share.memoryMiB : info.memoryMiB;
      }
    }
    this.nodes.set(info.name, state);
    this.reindex(state);
  }

  removeNode(name: string): void {
    const state = this.nodes.get(name);
    if (!state) return;
    this.unindex(state);
    this.nodes.delete(name);
    for (const d of state.devices) for (const key of d.holders) this.holders.delete(key);
  }

  hasNode(name: string): boolean {
    return this.nodes.has(name);
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  nodeInfo(name: string): GpuNodeInfo | undefined {
    return this.nodes.get(name)?.info;
  }

  /** A copy of one node's devices (for metrics and the CLI). */
  devicesOf(name: string): DeviceState[] {
    return (this.nodes.get(name)?.devices ?? []).map((d) => ({ ...d, holders: new Set(d.holders) }));
  }

  /** The most devices any schedulable node has (what one replica may ask for at most). */
  maxDevicesPerNode(): number {
    let max = 0;
    for (const n of this.nodes.values()) if (n.info.schedulable !== false) max = Math.max(max, n.info.count);
    return max;
  }

  maxDeviceMemoryMiB(): number {
    let max = 0;
    for (const n of this.nodes.values())
      if (n.info.schedulable !== false) max = Math.max(max, n.info.memoryMiB);
    return max;
  }

  /** Capacity in GPU units (1 per device) of the schedulable nodes. */
  totalUnits(): number {
    let total = 0;
    for (const n of this.nodes.values()) if (n.info.schedulable !== false) total += n.info.count;
    return total;
  }

  /** Free capacity in GPU units (a device's unused compute share counts as a fraction). */
  freeUnits(): number {
    let free = 0;
    for (const n of this.nodes.values()) {
      if (n.info.schedulable === false) continue;
      for (const d of n.devices)
        if (d.index < n.info.count) free += (FULL_COMPUTE - d.computeUsed) / FULL_COMPUTE;
    }
    return free;
  }

  private unindex(state: NodeState): void {
    if (state.bucket >= 0) this.buckets[state.bucket]?.delete(state.info.name);
    state.bucket = -1;
    this.sharedNodes.delete(state.info.name);
  }

  private reindex(state: NodeState): void {
    this.unindex(state);
    let free = 0;
    let shared = false;
    for (const d of state.devices) {
      if (d.index >= state.info.count) continue;
      if (deviceIsFree(d)) free++;
      else if (d.computeUsed < FULL_COMPUTE && d.memoryUsedMiB < state.info.memoryMiB && !this.holdsWhole(d))
        shared = true;
    }
    state.freeWhole = free;
    state.shared = shared;
    if (state.info.schedulable === false) return;
    while (this.buckets.length <= free) this.buckets.push(new Set());
    this.buckets[free]?.add(state.info.name);
    state.bucket = free;
    if (shared) this.sharedNodes.add(state.info.name);
  }

  private holdsWhole(d: DeviceState): boolean {
    for (const key of d.holders) {
      const h = this.holders.get(key);
      if (h && isWhole(h.assignment)) return true;
    }
    return false;
  }

  // ---- allocations ----

  holder(key: string): Holder | undefined {
    return this.holders.get(key);
  }

  allHolders(): Holder[] {
    return [...this.holders.values()];
  }

  /** Why `assignment` cannot be allocated now, or undefined when it can. */
  checkAllocation(assignment: Assignment, ignoreKey?: string): string | undefined {
    const state = this.nodes.get(assignment.node);
    if (!state) return `node ${assignment.node} is not a known GPU node`;
    if (assignment.devices.length === 0) return "no devices given";
    if (new Set(assignment.devices).size !== assignment.devices.length) return "a device is listed twice";
    if (assignment.share && assignment.devices.length !== 1)
      return "a fractional share lives on exactly one device";
    for (const i of assignment.devices) {
      const d = state.devices[i];
      if (!d || i >= state.info.count || !Number.isInteger(i))
        return `node ${assignment.node} has no device ${i}`;
      const others = [...d.holders].filter((k) => k !== ignoreKey);
      if (!assignment.share) {
        if (others.length > 0)
          return `device ${assignment.node}/${i} is already allocated to ${others.join(", ")}`;
        continue;
      }
      for (const k of others) {
        const h = this.holders.get(k);
        if (h && isWhole(h.assignment)) return `device ${assignment.node}/${i} is wholly allocated to ${k}`;
      }
      const used = others.reduce(
        (acc, k) => {
          const s = this.holders.get(k)?.assignment.share;
          return s ? { m: acc.m + s.memoryMiB, c: acc.c + s.computePercent } : acc;
        },
        { m: 0, c: 0 },
      );
      if (used.c + assignment.share.computePercent > FULL_COMPUTE)
        return `device ${assignment.node}/${i} has ${FULL_COMPUTE - used.c}% compute left`;
      if (used.m + assignment.share.memoryMiB > state.info.memoryMiB)
        return `device ${assignment.node}/${i} has ${state.info.memoryMiB - used.m} MiB left`;
    }
    return undefined;
  }

  /**
   * Records an allocation. The same key with the same assignment is a no-op (an informer
   * telling us about a binding we made); anything that would over-commit a device throws.
   */
  allocate(key: string, assignment: Assignment, tags: HolderTags = {}): void {
    const existing = this.holders.get(key);
    if (existing) {
      if (sameAssignment(existing.assignment, assignment)) {
        Object.assign(existing, definedOnly(tags));
        return;
      }
      throw new OverCommitError(
        `${key} already holds ${describe(existing.assignment)}; refusing ${describe(assignment)}`,
      );
    }
    const why = this.checkAllocation(assignment);
    if (why) throw new OverCommitError(`cannot allocate ${describe(assignment)} to ${key}: ${why}`);
    const state = this.nodes.get(assignment.node) as NodeState;
    for (const i of assignment.devices) {
      const d = state.devices[i] as DeviceState;
      d.holders.add(key);
      d.computeUsed += assignment.share ? assignment.share.computePercent : FULL_COMPUTE;
      d.memoryUsedMiB += assignment.share ? assignment.share.memoryMiB : state.info.memoryMiB;
    }
    this.holders.set(key, { key, assignment: { ...assignment, devices: [...assignment.devices] }, ...tags });
    this.reindex(state);
  }

  /** Frees what `key` holds. With a uid, only a holder of that uid (or of none) is freed. */
  release(key: string, uid?: string): boolean {
    const h = this.holders.get(key);
    if (!h) return false;
    if (uid && h.uid && h.uid !== uid) return false;
    this.holders.delete(key);
    const state = this.nodes.get(h.assignment.node);
    if (!state) return true;
    for (const i of h.assignment.devices) {
      const d = state.devices[i];
      if (!d?.holders.delete(key)) continue;
      d.computeUsed -= h.assignment.share ? h.assignment.share.computePercent : FULL_COMPUTE;
      d.memoryUsedMiB -= h.assignment.share ? h.assignment.share.memoryMiB : state.info.memoryMiB;
      if (d.holders.size === 0) {
        d.computeUsed = 0;
        d.memoryUsedMiB = 0;
      }
    }
    this.reindex(state);
    return true;
  }

  // ---- choosing ----

  /** Chooses a node and devices for one replica (allocates nothing), or undefined if none fits. */
  find(request: GpuRequest, policy: PlacementPolicy = "binpack"): Assignment | undefined {
    return request.kind === "whole"
      ? this.findWhole(request.count, policy)
      : this.findFraction(request.share, policy);
  }

  private findWhole(
    count: number,
    policy: PlacementPolicy,
    accept: (n: GpuNodeInfo) => boolean = () => true,
  ): Assignment | undefined {
    if (count < 1) return undefined;
    const candidates: NodeState[] = [];
    const limit = policy === "utilization" ? CANDIDATE_LIMIT : 1;
    const top = this.buckets.length - 1;
    // binpack and utilisation: the fullest node that still fits; spread: the emptiest.
    for (let step = 0; step <= top - count && candidates.length < limit; step++) {
      const k = policy === "spread" ? top - step : count + step;
      for (const name of this.buckets[k] ?? []) {
        const n = this.nodes.get(name);
        if (n && accept(n.info)) candidates.push(n);
        if (candidates.length >= limit) break;
      }
    }
    let best: { node: NodeState; devices: number[]; score: number } | undefined;
    for (const n of candidates) {
      const free = n.devices.filter((d) => d.index < n.info.count && deviceIsFree(d));
      if (free.length < count) continue;
      if (policy === "utilization")
        free.sort((a, b) => util(n, a.index) - util(n, b.index) || a.index - b.index);
      const chosen = free.slice(0, count).map((d) => d.index);
      const score = policy === "utilization" ? meanUtil(n, chosen) : 0;
      if (!best || score < best.score) best = { node: n, devices: chosen, score };
    }
    return best ? { node: best.node.info.name, devices: best.devices } : undefined;
  }

  private findFraction(share: GpuShare, policy: PlacementPolicy): Assignment | undefined {
    if (share.computePercent <= 0 || share.computePercent > FULL_COMPUTE || share.memoryMiB < 0)
      return undefined;
    const onShared = (limit: number): Assignment | undefined => {
      let best: { a: Assignment; score: number } | undefined;
      let seen = 0;
      for (const name of this.sharedNodes) {
        if (seen++ >= limit) break;
        const n = this.nodes.get(name);
        if (!n) continue;
        for (const d of n.devices) {
          if (d.index >= n.info.count || deviceIsFree(d) || this.holdsWhole(d)) continue;
          if (!fits(d, share, n.info.memoryMiB)) continue;
          // binpack: the fullest device that fits; utilisation: the least busy device.
          const score = policy === "utilization" ? util(n, d.index) : -d.computeUsed;
          if (!best || score < best.score) best = { a: { node: name, devices: [d.index], share }, score };
        }
      }
      return best?.a;
    };
    const onFreeDevice = (): Assignment | undefined => {
      const whole = this.findWhole(1, policy, (n) => share.memoryMiB <= n.memoryMiB);
      return whole ? { ...whole, share } : undefined;
    };
    if (policy === "spread") return onFreeDevice() ?? onShared(Number.POSITIVE_INFINITY);
    return onShared(CANDIDATE_LIMIT * 4) ?? onFreeDevice() ?? onShared(Number.POSITIVE_INFINITY);
  }

  /**
   * Places a gang all or nothing: every member gets an allocation, or none does and the
   * cluster is left exactly as it was.
   */
  placeGang(
    members: Array<{ key: string; request: GpuRequest; tags?: HolderTags }>,
    policy: PlacementPolicy = "binpack",
  ): Map<string, Assignment> | undefined {
    const placed = new Map<string, Assignment>();
    for (const m of members) {
      const a = this.find(m.request, policy);
      if (!a) {
        for (const key of placed.keys()) this.release(key);
        return undefined;
      }
      this.allocate(m.key, a, m.tags);
      placed.set(m.key, a);
    }
    return placed;
  }
}

function util(n: NodeState, index: number): number {
  return n.info.utilization?.[index] ?? 0;
}

function meanUtil(n: NodeState, devices: number[]): number {
  return devices.reduce((s, i) => s + util(n, i), 0) / Math.max(1, devices.length);
}

function definedOnly(tags: HolderTags): HolderTags {
  return Object.fromEntries(Object.entries(tags).filter(([, v]) => v !== undefined)) as HolderTags;
}
