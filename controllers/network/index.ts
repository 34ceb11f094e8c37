// Mizar networking as a ControllerModule: VPCs, subnets, endpoints for pods and VMs, and
// NetworkPolicy compiled into one NodeProgram per node.

import type { ControllerModule } from "../index.ts";
import {
  GROUP,
  NETWORK_CRDS,
  ValidatingAdmissionPolicies,
  ValidatingAdmissionPolicyBindings,
  vpcDeletePolicy,
  vpcDeletePolicyBinding,
} from "./api.ts";
import { setupNetwork } from "./reconcile.ts";

export const networkModule: ControllerModule = {
  name: "network",
  crds: NETWORK_CRDS,
  manifests: [
    { resource: ValidatingAdmissionPolicies, object: vpcDeletePolicy },
    { resource: ValidatingAdmissionPolicyBindings, object: vpcDeletePolicyBinding },
  ],
  rbac: [
    {
      apiGroups: [GROUP],
      resources: ["vpcs", "subnets", "endpoints", "ipaddresses", "nodeprograms"],
      verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    { apiGroups: [GROUP], resources: ["vpcs/status", "subnets/status"], verbs: ["get", "update", "patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["namespaces", "nodes"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
  ],
  setup(manager, client) {
    setupNetwork(manager, client);
  },
};
