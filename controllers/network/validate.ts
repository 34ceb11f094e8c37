// Checks CEL cannot express because they span objects (pure): overlapping VPCs of one
// tenant, a subnet outside its VPC or overlapping a sibling. The older object keeps its
// place; the newer one is refused with a reason, so nothing is half-made.

import type { Subnet, VPC } from "./api.ts";
import { cidrContains, cidrsOverlap, parseCIDR, parseExclusion, parseIP } from "./ipam.ts";

export interface Problem {
  reason: string;
  message: string;
}

/** Creation order: older first; the name breaks ties so every replica agrees. */
export function createdBefore(
  a: { metadata: { creationTimestamp?: string; name?: string } },
  b: { metadata: { creationTimestamp?: string; name?: string } },
): boolean {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb;
  return (a.metadata.name ?? "") < (b.metadata.name ?? "");
}

export function vpcProblem(vpc: VPC, others: readonly VPC[]): Problem | undefined {
  const mine = parseCIDR(vpc.spec.cidr);
  const tenant = vpc.spec.tenant ?? "";
  for (const o of others) {
    if (o.metadata.name === vpc.metadata.name || (o.spec.tenant ?? "") !== tenant) continue;
    if (o.metadata.deletionTimestamp) continue;
    if (cidrsOverlap(mine, parseCIDR(o.spec.cidr)) && createdBefore(o, vpc)) {
      return {
        reason: "CIDROverlap",
        message: `cidr ${vpc.spec.cidr} overlaps VPC ${o.metadata.name} (${o.spec.cidr}) of the same tenant${tenant ? ` ${tenant}` : ""}`,
      };
    }
  }
  return undefined;
}

export function subnetProblem(
  subnet: Subnet,
  vpc: VPC | undefined,
  siblings: readonly Subnet[],
): Problem | undefined {
  if (!vpc || vpc.metadata.deletionTimestamp) {
    return { reason: "VPCNotFound", message: `VPC ${subnet.spec.vpc} does not exist` };
  }
  const mine = parseCIDR(subnet.spec.cidr);
  if (!cidrContains(parseCIDR(vpc.spec.cidr), mine)) {
    return {
      reason: "SubnetOutsideVPC",
      message: `cidr ${subnet.spec.cidr} is not inside VPC ${subnet.spec.vpc} (${vpc.spec.cidr})`,
    };
  }
  for (const o of siblings) {
    if (o.metadata.name === subnet.metadata.name || o.spec.vpc !== subnet.spec.vpc) continue;
    if (cidrsOverlap(mine, parseCIDR(o.spec.cidr)) && createdBefore(o, subnet)) {
      return {
        reason: "SubnetOverlap",
        message: `cidr ${subnet.spec.cidr} overlaps subnet ${o.metadata.name} (${o.spec.cidr}) of VPC ${subnet.spec.vpc}`,
      };
    }
  }
  for (const e of subnet.spec.excludeIPs ?? []) {
    try {
      parseExclusion(e);
    } catch (err) {
      return { reason: "InvalidExcludeIPs", message: `excludeIPs entry "${e}": ${(err as Error).message}` };
    }
  }
  if (subnet.spec.gateway) parseIP(subnet.spec.gateway);
  return undefined;
}
