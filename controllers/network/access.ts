// Which subnets a tenant's pods may join (pure). A tenant is known by its namespace: a pod in
// a tenant namespace may join a subnet of a VPC its tenant owns, or one a cluster admin opened
// to it (Subnet spec.tenants, spec.shared, or its namespace listed in spec.namespaces).
// Namespaces of no tenant are the cluster admins' own: nothing is restricted there.

import type { Subnet, VPC } from "./api.ts";

/** On each tenant namespace: the subnets its pods may join, for the admission policy to read. */
export const ALLOWED_SUBNETS_ANNOTATION = "network.centaurus.io/allowed-subnets";

export function subnetOpenTo(
  subnet: Subnet,
  vpc: VPC | undefined,
  tenant: string,
  namespace: string,
): boolean {
  if (subnet.metadata.deletionTimestamp) return false;
  return (
    (vpc?.spec.tenant !== undefined && vpc.spec.tenant === tenant) ||
    subnet.spec.shared === true ||
    (subnet.spec.tenants ?? []).includes(tenant) ||
    (subnet.spec.namespaces ?? []).includes(namespace)
  );
}

/** The subnets a namespace of `tenant` may join, sorted by name. */
export function allowedSubnets(
  tenant: string,
  namespace: string,
  subnets: readonly Subnet[],
  vpcOf: (name: string) => VPC | undefined,
): string[] {
  return subnets
    .filter((s) => subnetOpenTo(s, vpcOf(s.spec.vpc), tenant, namespace))
    .map((s) => s.metadata.name ?? "")
    .sort();
}

/** Why a pod of `tenant` may not join the subnets it names, or undefined when it may. */
export function subnetRefusal(
  wanted: readonly string[],
  tenant: string,
  namespace: string,
  subnetOf: (name: string) => Subnet | undefined,
  vpcOf: (name: string) => VPC | undefined,
  allowed: () => string[],
): string | undefined {
  const refused = wanted.filter((name) => {
    const s = subnetOf(name);
    // A subnet that does not exist yet is waited for (SubnetNotReady), not refused.
    return s !== undefined && !subnetOpenTo(s, vpcOf(s.spec.vpc), tenant, namespace);
  });
  if (refused.length === 0) return undefined;
  const may = allowed();
  return `subnet ${refused.join(", ")} is not open to tenant ${tenant}; its pods may join: ${may.length ? may.join(", ") : "(none)"}`;
}
