// Kubernetes NetworkPolicy compiled into allow sets per endpoint (pure, no I/O).
//
// Semantics (networking.k8s.io/v1): an endpoint is isolated for ingress (egress) when some
// policy in its namespace selects it and lists Ingress (Egress) in its policyTypes; an
// isolated endpoint accepts only what some rule of some selecting policy allows (the union).
// A connection needs the source's egress and the destination's ingress to allow it.
//
// Peers become numbered sets of IP addresses shared by every rule that names the same peer
// (the data plane keeps one set per id, like Mizar's per-policy bitmaps), so a node's
// program stays small however many of its endpoints a policy selects.

import type {
  IPBlock,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
} from "../../pkg/kube/core.ts";
import { type LabelSelector, selectorMatches } from "../../pkg/kube/label-selector.ts";
import { cidrContainsIP, parseCIDR, parseIP } from "./ipam.ts";

/** What the compiler needs to know about an endpoint. */
export interface PolicyEndpoint {
  /** "namespace/name" of the pod. */
  key: string;
  namespace: string;
  ip: string;
  vni: number;
  labels: Record<string, string>;
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
  ports: Array<{ protocol: Protocol; port?: number | string; endPort?: number }>;
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
  const n = parseIP(ip);
  if (!cidrContainsIP(parseCIDR(block.cidr), n)) return false;
  return !(block.except ?? []).some((e) => cidrContainsIP(parseCIDR(e), n));
}

/** Does a compiled port list admit (protocol, port)? port undefined asks "any port at all". */
export function portAllowed(rule: CompiledRule, protocol: Protocol, port: number | undefined): boolean {
  if (rule.anyPort) return true;
  return rule.ports.some((p) => {
    if (p.protocol !== protocol) return false;
    if (p.port === undefined || port === undefined) return true;
    if (typeof p.port === "string") return false; // named ports need the container spec: not resolvable here
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

/**
 * The endpoints, namespaces and policies of the cluster, indexed for compilation. Built once
 * per snapshot and shared by every node's compile; peer sets are memoised across nodes.
 */
export class PolicyIndex {
  private readonly byNsVni = new Map<string, PolicyEndpoint[]>();
  /** "ns|vni" → "k=v" → endpoints: matchLabels candidates without scanning the namespace. */
  private readonly labelPostings = new Map<string, Map<string, PolicyEndpoint[]>>();
  private readonly policiesByNs = new Map<string, NetworkPolicy[]>();
  private readonly namespaces: NamespaceLabels[];
  private readonly peerMemo = new Map<string, string[]>();

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

  /** The IPs (in one VNI) a selector peer of a policy in `policyNs` matches, sorted. */
  peerIPs(policyNs: string, peer: NetworkPolicyPeer, vni: number): string[] {
    const memoKey = `${policyNs}|${vni}|${JSON.stringify([peer.podSelector ?? null, peer.namespaceSelector ?? null])}`;
    const hit = this.peerMemo.get(memoKey);
    if (hit) return hit;
    const selector = peer.namespaceSelector;
    const namespaces = selector
      ? this.namespaces.filter((n) => selectorMatches(selector, n.labels)).map((n) => n.name)
      : [policyNs];
    const ips: string[] = [];
    for (const ns of namespaces) {
      for (const e of this.candidates(ns, vni, peer.podSelector)) {
        // An absent podSelector in a peer selects every pod of the selected namespaces.
        if (selectorMatches(peer.podSelector ?? {}, e.labels)) ips.push(e.ip);
      }
    }
    ips.sort(compareIPs);
    this.peerMemo.set(memoKey, ips);
    return ips;
  }

  /** Namespace labels as the index sees them (used by the reference checks in tests). */
  labelsOf(ns: string): Record<string, string> {
    return this.namespaceLabels(ns);
  }
}

function compareIPs(a: string, b: string): number {
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

function compilePorts(ports: NetworkPolicyPort[] | undefined): Pick<CompiledRule, "anyPort" | "ports"> {
  if (!ports || ports.length === 0) return { anyPort: true, ports: [] };
  return {
    anyPort: false,
    ports: ports.map((p) => ({
      protocol: p.protocol ?? "TCP",
      ...(p.port !== undefined ? { port: p.port } : {}),
      ...(p.endPort !== undefined && typeof p.port === "number" ? { endPort: p.endPort } : {}),
    })),
  };
}

function compileRule(
  index: PolicyIndex,
  table: PeerSetTable,
  policy: NetworkPolicy,
  peers: NetworkPolicyPeer[] | undefined,
  ports: NetworkPolicyPort[] | undefined,
  vni: number,
): CompiledRule {
  const base = { policy: policyName(policy), ...compilePorts(ports) };
  if (!peers || peers.length === 0) return { ...base, anyPeer: true, peerSets: [], ipBlocks: [] };
  const peerSets = new Set<number>();
  const ipBlocks: IPBlock[] = [];
  for (const peer of peers) {
    if (peer.ipBlock) {
      ipBlocks.push({ cidr: peer.ipBlock.cidr, except: [...(peer.ipBlock.except ?? [])] });
    } else if (peer.podSelector || peer.namespaceSelector) {
      peerSets.add(table.idOf(index.peerIPs(policy.metadata.namespace ?? "", peer, vni)));
    }
  }
  return { ...base, anyPeer: false, peerSets: [...peerSets].sort((a, b) => a - b), ipBlocks };
}

/** Ingress and egress allow sets of one endpoint. */
export function compileEndpointPolicy(
  index: PolicyIndex,
  table: PeerSetTable,
  e: PolicyEndpoint,
): { ingress: DirectionPolicy; egress: DirectionPolicy } {
  const ingress: DirectionPolicy = { isolated: false, policies: [], rules: [] };
  const egress: DirectionPolicy = { isolated: false, policies: [], rules: [] };
  for (const p of index.selecting(e)) {
    const dirs = policyDirections(p);
    if (dirs.ingress) {
      ingress.isolated = true;
      ingress.policies.push(policyName(p));
      for (const r of p.spec.ingress ?? [])
        ingress.rules.push(compileRule(index, table, p, r.from, r.ports, e.vni));
    }
    if (dirs.egress) {
      egress.isolated = true;
      egress.policies.push(policyName(p));
      for (const r of p.spec.egress ?? [])
        egress.rules.push(compileRule(index, table, p, r.to, r.ports, e.vni));
    }
  }
  return { ingress, egress };
}

export interface DirectionVerdict {
  allowed: boolean;
  /** Human-readable why. */
  reason: string;
  /** The policy whose rule allowed it, when one did. */
  policy?: string;
}

/** Checks one direction of a compiled endpoint against a peer IP (pure; used by net check). */
export function checkDirection(
  dir: DirectionPolicy,
  peerSets: readonly (readonly string[])[],
  peerIP: string,
  protocol: Protocol,
  port: number | undefined,
  what: "ingress" | "egress",
): DirectionVerdict {
  if (!dir.isolated) return { allowed: true, reason: `no NetworkPolicy isolates it for ${what}` };
  for (const rule of dir.rules) {
    const peerOk =
      rule.anyPeer ||
      rule.peerSets.some((id) => peerSets[id]?.includes(peerIP)) ||
      rule.ipBlocks.some((b) => ipInBlock(peerIP, b));
    if (peerOk && portAllowed(rule, protocol, port)) {
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
