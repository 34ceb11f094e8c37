// Node profiles: `real` (a kubelet on this machine, see real-node.ts) and the kwok fakes
// `plain`, `gpu` and `edge`: what each kind of fake node declares (pure: no I/O).

import type { KubeObject } from "../kube/object.ts";

export type NodeProfile = "plain" | "gpu" | "edge";
export const NODE_PROFILES: readonly NodeProfile[] = ["plain", "gpu", "edge"];
/** How many nodes of each profile; `real` only where asked for (this machine is one host: 0 or 1). */
export type NodeCounts = Record<NodeProfile, number> & { real?: number };

export const PROFILE_LABEL = "centaurus.io/node-profile";
/**
 * Real nodes run VM guests (the compute pillar's GUESTS_LABEL=GUESTS_VALUE, spelled here as
 * pkg/ imports no controller).
 */
export const GUESTS_NODE_LABEL = "compute.centaurus.io/guests=qemu";
/** kwok manages only nodes carrying this annotation, so real nodes are never touched. */
export const KWOK_ANNOTATION = "kwok.x-k8s.io/node";

export interface NodeObject extends KubeObject {
  spec: { taints?: Array<{ key: string; value?: string; effect: string }> };
  status: { capacity: Record<string, string>; allocatable: Record<string, string> };
}

/** Parses "plain=3,gpu=2,edge=1" into counts; throws a message that shows the expected form. */
export function parseNodeSpec(spec: string): NodeCounts {
  const counts: NodeCounts = { plain: 0, gpu: 0, edge: 0 };
  if (!spec.trim()) return counts;
  for (const part of spec.split(",")) {
    const m = part.trim().match(/^([a-z]+)\s*=\s*(\d+)$/);
    const profile = m?.[1];
    const n = Number(m?.[2]);
    if (profile === "real") {
      if (n > 1) throw new Error(`bad --nodes entry "${part}": a cluster has at most one real node (real=1)`);
      counts.real = n;
      continue;
    }
    if (!m || !NODE_PROFILES.includes(profile as NodeProfile)) {
      throw new Error(
        `bad --nodes entry "${part}": expected profile=count with profile one of real, ${NODE_PROFILES.join(", ")}, e.g. real=1,plain=3,gpu=2,edge=1`,
      );
    }
    counts[profile as NodeProfile] = n;
  }
  return counts;
}

const capacities: Record<NodeProfile, Record<string, string>> = {
  plain: { cpu: "32", memory: "128Gi", pods: "110", "ephemeral-storage": "500Gi" },
  gpu: { cpu: "64", memory: "512Gi", pods: "110", "ephemeral-storage": "1Ti", "nvidia.com/gpu": "8" },
  edge: { cpu: "4", memory: "8Gi", pods: "30", "ephemeral-storage": "64Gi" },
};

const profileLabels: Record<NodeProfile, Record<string, string>> = {
  plain: {},
  gpu: {
    "nvidia.com/gpu.present": "true",
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "nvidia.com/gpu.memory": "81920",
    "nvidia.com/gpu.count": "8",
  },
  edge: { "node-role.kubernetes.io/edge": "", "topology.kubernetes.io/zone": "edge" },
};

export function nodeName(profile: NodeProfile, index: number): string {
  return `kwok-${profile}-${index}`;
}

/** The Node object for one fake node; kwok then keeps its status Ready and heartbeats it. */
export function fakeNode(profile: NodeProfile, index: number): NodeObject {
  const name = nodeName(profile, index);
  const capacity = { ...capacities[profile] };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/role": "agent",
        type: "kwok",
        [PROFILE_LABEL]: profile,
        ...profileLabels[profile],
      },
    },
    // Edge nodes are tainted so ordinary workloads land there only when they ask to.
    spec:
      profile === "edge"
        ? { taints: [{ key: "centaurus.io/edge", value: "true", effect: "NoSchedule" }] }
        : {},
    status: { capacity, allocatable: { ...capacity } },
  };
}

export function fakeNodes(counts: Record<NodeProfile, number>): NodeObject[] {
  return NODE_PROFILES.flatMap((p) => Array.from({ length: counts[p] }, (_, i) => fakeNode(p, i)));
}
