// Kubernetes NetworkPolicy compiled into allow sets per endpoint (pure, no I/O).
//
// Semantics (networking.k8s.io/v1): an endpoint is isolated for ingress (egress) when some
// policy in its namespace selects it and lists Ingress (Egress) in its policyTypes; an
// isolated endpoint accepts only what some rule of some selecting policy allows (the union).
// A connection needs the source's egress and the destination's ingress to allow it.
//
// Peers become numbered sets of IP addresses shared by every rule that names the same peer
// (the data plane keeps one set per id, like Mizar's per-policy bitmaps), so a node's
// program stays small however many of its endpoints a policy selects. Named ports are
// resolved here, on the destination pod's container ports, so the data plane matches numbers
// only: an ingress rule on the endpoint's own ports, an egress rule per destination (one rule
// per number the name means among the peers). ipBlocks are written canonical; IPv6 blocks
// never match IPv4 traffic and are left out.

import type { IPBlock, NetworkPolicy, NetworkPolicyPeer, Protocol } from "../../pkg/kube/core.ts";
import { type LabelSelector, selectorMatches } from "../../pkg/kube/label-selector.ts";
import { cidrContainsIP, formatCIDR, lenientIPv4CIDR, parseIP } from "./ipam.ts";
import {
  ALL_PORTS,
  type CompiledPort,
  mergeRanges,
  type NamedPort,
  type PortRange,
  portAllowed,
  rangesOf,
} from "./policy-ports.ts";

/** What the compiler needs to know about an endpoint. */
export interface PolicyEndpoint {
  /** "namespace/name" of the pod. */
  key: string;
  namespace: string;
  ip: string;
  vni: number;
  labels: Record<string, string>;
  namedPorts?: readonly NamedPort[];
}

export interface NamespaceLabels {
  name: string;
  labels: Record<string, string>;
}

/** One allow rule of one policy, as the data plane checks it. */
export interface CompiledRule {
  /** "namespace/name" of the policy that allows this. */
  policy: string;
  /** Every peer is allowed (the rule has no from/to). */
  anyPeer: boolean;
  /** Ids into the program's peerSets. */
  peerSets: number[];
  ipBlocks: IPBlock[];
  /** Every port and protocol is allowed (the rule has no ports). */
  anyPort: boolean;
  ports: CompiledPort[];
}

export interface DirectionPolicy {
  /** False: not selected by any policy of this direction, so everything is allowed. */
  isolated: boolean;
  /** Policies that select the endpoint for this direction (for "why" answers). */
  policies: string[];
  rules: CompiledRule[];
}

/** The directions a policy isolates: policyTypes, or Ingress plus Egress when it has egress rules. */
export function policyDirections(p: NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = p.spec.policyTypes;
  if (types && types.length > 0)
    return { ingress: types.includes("Ingress"), egress: types.includes("Egress") };
  return { ingress: true, egress: (p.spec.egress?.length ?? 0) > 0 };
}

export function policyName(p: NetworkPolicy): string {
  return `${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`;
}

export function ipInBlock(ip: string, block: IPBlock): boolean {
  const cidr = lenientIPv4CIDR(block.cidr);
  if (!cidr) return false;
  const n = parseIP(ip);
  if (!cidrContainsIP(cidr, n)) return false;
  return !(block.except ?? []).some((e) => {
    const ex = lenientIPv4CIDR(e);
    return ex !== undefined && cidrContainsIP(ex, n);
  });
}

/**
 * An ipBlock as the data plane matches it: canonical network addresses ("192.168.1.5/24" is
 * 192.168.1.0/24); undefined for an IPv6 block, which never matches IPv4 traffic.
 */
export function canonicalBlock(block: IPBlock): IPBlock | undefined {
  const cidr = lenientIPv4CIDR(block.cidr);
  if (!cidr) return undefined;
  const except = (block.except ?? []).flatMap((e) => {
    const ex = lenientIPv4CIDR(e);
    return ex ? [formatCIDR(ex)] : [];
  });
  return { cidr: formatCIDR(cidr), except };
}

/**
 * The endpoints, namespaces and policies of the cluster, indexed for compilation. Built once
 * per snapshot and shared by every node's compile; peer sets are memoised across nodes.
 */
export class PolicyIndex {
  private readonly byNsVni = new Map<string, PolicyEndpoint[]>();
  private readonly byVni = new Map<number, PolicyEndpoint[]>();
  /** "ns|vni" → "k=v" → endpoints: matchLabels candidates without scanning the namespace. */
  private readonly labelPostings = new Map<string, Map<string, PolicyEndpoint[]>>();
  private readonly policiesByNs = new Map<string, NetworkPolicy[]>();
  private readonly namespaces: NamespaceLabels[];
  private readonly peerMemo = new Map<string, PolicyEndpoint[]>();

  constructor(
    endpoints: Iterable<PolicyEndpoint>,
    namespaces: Iterable<NamespaceLabels>,
    policies: Iterable<NetworkPolicy>,
  ) {
    this.namespaces = [...namespaces];
    for (const e of endpoints) {
      const k = `${e.namespace}|${e.vni}`;
      let list = this.byNsVni.get(k);
      if (!list) {
        list = [];
        this.byNsVni.set(k, list);
      }
      list.push(e);
      const inVni = this.byVni.get(e.vni);
      if (inVni) inVni.push(e);
      else this.byVni.set(e.vni, [e]);
      let postings = this.labelPostings.get(k);
      if (!postings) {
        postings = new Map();
        this.labelPostings.set(k, postings);
      }
      for (const [lk, lv] of Object.entries(e.labels)) {
        const pk = `${lk}=${lv}`;
        let pl = postings.get(pk);
        if (!pl) {
          pl = [];
          postings.set(pk, pl);
        }
        pl.push(e);
      }
    }
    for (const p of policies) {
      const ns = p.metadata.namespace ?? "";
      let list = this.policiesByNs.get(ns);
      if (!list) {
        list = [];
        this.policiesByNs.set(ns, list);
      }
      list.push(p);
    }
    for (const list of this.policiesByNs.values())
      list.sort((a, b) => policyName(a).localeCompare(policyName(b)));
  }

