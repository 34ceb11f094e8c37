// A tenant's default network: every Tenant (tenancy.centaurus.io, defined by the tenancy
// pillar) with spec.network.vpcCIDR gets a VPC and a Subnet "<tenant>-default", owned by the
// Tenant, whose namespaces are the tenant's (labelled tenancy.centaurus.io/tenant=<tenant>).
// Runs only when the Tenant kind is installed: this module does not define it.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { Controller, TerminalError } from "../../pkg/controller/controller.ts";
import { mapAll, mapByLabel } from "../../pkg/controller/mappers.ts";
import { watch } from "../../pkg/controller/watch.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isInvalid, isNotFound } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { defineResource, Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import { ALLOWED_SUBNETS_ANNOTATION, allowedSubnets } from "./access.ts";
import { API_VERSION, type Subnet, Subnets, type VPC, VPCs } from "./api.ts";
import { SUBNET_INFORMER } from "./informers.ts";
import { isCIDR } from "./ipam.ts";

export const Tenants = defineResource<TenantView>({
  group: "tenancy.centaurus.io",
  version: "v1alpha1",
  plural: "tenants",
  kind: "Tenant",
  namespaced: false,
});
export const TENANT_CRD_NAME = "tenants.tenancy.centaurus.io";

export interface TenantView extends KubeObject {
  spec?: { network?: { vpcCIDR?: string; subnetCIDR?: string } };
}

export function defaultNetworkName(tenant: string): string {
  return `${tenant}-default`;
}

/** The default VPC and Subnet a tenant should have, or undefined when it asks for none (pure). */
export function desiredTenantNetwork(
  tenant: TenantView,
  namespaces: string[],
): { vpc: VPC; subnet: Subnet } | undefined {
  const cidr = tenant.spec?.network?.vpcCIDR;
  const name = tenant.metadata.name ?? "";
  if (!cidr) return undefined;
  if (!isCIDR(cidr))
    throw new TerminalError(`spec.network.vpcCIDR "${cidr}" is not an IPv4 CIDR with zero host bits`);
  const subnetCIDR = tenant.spec?.network?.subnetCIDR ?? cidr;
  if (!isCIDR(subnetCIDR))
    throw new TerminalError(`spec.network.subnetCIDR "${subnetCIDR}" is not an IPv4 CIDR`);
  const owner = controllerReference({
    ...tenant,
    apiVersion: `${Tenants.group}/${Tenants.version}`,
    kind: "Tenant",
  });
  const metadata = (kind: string) => ({
    name: defaultNetworkName(name),
    labels: { [TENANT_LABEL]: name, "app.kubernetes.io/managed-by": "centaurus" },
    ownerReferences: [{ ...owner, blockOwnerDeletion: false }],
    annotations: { "network.centaurus.io/default-for": `${kind} of tenant ${name}` },
  });
  return {
    vpc: {
      apiVersion: API_VERSION,
      kind: "VPC",
      metadata: metadata("VPC"),
      spec: { cidr, tenant: name, dividers: 1 },
    },
    subnet: {
      apiVersion: API_VERSION,
      kind: "Subnet",
      metadata: metadata("Subnet"),
      spec: {
        vpc: defaultNetworkName(name),
        cidr: subnetCIDR,
        namespaces: [...namespaces].sort(),
        bouncers: 1,
      },
    },
  };
}

export async function tenantKindInstalled(client: KubeClient): Promise<boolean> {
  try {
    await client.get(Resources.CustomResourceDefinition, TENANT_CRD_NAME);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

const ACCESS_FIELD_MANAGER = "centaurus-network-access";

/**
 * Writes on each of the tenant's namespaces the subnets its pods may join (its own field
 * manager, so the tenancy controller's apply of the namespace never removes it).
 */
async function keepAllowedSubnets(
  client: KubeClient,
  tenant: string,
  namespaces: readonly KubeObject[],
  subnets: readonly Subnet[],
  vpcOf: (name: string) => VPC | undefined,
): Promise<void> {
  for (const ns of namespaces) {
    const name = ns.metadata.name ?? "";
    const allowed = allowedSubnets(tenant, name, subnets, vpcOf).join(", ");
    if (ns.metadata.annotations?.[ALLOWED_SUBNETS_ANNOTATION] === allowed) continue;
    // A merge patch, not an apply: it never creates a namespace that was deleted meanwhile.
    const body = { metadata: { annotations: { [ALLOWED_SUBNETS_ANNOTATION]: allowed } } };
    await client
      .patch(Resources.Namespace, name, undefined, "merge", body, { fieldManager: ACCESS_FIELD_MANAGER })
      .catch((err) => {
        if (!isNotFound(err)) throw err;
      });
  }
}

export function tenantNetworkController(
  client: KubeClient,
  factory: SharedInformerFactory,
  logger?: Logger,
): Controller {
  const events = new EventRecorder(client, "centaurus.io/network", "network", logger);
  const tenants = factory.informerFor(Tenants);
  return new Controller({
    name: "network-tenant",
    for: Tenants,
    owns: [{ resource: VPCs }, { resource: Subnets }],
    watches: [
      // A tenant's namespaces are its default subnet's namespaces.
      watch({ resource: Resources.Namespace, map: mapByLabel(TENANT_LABEL, { namespaced: false }) }),
      // Any subnet may be opened to any tenant (spec.tenants, spec.shared): few tenants, few subnets.
      watch({ resource: Subnets, informer: SUBNET_INFORMER, map: mapAll(tenants) }),
      watch({ resource: VPCs, map: (v) => (v.spec.tenant ? [v.spec.tenant] : []) }),
    ],
    concurrency: 2,
    logger,
    reconcile: async (req, ctx) => {
      const tenant = ctx.cache.informerFor(Tenants).store.get(req.key);
      if (!tenant || tenant.metadata.deletionTimestamp) return; // its VPC and Subnet go with it (owner references)
      const namespaceObjects = ctx.cache
        .informerFor(Resources.Namespace)
        .store.list()
        .filter((n) => n.metadata.labels?.[TENANT_LABEL] === req.name && !n.metadata.deletionTimestamp);
      const namespaces = namespaceObjects.map((n) => n.metadata.name ?? "");
      const vpcs = ctx.cache.informerFor(VPCs);
      const subnets = ctx.cache.informerFor(Subnets, SUBNET_INFORMER).store.list();
      await keepAllowedSubnets(client, req.name, namespaceObjects, subnets, (n) => vpcs.store.get(n));
      let desired: ReturnType<typeof desiredTenantNetwork>;
      try {
        desired = desiredTenantNetwork(tenant, namespaces);
      } catch (err) {
        if (err instanceof TerminalError)
          await events.record(tenant, "Warning", "InvalidNetwork", err.message);
        throw err;
      }
      if (!desired) return;
      try {
        await apply(client, VPCs, desired.vpc);
        await apply(client, Subnets, desired.subnet);
      } catch (err) {
        if (isInvalid(err)) {
          const msg = err instanceof ApiError ? err.message : String(err);
          await events.record(tenant, "Warning", "DefaultNetworkRejected", msg);
          throw new TerminalError(msg);
        }
        throw err;
      }
    },
  });
}
