// Assignments (pure): what a replica asks of GPUs, where it was placed and who holds it, and
// how an assignment is written on a pod.

export const FULL_COMPUTE = 100;

/** A share of one device: GPU memory in MiB and compute in percent (1–100). */
export interface GpuShare {
  memoryMiB: number;
  computePercent: number;
}

/** What one replica (pod) needs: whole devices on one node, or a share of one device. */
export type GpuRequest = { kind: "whole"; count: number } | { kind: "fraction"; share: GpuShare };

export type PlacementPolicy = "binpack" | "spread" | "utilization";
export const PLACEMENT_POLICIES: readonly PlacementPolicy[] = ["binpack", "spread", "utilization"];

/** Where a replica runs: its node, the device indexes on that node, and its share if fractional. */
export interface Assignment {
  node: string;
  devices: number[];
  share?: GpuShare;
}

/** Who holds an allocation, for fair share and preemption. */
export interface HolderTags {
  job?: string;
  queue?: string;
  priority?: number;
  uid?: string;
}

export interface Holder extends HolderTags {
  key: string;
  assignment: Assignment;
}

/** A GPU node as its Node object describes it. */
export interface GpuNodeInfo {
  name: string;
  /** Number of devices (allocatable nvidia.com/gpu). */
  count: number;
  /** Memory of each device in MiB. */
  memoryMiB: number;
  model: string;
  /** Per-device utilisation in percent, as the profiler publishes it (may be shorter than count). */
  utilization?: number[];
  /** False for cordoned or not-Ready nodes: nothing new is placed there. */
  schedulable?: boolean;
}

export interface DeviceState {
  index: number;
  memoryUsedMiB: number;
  computeUsed: number;
  holders: Set<string>;
}

export class OverCommitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OverCommitError";
  }
}

export function sameAssignment(a: Assignment, b: Assignment): boolean {
  return (
    a.node === b.node &&
    a.devices.length === b.devices.length &&
    a.devices.every((d, i) => d === b.devices[i]) &&
    a.share?.memoryMiB === b.share?.memoryMiB &&
    a.share?.computePercent === b.share?.computePercent
  );
}

export function describe(a: Assignment): string {
  const share = a.share ? ` (${a.share.computePercent}% compute, ${a.share.memoryMiB} MiB)` : "";
  return `${a.node}/gpu[${a.devices.join(",")}]${share}`;
}

/** GPU units one replica uses: whole devices count 1 each, a share its compute fraction. */
export function unitsOf(request: GpuRequest): number {
  return request.kind === "whole" ? request.count : request.share.computePercent / FULL_COMPUTE;
}

// ---- the device annotation on pods ----

/** "0,1" for whole devices. */
export function formatDevices(devices: number[]): string {
  return devices.join(",");
}

export function parseDevices(value: string | undefined): number[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const parts = value.split(",").map((s) => Number(s.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 0)) return undefined;
  return parts;
}
