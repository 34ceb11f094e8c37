// The contract between a pillar and the manager/CLI: what a pillar ships (CRDs, manifests,
// RBAC) and how it adds its controllers. Its own module so that pillars import the contract
// without importing the list of pillars (which imports them: a cycle).

import type { KubeClient } from "../pkg/kube/client.ts";
import type { CRDSpec } from "../pkg/kube/crd.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import type { ResourceType } from "../pkg/kube/resource.ts";
import type { Manager } from "../pkg/manager/manager.ts";

export interface ControllerModule {
  /** Name used by --controllers, e.g. "tenancy". */
  name: string;
  /** The kinds it serves (generated into crds/ by hack/gen-crds.ts). */
  crds: CRDSpec[];
  /**
   * Cluster objects it needs beside its CRDs (admission policies, RuntimeClasses, roles);
   * installed with the CRDs, rendered into the chart.
   */
  manifests?: Array<{ resource: ResourceType; object: KubeObject }>;
  /**
   * The RBAC rules its controllers need (least privilege); the chart's ClusterRole is the
   * union over the enabled modules, so a rule missing here fails the chart's e2e test.
   */
  rbac: PolicyRule[];
  /** Adds its controllers to the manager. */
  setup(manager: Manager, client: KubeClient): void | Promise<void>;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** What every manager needs whatever it runs: leader election and events. */
export const BASE_RBAC: PolicyRule[] = [
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["get", "list", "watch", "create", "update", "patch"],
  },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch", "update"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create", "patch", "update"] },
];