  /** Policies of the endpoint's namespace whose podSelector selects it. */
  selecting(e: PolicyEndpoint): NetworkPolicy[] {
    return (this.policiesByNs.get(e.namespace) ?? []).filter((p) =>
      selectorMatches(p.spec.podSelector, e.labels),
    );
  }

  private namespaceLabels(name: string): Record<string, string> {
    return this.namespaces.find((n) => n.name === name)?.labels ?? {};
  }

  private candidates(ns: string, vni: number, podSelector: LabelSelector | undefined): PolicyEndpoint[] {
    const k = `${ns}|${vni}`;
    const labels = Object.entries(podSelector?.matchLabels ?? {});
    if (labels.length === 0) return this.byNsVni.get(k) ?? [];
    const postings = this.labelPostings.get(k);
    if (!postings) return [];
    let best: PolicyEndpoint[] | undefined;
    for (const [lk, lv] of labels) {
      const pl = postings.get(`${lk}=${lv}`) ?? [];
      if (!best || pl.length < best.length) best = pl;
    }
    return best ?? [];
  }

  /** The endpoints (in one VNI) a selector peer of a policy in `policyNs` matches, by IP. */
  peerEndpoints(policyNs: string, peer: NetworkPolicyPeer, vni: number): PolicyEndpoint[] {
    const memoKey = `${policyNs}|${vni}|${JSON.stringify([peer.podSelector ?? null, peer.namespaceSelector ?? null])}`;
    const hit = this.peerMemo.get(memoKey);
    if (hit) return hit;
    const selector = peer.namespaceSelector;
    const namespaces = selector
      ? this.namespaces.filter((n) => selectorMatches(selector, n.labels)).map((n) => n.name)
      : [policyNs];
    const out: PolicyEndpoint[] = [];
    for (const ns of namespaces) {
      for (const e of this.candidates(ns, vni, peer.podSelector)) {
        // An absent podSelector in a peer selects every pod of the selected namespaces.
        if (selectorMatches(peer.podSelector ?? {}, e.labels)) out.push(e);
      }
    }
    out.sort((a, b) => compareIPs(a.ip, b.ip));
    this.peerMemo.set(memoKey, out);
    return out;
  }

  /** The IPs (in one VNI) a selector peer of a policy in `policyNs` matches, sorted. */
  peerIPs(policyNs: string, peer: NetworkPolicyPeer, vni: number): string[] {
    return this.peerEndpoints(policyNs, peer, vni).map((e) => e.ip);
  }

  /** Every endpoint of a VNI (the destinations of an egress rule to any peer). */
  inVni(vni: number): readonly PolicyEndpoint[] {
    return this.byVni.get(vni) ?? [];
  }

  /** Namespace labels as the index sees them (used by the reference checks in tests). */
  labelsOf(ns: string): Record<string, string> {
    return this.namespaceLabels(ns);
  }
}

export function compareIPs(a: string, b: string): number {
  return parseIP(a) - parseIP(b);
}

/** Collects peer sets for one node's program: identical sets get one id. */
export class PeerSetTable {
  readonly sets: string[][] = [];
  private readonly ids = new Map<string, number>();

  idOf(ips: string[]): number {
    const key = ips.join(",");
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(ips);
      this.ids.set(key, id);
    }
    return id;
  }
}

export interface DirectionVerdict {
  allowed: boolean;
  /** Human-readable why. */
  reason: string;
  /** The policy whose rule allowed it, when one did. */
  policy?: string;
}

function peerMatches(rule: CompiledRule, peerSets: readonly (readonly string[])[], peerIP: string): boolean {
  return (
    rule.anyPeer ||
    rule.peerSets.some((id) => peerSets[id]?.includes(peerIP)) ||
    rule.ipBlocks.some((b) => ipInBlock(peerIP, b))
  );
}

/** The ports (of one protocol) one direction of a compiled endpoint allows with a peer. */
export function allowedPorts(
  dir: DirectionPolicy,
  peerSets: readonly (readonly string[])[],
  peerIP: string,
  protocol: Protocol,
): PortRange[] {
  if (!dir.isolated) return [ALL_PORTS];
  return mergeRanges(
    dir.rules.filter((r) => peerMatches(r, peerSets, peerIP)).flatMap((r) => rangesOf(r, protocol)),
  );
}

/** Checks one direction of a compiled endpoint against a peer IP and port (pure; used by net check). */
export function checkDirection(
  dir: DirectionPolicy,
  peerSets: readonly (readonly string[])[],
  peerIP: string,
  protocol: Protocol,
  port: number,
  what: "ingress" | "egress",
): DirectionVerdict {
  if (!dir.isolated) return { allowed: true, reason: `no NetworkPolicy isolates it for ${what}` };
  for (const rule of dir.rules) {
    if (peerMatches(rule, peerSets, peerIP) && portAllowed(rule, protocol, port)) {
      return {
        allowed: true,
        reason: `${what} allowed by NetworkPolicy ${rule.policy}`,
        policy: rule.policy,
      };
    }
  }
  return {
    allowed: false,
    reason: `${what} denied: isolated by NetworkPolicy ${dir.policies.join(", ")} and no rule allows it`,
  };
}
