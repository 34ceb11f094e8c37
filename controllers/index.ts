// Every pillar's controllers, as the manager and the CLI see them. A pillar adds one entry.

import type { KubeClient } from "../pkg/kube/client.ts";
import type { CRDSpec } from "../pkg/kube/crd.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import type { ResourceType } from "../pkg/kube/resource.ts";
import type { Manager } from "../pkg/manager/manager.ts";
import { aiModule } from "./ai/index.ts";
import { computeModule } from "./compute/index.ts";
import { edgeModule } from "./edge/index.ts";
import { networkModule } from "./network/index.ts";
import { tenancyModule } from "./tenancy/index.ts";

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

export const controllerModules: ControllerModule[] = [
  tenancyModule,
  computeModule,
  networkModule,
  edgeModule,
  aiModule,
];

export function allCRDs(): CRDSpec[] {
  return controllerModules.flatMap((m) => m.crds);
}

export function selectModules(names: string | undefined): ControllerModule[] {
  if (!names || names === "*" || names === "all") return controllerModules;
  const wanted = names.split(",").map((s) => s.trim());
  const unknown = wanted.filter((w) => !controllerModules.some((m) => m.name === w));
  if (unknown.length) {
    throw new Error(
      `unknown controllers: ${unknown.join(", ")}; known: ${controllerModules.map((m) => m.name).join(", ") || "(none yet)"}`,
    );
  }
  return controllerModules.filter((m) => wanted.includes(m.name));
}
