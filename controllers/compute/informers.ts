// What the VM controller's caches hold: launcher pods slimmed to what status needs (VMs can be
// many), the VMs' Secrets, and only the nodes that run guests.

import type { Pod } from "../../pkg/kube/core.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { IP_ANNOTATION, IPS_ANNOTATION } from "../shared/pod-network.ts";
import { VM_LABEL } from "./api.ts";
import {
  GUESTS_LABEL,
  GUESTS_VALUE,
  isGuestLauncher,
  LAUNCHER_ANNOTATION,
  slimContainerStatuses,
} from "./guest.ts";

/**
 * The VPC address annotations the network pillar writes (the VM's IPs come from them), and
 * whether the launcher boots a guest (its readiness is then the guest's).
 */
function keptAnnotations(a: Record<string, string> | undefined): Record<string, string> | undefined {
  const kept = Object.entries(a ?? {}).filter(
    ([k]) => k === IP_ANNOTATION || k === IPS_ANNOTATION || k === LAUNCHER_ANNOTATION,
  );
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** Launcher pods carry only what status needs in the cache (VMs can be many). */
export function slimPod(obj: KubeObject): KubeObject {
  const p = obj as Pod;
  const slim: Pod = {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      uid: p.metadata.uid,
      resourceVersion: p.metadata.resourceVersion,
      deletionTimestamp: p.metadata.deletionTimestamp,
      labels: p.metadata.labels,
      annotations: keptAnnotations(p.metadata.annotations),
      ownerReferences: p.metadata.ownerReferences,
    },
    spec: { nodeName: p.spec?.nodeName },
    status: {
      phase: p.status?.phase,
      podIP: p.status?.podIP,
      podIPs: p.status?.podIPs,
      conditions: p.status?.conditions?.filter((c) => c.type === "PodScheduled" || c.type === "Ready"),
      // Why a guest is not coming up (guest.ts); plain launchers do not need them.
      ...(isGuestLauncher(p)
        ? {
            initContainerStatuses: slimContainerStatuses(p.status?.initContainerStatuses),
            containerStatuses: slimContainerStatuses(p.status?.containerStatuses),
          }
        : {}),
    },
  };
  return slim;
}

export const podInformer = { labelSelector: VM_LABEL, transform: slimPod };
export const secretInformer = { labelSelector: VM_LABEL };
/** Only the nodes that run guests (a few), never the fleet of kwok nodes. */
export const guestNodeInformer = { labelSelector: `${GUESTS_LABEL}=${GUESTS_VALUE}` };
