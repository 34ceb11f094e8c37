// Which nodes' programs a change affects (pure, no I/O): a change recompiles only those.
// - an endpoint: its host, its subnet's bouncers, and the hosts of endpoints selected by a
//   policy that names it as a peer (their allow sets list its address);
// - a policy: the hosts of the endpoints it selects (its allow sets live there and only there).

import type { NetworkPolicy } from "../../pkg/kube/core.ts";
import { selectorMatches } from "../../pkg/kube/label-selector.ts";
import type { Endpoint } from "./api.ts";
import { pickNodes } from "./program.ts";

/** Nodes hosting the endpoints (of the policy's namespace) that a policy selects. */
export function nodesSelectedBy(p: NetworkPolicy, endpointsInNamespace: readonly Endpoint[]): Set<string> {
  const out = new Set<string>();
  for (const e of endpointsInNamespace) {
    if (e.spec.node && selectorMatches(p.spec.podSelector, e.spec.podLabels ?? {})) out.add(e.spec.node);
  }
  return out;
}

/**
 * Whether a policy's compiled rules can list the endpoint's address: it names the endpoint as
 * a peer by selector, or an egress rule has a named port (resolved on each destination, so
 * any endpoint the rule reaches, by ipBlock or with no peers at all, takes part). Other
 * ipBlocks never change with endpoints.
 */
export function policyPeers(p: NetworkPolicy, e: Endpoint, namespaceLabels: Record<string, string>): boolean {
  const namedEgress = (p.spec.egress ?? []).some((r) =>
    (r.ports ?? []).some((x) => typeof x.port === "string"),
  );
  if (namedEgress && e.spec.namedPorts?.length) return true;
  const rules = [...(p.spec.ingress ?? []).map((r) => r.from), ...(p.spec.egress ?? []).map((r) => r.to)];
  return rules.some((peers) =>
    (peers ?? []).some((peer) => {
      if (peer.ipBlock) return false;
      const nsOk = peer.namespaceSelector
        ? selectorMatches(peer.namespaceSelector, namespaceLabels)
        : p.metadata.namespace === e.metadata.namespace;
      // An absent podSelector in a peer selects every pod of the selected namespaces.
      return nsOk && selectorMatches(peer.podSelector ?? {}, e.spec.podLabels ?? {});
    }),
  );
}

/** Each subnet's bouncer nodes (depends on nodes and subnets only). */
export function bouncerMap(
  nodeNames: readonly string[],
  subnets: ReadonlyArray<{ name: string; bouncers?: number }>,
): Map<string, string[]> {
  const names = [...nodeNames].sort();
  return new Map(subnets.map((s) => [s.name, pickNodes(`subnet:${s.name}`, names, s.bouncers ?? 1)]));
}

export interface AffectedNodesInput {
  /** The subnet's bouncers. */
  bouncersOf(subnet: string): readonly string[];
  /** Every policy. */
  policies: readonly NetworkPolicy[];
  namespaceLabels(namespace: string): Record<string, string>;
  endpointsInNamespace(namespace: string): readonly Endpoint[];
}

/** The nodes whose programs an endpoint's existence changes. */
export function endpointNodes(e: Endpoint, w: AffectedNodesInput): string[] {
  const nsLabels = w.namespaceLabels(e.metadata.namespace ?? "");
  const peering = new Set<string>();
  for (const p of w.policies) {
    if (!policyPeers(p, e, nsLabels)) continue;
    for (const n of nodesSelectedBy(p, w.endpointsInNamespace(p.metadata.namespace ?? ""))) peering.add(n);
  }
  return [...(e.spec.node ? [e.spec.node] : []), ...w.bouncersOf(e.spec.subnet), ...peering];
}
