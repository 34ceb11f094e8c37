// The IP addresses a tenant holds, for its status: the network pillar's VPCAddress claims, which
// carry the tenant of their pod's namespace (never the pod's own label) and are written by the
// operator alone, so their count is trustworthy. Read only when the network kinds are installed.

import { mapByLabel } from "../../pkg/controller/mappers.ts";
import { anyOf, createdOnly, deletedOnly } from "../../pkg/controller/predicates.ts";
import { type Watch, watch } from "../../pkg/controller/watch.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { defineResource, Resources } from "../../pkg/kube/resource.ts";
import { TENANT_LABEL } from "./api.ts";
import { TENANT_OWNED_INFORMER } from "./informers.ts";

export const VPCAddressResource = defineResource({
  group: "network.centaurus.io",
  version: "v1alpha1",
  plural: "vpcaddresses",
  kind: "VPCAddress",
  namespaced: false,
});
export const VPC_ADDRESS_CRD = "vpcaddresses.network.centaurus.io";

/**
 * A watch on the tenants' address claims (created and deleted), mapped to the tenant named by
 * their label, which the operator writes from the pod's namespace.
 */
export function addressesWatch(delayMs?: number): Watch<KubeObject> {
  return watch({
    resource: VPCAddressResource,
    informer: TENANT_OWNED_INFORMER,
    map: mapByLabel(TENANT_LABEL, { namespaced: false }),
    predicate: anyOf(createdOnly, deletedOnly),
    ...(delayMs ? { delayMs } : {}),
  });
}
/** The key under which status.used shows the addresses held (no quota: shown, not limited). */
export const IP_ADDRESSES_KEY = "ip-addresses";

export function addressesInstalled(client: KubeClient): Promise<boolean> {
  return crdInstalled(client, VPC_ADDRESS_CRD);
}

/** Whether a CRD is installed (another pillar's kinds, read only when present). */
export async function crdInstalled(client: KubeClient, name: string): Promise<boolean> {
  try {
    await client.get(Resources.CustomResourceDefinition, name);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
