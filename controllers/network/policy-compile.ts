// Compiling NetworkPolicy rules into the allow sets of one endpoint (pure): peers become
// shared peer-set ids and canonical ipBlocks; named ports are resolved on the destination
// pod (the endpoint itself for ingress, each peer for egress), so the data plane and net
// check match numbers only. The semantics are described in policy.ts.

import type {
  IPBlock,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
} from "../../pkg/kube/core.ts";
import {
  type CompiledRule,
  canonicalBlock,
  compareIPs,
  type DirectionPolicy,
  ipInBlock,
  type PeerSetTable,
  type PolicyEndpoint,
  type PolicyIndex,
  policyDirections,
  policyName,
} from "./policy.ts";
import { type CompiledPort, resolveNamedPort } from "./policy-ports.ts";

/** A rule's numbered ports, and its named ones left to resolve. */
function splitPorts(ports: NetworkPolicyPort[]): {
  numbered: CompiledPort[];
  named: Array<{ name: string; protocol: Protocol }>;
} {
  const numbered: CompiledPort[] = [];
  const named: Array<{ name: string; protocol: Protocol }> = [];
  for (const p of ports) {
    const protocol = p.protocol ?? "TCP";
    if (typeof p.port === "string") named.push({ name: p.port, protocol });
    else
      numbered.push({
        protocol,
        ...(p.port !== undefined ? { port: p.port } : {}),
        ...(p.endPort !== undefined && p.port !== undefined ? { endPort: p.endPort } : {}),
      });
  }
  return { numbered, named };
}

type PeerPart = Pick<CompiledRule, "anyPeer" | "peerSets" | "ipBlocks">;

/** The peers of a rule as peer-set ids and canonical ipBlocks. */
function compilePeers(
  index: PolicyIndex,
  table: PeerSetTable,
  policyNs: string,
  peers: NetworkPolicyPeer[] | undefined,
  vni: number,
): PeerPart {
  if (!peers || peers.length === 0) return { anyPeer: true, peerSets: [], ipBlocks: [] };
  const peerSets = new Set<number>();
  const ipBlocks: IPBlock[] = [];
  for (const peer of peers) {
    if (peer.ipBlock) {
      const block = canonicalBlock(peer.ipBlock);
      if (block) ipBlocks.push(block);
    } else if (peer.podSelector || peer.namespaceSelector) {
      peerSets.add(table.idOf(index.peerIPs(policyNs, peer, vni)));
    }
  }
  return { anyPeer: false, peerSets: [...peerSets].sort((a, b) => a - b), ipBlocks };
}

/** The endpoints an egress rule's peers can reach (named ports resolve on these). */
function destinations(
  index: PolicyIndex,
  policyNs: string,
  peers: NetworkPolicyPeer[] | undefined,
  vni: number,
): PolicyEndpoint[] {
  if (!peers || peers.length === 0) return [...index.inVni(vni)];
  const out = new Map<string, PolicyEndpoint>();
  for (const peer of peers) {
    const block = peer.ipBlock;
    const matched = block
      ? index.inVni(vni).filter((e) => ipInBlock(e.ip, block))
      : peer.podSelector || peer.namespaceSelector
        ? index.peerEndpoints(policyNs, peer, vni)
        : [];
    for (const e of matched) out.set(e.ip, e);
  }
  return [...out.values()];
}

interface RuleSource {
  policy: NetworkPolicy;
  peers: NetworkPolicyPeer[] | undefined;
  ports: NetworkPolicyPort[] | undefined;
}

/** One rule of a policy, compiled for endpoint `self` in one direction (zero or more rules). */
function compileRule(
  index: PolicyIndex,
  table: PeerSetTable,
  self: PolicyEndpoint,
  direction: "ingress" | "egress",
  src: RuleSource,
): CompiledRule[] {
  const policy = policyName(src.policy);
  const policyNs = src.policy.metadata.namespace ?? "";
  const peerPart = () => compilePeers(index, table, policyNs, src.peers, self.vni);
  if (!src.ports || src.ports.length === 0) return [{ policy, ...peerPart(), anyPort: true, ports: [] }];
  const { numbered, named } = splitPorts(src.ports);
  if (direction === "ingress") {
    // The destination is the endpoint itself: its own container ports give the numbers.
    for (const n of named) {
      const port = resolveNamedPort(self.namedPorts, n.name, n.protocol);
      if (port !== undefined) numbered.push({ protocol: n.protocol, port });
    }
    return numbered.length ? [{ policy, ...peerPart(), anyPort: false, ports: numbered }] : [];
  }
  const out: CompiledRule[] = numbered.length
    ? [{ policy, ...peerPart(), anyPort: false, ports: numbered }]
    : [];
  if (named.length === 0) return out;
  // Egress: the name means a number per destination pod; one rule per (name, number).
  const dests = destinations(index, policyNs, src.peers, self.vni);
  for (const n of named) {
    const byPort = new Map<number, string[]>();
    for (const d of dests) {
      const port = resolveNamedPort(d.namedPorts, n.name, n.protocol);
      if (port === undefined) continue;
      const ips = byPort.get(port);
      if (ips) ips.push(d.ip);
      else byPort.set(port, [d.ip]);
    }
    for (const [port, ips] of [...byPort].sort((a, b) => a[0] - b[0])) {
      out.push({
        policy,
        anyPeer: false,
        peerSets: [table.idOf(ips.sort(compareIPs))],
        ipBlocks: [],
        anyPort: false,
        ports: [{ protocol: n.protocol, port }],
      });
    }
  }
  return out;
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
        ingress.rules.push(
          ...compileRule(index, table, e, "ingress", { policy: p, peers: r.from, ports: r.ports }),
        );
    }
    if (dirs.egress) {
      egress.isolated = true;
      egress.policies.push(policyName(p));
      for (const r of p.spec.egress ?? [])
        egress.rules.push(
          ...compileRule(index, table, e, "egress", { policy: p, peers: r.to, ports: r.ports }),
        );
    }
  }
  return { ingress, egress };
}
