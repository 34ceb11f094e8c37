// The informer options the tenancy pillar declares once and shares (informerFor keeps the
// first caller's options, so every caller uses these constants).

import { labelIndex } from "../../pkg/cache/store.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { identityMeta, type KubeObject, pickKeys } from "../../pkg/kube/object.ts";
import { defineResource } from "../../pkg/kube/resource.ts";
import { GPU_COMPUTE_ANNOTATION, GPU_MEMORY_ANNOTATION } from "../shared/gpu-share.ts";
import { TENANT_LABEL } from "./api.ts";

/** The index of TENANT_OWNED_INFORMER that lists a tenant's objects by the tenant's name. */
export const TENANT_INDEX = "tenant";

/**
 * Every kind a tenant owns (namespaces included) is watched with this one set of options, the
 * owns watches too (an owns watch without the index would make the reconciler's lookup fail).
 */
export const TENANT_OWNED_INFORMER = {
  labelSelector: TENANT_LABEL,
  indexers: { [TENANT_INDEX]: labelIndex(TENANT_LABEL) },
};

/**
 * Pods that hold quota (not finished), shrunk to what the ledger charges. A pod that finishes
 * leaves the selection, so the informer reports it deleted: its charge goes.
 */
export const LEDGER_POD_INFORMER = {
  fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
  transform: (p: KubeObject): KubeObject => leanLedgerPod(p as Pod),
};

export function leanLedgerPod(p: Pod): Pod {
  const resources = (c: { name: string; resources?: unknown; restartPolicy?: string }) => ({
    name: c.name,
    resources: c.resources,
    ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}),
  });
  const spec = (p.spec ?? {}) as NonNullable<Pod["spec"]> & {
    initContainers?: Array<{ name: string; resources?: unknown; restartPolicy?: string }>;
    overhead?: Record<string, string>;
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...identityMeta(p.metadata),
      annotations: pickKeys(
        p.metadata.annotations,
        (k) => k === GPU_COMPUTE_ANNOTATION || k === GPU_MEMORY_ANNOTATION,
      ),
    },
    spec: {
      containers: (spec.containers ?? []).map(resources),
      ...(spec.initContainers ? { initContainers: spec.initContainers.map(resources) } : {}),
      ...(spec.overhead ? { overhead: spec.overhead } : {}),
    } as Pod["spec"],
    status: { phase: p.status?.phase },
  };
}

/** The compute pillar's VirtualMachines, named here so tenancy does not import that pillar. */
export const VirtualMachineKind = defineResource({
  group: "compute.centaurus.io",
  version: "v1alpha1",
  plural: "virtualmachines",
  kind: "VirtualMachine",
  namespaced: true,
});
export const VIRTUAL_MACHINE_CRD = "virtualmachines.compute.centaurus.io";
