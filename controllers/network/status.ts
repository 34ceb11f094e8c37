// What a VPC's and a subnet's status say (pure, no I/O): readiness, the VNI, the subnets a
// VPC holds, address counts, and the events a transition deserves.

import { type Condition, setCondition } from "../../pkg/status/conditions.ts";
import type { Subnet, SubnetStatus, VPC, VPCStatus } from "./api.ts";
import { defaultGateway, formatIP, parseCIDR } from "./ipam.ts";
import { subnetProblem, vpcProblem } from "./validate.ts";
import { chooseVNI } from "./vni.ts";

export interface StatusEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface StatusDecision<S> {
  status: S;
  events: StatusEvent[];
}

export function readyCondition(status: { conditions?: Condition[] } | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === "Ready");
}

export function isReady(obj: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return readyCondition(obj?.status)?.status === "True";
}

/** A subnet's gateway: the one its spec names, else the subnet's first address. */
export function gatewayOf(subnet: Subnet): string {
  return subnet.spec.gateway ?? formatIP(defaultGateway(parseCIDR(subnet.spec.cidr)));
}

function notReady(
  conditions: Condition[] | undefined,
  reason: string,
  message: string,
  observedGeneration: number | undefined,
): Condition[] {
  return setCondition(conditions, { type: "Ready", status: "False", reason, message, observedGeneration });
}

/** A Warning event, only when the Ready reason changes (no event storm on every resync). */
function warnOnChange(previous: { conditions?: Condition[] } | undefined, reason: string, message: string) {
  return readyCondition(previous)?.reason === reason ? [] : [{ type: "Warning" as const, reason, message }];
}

/**
 * A VPC's status. `vniOf` says which VNI another VPC holds (its status, what this process
 * wrote for it, or the one its spec asks for); a VPC keeps its VNI once it has one.
 */
export function vpcStatus(
  vpc: VPC,
  others: VPC[],
  subnetNames: string[],
  vniOf: (other: VPC) => number | undefined,
): StatusDecision<VPCStatus> {
  const status: VPCStatus = structuredClone((vpc.status ?? {}) as VPCStatus);
  const gen = vpc.metadata.generation;
  const events: StatusEvent[] = [];
  status.subnets = [...subnetNames].sort();
  const problem = vpcProblem(vpc, others);
  if (problem) {
    status.conditions = notReady(status.conditions, problem.reason, problem.message, gen);
    events.push(...warnOnChange(vpc.status, problem.reason, problem.message));
  } else {
    if (status.vni === undefined) {
      const used = new Map<number, string>();
      for (const o of others) {
        const v = vniOf(o);
        if (v !== undefined) used.set(v, o.metadata.name ?? "");
      }
      const choice = chooseVNI(vpc.metadata.name ?? "", used, vpc.spec.vni);
      if ("conflict" in choice) {
        status.conditions = notReady(status.conditions, "VNIConflict", choice.conflict, gen);
        events.push(...warnOnChange(vpc.status, "VNIConflict", choice.conflict));
      } else {
        status.vni = choice.vni;
        events.push({ type: "Normal", reason: "VNIAllocated", message: `VNI ${choice.vni}` });
      }
    }
    if (status.vni !== undefined) {
      status.conditions = setCondition(status.conditions, {
        type: "Ready",
        status: "True",
        reason: "Ready",
        message: `VNI ${status.vni}, ${status.subnets.length} subnet(s)`,
        observedGeneration: gen,
      });
    }
  }
  status.observedGeneration = gen;
  return { status, events };
}

/** The address counts of a subnet's pool. */
export interface PoolCounts {
  usedCount: number;
  available: number;
  capacity: number;
}

/** A subnet's status; `pool` is asked only when the subnet is valid and its VPC ready. */
export function subnetStatus(
  subnet: Subnet,
  vpc: VPC | undefined,
  siblings: Subnet[],
  pool: () => PoolCounts,
): StatusDecision<SubnetStatus> {
  const status: SubnetStatus = structuredClone((subnet.status ?? {}) as SubnetStatus);
  const gen = subnet.metadata.generation;
  const events: StatusEvent[] = [];
  const problem = subnetProblem(subnet, vpc, siblings);
  status.gateway = gatewayOf(subnet);
  if (problem) {
    status.conditions = notReady(status.conditions, problem.reason, problem.message, gen);
    events.push(...warnOnChange(subnet.status, problem.reason, problem.message));
  } else if (!vpc || !isReady(vpc) || vpc.status?.vni === undefined) {
    const why = readyCondition(vpc?.status)?.message ?? "no VNI yet";
    status.conditions = notReady(
      status.conditions,
      "VPCNotReady",
      `VPC ${subnet.spec.vpc} is not ready: ${why}`,
      gen,
    );
  } else {
    status.vni = vpc.status.vni;
    const p = pool();
    status.usedIPs = p.usedCount;
    status.availableIPs = p.available;
    status.conditions = setCondition(status.conditions, {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: `${p.available} of ${p.capacity} addresses free`,
      observedGeneration: gen,
    });
    const free = p.available > 0;
    status.conditions = setCondition(status.conditions, {
      type: "IPsAvailable",
      status: free ? "True" : "False",
      reason: free ? "AddressesFree" : "SubnetFull",
      message: free ? `${p.available} free` : `all ${p.capacity} addresses are in use`,
      observedGeneration: gen,
    });
  }
  status.observedGeneration = gen;
  return { status, events };
}
