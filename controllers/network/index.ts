// Mizar networking as a ControllerModule: VPCs, subnets, endpoints for pods and VMs, and
// NetworkPolicy compiled into one NodeProgram per node.

import { Resources } from "../../pkg/kube/resource.ts";
import type { ControllerModule } from "../module.ts";
import {
  endpointWriterBinding,
  endpointWriterPolicy,
  podSubnetBinding,
  podSubnetPolicy,
} from "./admission.ts";
import { GROUP, NETWORK_CRDS, vpcDeletePolicy, vpcDeletePolicyBinding } from "./api.ts";
import { setupNetwork } from "./setup.ts";
import { TENANT_CRD_NAME, tenantKindInstalled, tenantNetworkController } from "./tenant.ts";

export const networkModule: ControllerModule = {
  name: "network",
  crds: NETWORK_CRDS,
  manifests: [
    { resource: Resources.ValidatingAdmissionPolicy, object: vpcDeletePolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: vpcDeletePolicyBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: podSubnetPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: podSubnetBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: endpointWriterPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: endpointWriterBinding },
  ],
  rbac: [
    {
      apiGroups: [GROUP],
      resources: ["vpcs", "subnets", "vpcendpoints", "vpcaddresses", "nodeprograms"],
      verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    { apiGroups: [GROUP], resources: ["vpcs/status", "subnets/status"], verbs: ["get", "update", "patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
    // The allowed-subnets annotation on tenant namespaces.
    { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
    // A tenant's default VPC and subnet (only when the Tenant kind is installed).
    { apiGroups: ["tenancy.centaurus.io"], resources: ["tenants"], verbs: ["get", "list", "watch"] },
    {
      apiGroups: ["apiextensions.k8s.io"],
      resources: ["customresourcedefinitions"],
      verbs: ["get"],
      resourceNames: [TENANT_CRD_NAME],
    },
  ],
  async setup(manager, client) {
    setupNetwork(manager, client);
    if (await tenantKindInstalled(client))
      manager.add(tenantNetworkController(client, manager.factory, manager.log));
    else manager.log.info("Tenant kind not installed: tenants get no default network");
  },
};
