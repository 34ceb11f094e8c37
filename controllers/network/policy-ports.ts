// The ports of NetworkPolicy rules (pure): named ports resolved on a pod's container ports,
// and port ranges, so that "is there one port both directions allow?" has an exact answer.

import type { Protocol } from "../../pkg/kube/core.ts";

/** A pod's container port with a name (names are unique within a pod). */
export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

/** One port entry of a compiled rule: numbers only (named ports are resolved at compile time). */
export interface CompiledPort {
  protocol: Protocol;
  /** Absent: every port of the protocol. */
  port?: number;
  endPort?: number;
}

/**
 * The number a named port means on one pod: its container port of that name and protocol
 * (upstream resolves per destination pod, so one rule can mean different numbers on
 * different pods). Undefined when the pod has no such port: the entry matches nothing there.
 */
export function resolveNamedPort(
  namedPorts: readonly NamedPort[] | undefined,
  name: string,
  protocol: Protocol,
): number | undefined {
  return namedPorts?.find((p) => p.name === name && p.protocol === protocol)?.port;
}

/** An inclusive range of ports. */
export type PortRange = readonly [number, number];

export const ALL_PORTS: PortRange = [1, 65535];

/** The port ranges one rule's ports allow for a protocol (anyPort: every port). */
export function rangesOf(
  rule: { anyPort: boolean; ports: readonly CompiledPort[] },
  protocol: Protocol,
): PortRange[] {
  if (rule.anyPort) return [ALL_PORTS];
  const out: PortRange[] = [];
  for (const p of rule.ports) {
    if (p.protocol !== protocol) continue;
    if (p.port === undefined) out.push(ALL_PORTS);
    else out.push([p.port, p.endPort ?? p.port]);
  }
  return out;
}

/** Sorted, non-overlapping, adjacent ranges joined. */
export function mergeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** The ports in both sets (each merged). */
export function intersectRanges(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const [alo, ahi] of mergeRanges(a)) {
    for (const [blo, bhi] of mergeRanges(b)) {
      const lo = Math.max(alo, blo);
      const hi = Math.min(ahi, bhi);
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return mergeRanges(out);
}

/** "80, 443, 8000-8100", "all ports" or "no port". */
export function formatRanges(ranges: readonly PortRange[]): string {
  const merged = mergeRanges(ranges);
  if (merged.length === 0) return "no port";
  if (merged.length === 1 && merged[0]?.[0] === 1 && merged[0]?.[1] === 65535) return "all ports";
  return merged.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(", ");
}

/** Does a compiled rule admit (protocol, port)? */
export function portAllowed(
  rule: { anyPort: boolean; ports: readonly CompiledPort[] },
  protocol: Protocol,
  port: number,
): boolean {
  return rangesOf(rule, protocol).some(([lo, hi]) => port >= lo && port <= hi);
}
