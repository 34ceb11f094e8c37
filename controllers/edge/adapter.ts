// What differs between the distributions a child cluster may run, behind one interface: how
// the operator learns the cluster's identity, and counts its nodes and capacity.
//
// - k8s: identity is the uid of the kube-system namespace (stable for the life of the
//   cluster, the usual cluster-id convention); every Node counts.
// - k3s: the same API and the same identity; its server also registers itself as a Node and
//   runs workloads, so it is counted like any other node.
// - arktos: namespaces live inside tenants; kube-system is the system tenant's, reached at
//   /api/v1/tenants/system/namespaces/kube-system. Nodes are cluster-wide (resource partitions
//   are served through the same /api/v1/nodes on the tenant partition's API server).

import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Distro } from "./api.ts";

export interface ClusterProbe {
  clusterID: string;
  nodes: { ready: number; total: number };
  capacity: Record<string, string>;
}

export interface DistroAdapter {
  distro: Distro;
  /** One heartbeat: identity, node counts and capacity; throws when the cluster does not answer. */
  probe(client: KubeClient, signal?: AbortSignal): Promise<ClusterProbe>;
}

interface Node extends KubeObject {
  status?: {
    conditions?: Array<{ type: string; status: string }>;
    capacity?: Record<string, string>;
  };
}

/** Adds Kubernetes quantities: whole numbers and binary/decimal suffixes, summed in their base unit. */
export function sumQuantities(values: readonly string[]): string {
  const units: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    m: 1e-3,
  };
  let total = 0;
  let binary = false;
  for (const v of values) {
    const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(v.trim());
    if (!m) continue;
    const unit = m[2] ?? "";
    if (unit.endsWith("i")) binary = true;
    total += Number(m[1]) * (units[unit] ?? 1);
  }
  if (binary && total >= 2 ** 30 && total % 2 ** 30 === 0) return `${total / 2 ** 30}Gi`;
  if (binary && total % 2 ** 20 === 0 && total >= 2 ** 20) return `${total / 2 ** 20}Mi`;
  if (binary && total % 2 ** 10 === 0 && total >= 2 ** 10) return `${total / 2 ** 10}Ki`;
  return Number.isInteger(total) ? String(total) : `${Math.round(total * 1000)}m`;
}

export function summarizeNodes(nodes: readonly Node[]): Omit<ClusterProbe, "clusterID"> {
  let ready = 0;
  const perResource = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ready++;
    for (const [k, v] of Object.entries(n.status?.capacity ?? {})) {
      if (!perResource.has(k)) perResource.set(k, []);
      perResource.get(k)?.push(v);
    }
  }
  const capacity: Record<string, string> = {};
  for (const k of [...perResource.keys()].sort()) capacity[k] = sumQuantities(perResource.get(k) ?? []);
  return { nodes: { ready, total: nodes.length }, capacity };
}

class KubernetesAdapter implements DistroAdapter {
  constructor(
    readonly distro: Distro,
    private readonly identityPath: string,
  ) {}

  async probe(client: KubeClient, signal?: AbortSignal): Promise<ClusterProbe> {
    const ns = await client.request<KubeObject>("GET", this.identityPath, { signal });
    const nodes = await client.list<Node>(Resources.Node, { signal });
    return { clusterID: ns.metadata.uid ?? "", ...summarizeNodes(nodes.items) };
  }
}

const adapters: Record<Distro, DistroAdapter> = {
  k8s: new KubernetesAdapter("k8s", "/api/v1/namespaces/kube-system"),
  k3s: new KubernetesAdapter("k3s", "/api/v1/namespaces/kube-system"),
  arktos: new KubernetesAdapter("arktos", "/api/v1/tenants/system/namespaces/kube-system"),
};

export function adapterFor(distro: Distro | undefined): DistroAdapter {
  return adapters[distro ?? "k8s"];
}
