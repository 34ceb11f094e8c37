// The "tenancy" module: the Tenant kind, its controller, admission policies and RBAC.

import { Resources } from "../../pkg/kube/resource.ts";
import type { ControllerModule, PolicyRule } from "../module.ts";
import { addressesInstalled, VPC_ADDRESS_CRD } from "./addresses.ts";
import { tenantCRD } from "./api.ts";
import {
  runtimeClassBinding,
  runtimeClassPolicy,
  tenantGuardBinding,
  tenantGuardPolicy,
  tenantLabelBinding,
  tenantLabelPolicy,
} from "./policies.ts";
import { tenantController } from "./reconcile.ts";

const rw = ["get", "list", "watch", "create", "update", "patch", "delete"];

export const tenancyRBAC: PolicyRule[] = [
  {
    apiGroups: ["tenancy.centaurus.io"],
    resources: ["tenants"],
    verbs: ["get", "list", "watch", "update", "patch"],
  },
  { apiGroups: ["tenancy.centaurus.io"], resources: ["tenants/status"], verbs: ["get", "update", "patch"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: rw },
  { apiGroups: [""], resources: ["resourcequotas", "limitranges"], verbs: rw },
  { apiGroups: [""], resources: ["resourcequotas/status"], verbs: ["get", "update", "patch"] },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: rw },
  // The tenant-admin Role grants what the manager itself need not hold: bind/escalate let it
  // write that Role and bind it without holding every permission in it.
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
    verbs: [...rw, "bind", "escalate"],
  },
  // Naming the objects a terminating namespace waits for (their finalizers) needs to list
  // whatever kinds the namespace controller reports as remaining.
  { apiGroups: ["*"], resources: ["*"], verbs: ["list"] },
  // The addresses each tenant holds, for its status (when the network kinds are installed).
  { apiGroups: ["network.centaurus.io"], resources: ["vpcaddresses"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: ["apiextensions.k8s.io"],
    resources: ["customresourcedefinitions"],
    verbs: ["get"],
    resourceNames: [VPC_ADDRESS_CRD],
  },
];

export const tenancyModule: ControllerModule = {
  name: "tenancy",
  crds: [tenantCRD],
  manifests: [
    { resource: Resources.ValidatingAdmissionPolicy, object: tenantGuardPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: tenantGuardBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: runtimeClassPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: runtimeClassBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: tenantLabelPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: tenantLabelBinding },
  ],
  rbac: tenancyRBAC,
  async setup(manager, client) {
    manager.add(tenantController(client, { addresses: await addressesInstalled(client) }));
  },
};
