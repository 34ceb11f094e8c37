// Builds one node's program (pure): its local endpoints with their compiled policy, for each
// VNI on the node the subnets with their bouncers and dividers, the endpoint → host map of
// the subnets it bounces for, and its roles. Output is sorted so that the same inputs give
// the same object and the controller writes only when something changed.

import type { NetworkPolicy } from "../../pkg/kube/core.ts";
import type { NamedPort, NodeProgramSpec, ProgramEndpoint, ProgramNetwork } from "./api.ts";
import { parseCIDR, parseIP } from "./ipam.ts";
import { type NamespaceLabels, PeerSetTable, type PolicyEndpoint, PolicyIndex } from "./policy.ts";
import { compileEndpointPolicy } from "./policy-compile.ts";

export interface WorldNode {
  name: string;
  /** Underlay address (InternalIP); "" when the node reports none. */
  ip: string;
}

export interface WorldVPC {
  name: string;
  cidr: string;
  vni: number;
  dividers: number;
}

export interface WorldSubnet {
  name: string;
  vpc: string;
  cidr: string;
  gateway: string;
  bouncers: number;
}

export interface WorldEndpoint {
  namespace: string;
  name: string;
  pod: string;
  interface: string;
  ip: string;
  mac: string;
  vni: number;
  vpc: string;
  subnet: string;
  /** "" when not scheduled yet: such an endpoint is in no node's program. */
  node: string;
  labels: Record<string, string>;
  namedPorts?: NamedPort[];
}

export interface World {
  nodes: WorldNode[];
  vpcs: WorldVPC[];
  subnets: WorldSubnet[];
  endpoints: WorldEndpoint[];
  namespaces: NamespaceLabels[];
  policies: NetworkPolicy[];
}

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche so that keys differing in the last characters spread well.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Rendezvous (highest random weight) choice of `count` nodes for `key`: deterministic, and
 * adding or removing a node moves only the roles that node wins or held.
 */
export function pickNodes(key: string, nodes: readonly string[], count: number): string[] {
  return [...nodes]
    .map((n) => ({ n, w: hash32(`${key}/${n}`) }))
    .sort((a, b) => b.w - a.w || a.n.localeCompare(b.n))
    .slice(0, Math.max(0, count))
    .map((x) => x.n)
    .sort();
}

const byIP = (a: string, b: string) => parseIP(a) - parseIP(b);

/** The world indexed once, shared by every node's compile. */
export class WorldIndex {
  readonly world: World;
  readonly policy: PolicyIndex;
  readonly nodeIPs = new Map<string, string>();
  readonly vpcByName = new Map<string, WorldVPC>();
  readonly vpcByVni = new Map<number, WorldVPC>();
  readonly subnetsByVpc = new Map<string, WorldSubnet[]>();
  readonly endpointsByNode = new Map<string, WorldEndpoint[]>();
  readonly endpointsBySubnet = new Map<string, WorldEndpoint[]>();
  readonly bouncers = new Map<string, string[]>();
  readonly dividers = new Map<string, string[]>();
  /** node → subnets / VPCs it serves. */
  readonly bouncerRoles = new Map<string, string[]>();
  readonly dividerRoles = new Map<string, string[]>();

  constructor(world: World) {
    this.world = world;
    const nodeNames = world.nodes.map((n) => n.name).sort();
    for (const n of world.nodes) this.nodeIPs.set(n.name, n.ip);
    for (const v of world.vpcs) {
      this.vpcByName.set(v.name, v);
      this.vpcByVni.set(v.vni, v);
      const d = pickNodes(`vpc:${v.name}`, nodeNames, v.dividers);
      this.dividers.set(v.name, d);
      for (const n of d) push(this.dividerRoles, n, v.name);
    }
    for (const s of [...world.subnets].sort((a, b) => a.name.localeCompare(b.name))) {
      if (!this.vpcByName.has(s.vpc)) continue;
      push(this.subnetsByVpc, s.vpc, s);
      const b = pickNodes(`subnet:${s.name}`, nodeNames, s.bouncers);
      this.bouncers.set(s.name, b);
      for (const n of b) push(this.bouncerRoles, n, s.name);
    }
    for (const e of world.endpoints) {
      if (e.node) push(this.endpointsByNode, e.node, e);
      push(this.endpointsBySubnet, e.subnet, e);
    }
    this.policy = new PolicyIndex(world.endpoints.map(policyEndpointOf), world.namespaces, world.policies);
  }

  /** Nodes whose program lists this endpoint: its own node and its subnet's bouncers. */
  nodesHolding(e: { node: string; subnet: string }): string[] {
    return [...(e.node ? [e.node] : []), ...(this.bouncers.get(e.subnet) ?? [])];
  }
}

/** What the policy compiler needs of an endpoint. */
function policyEndpointOf(e: WorldEndpoint): PolicyEndpoint {
  return {
    key: `${e.namespace}/${e.pod}`,
    namespace: e.namespace,
    ip: e.ip,
    vni: e.vni,
    labels: e.labels,
    ...(e.namedPorts ? { namedPorts: e.namedPorts } : {}),
  };
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

export function buildNodeProgram(index: WorldIndex, node: string): NodeProgramSpec {
  const table = new PeerSetTable();
  const local = [...(index.endpointsByNode.get(node) ?? [])]
    .filter((e) => index.vpcByVni.has(e.vni))
    .sort((a, b) => a.vni - b.vni || byIP(a.ip, b.ip));
  const localEndpoints: ProgramEndpoint[] = local.map((e) => {
    const compiled = compileEndpointPolicy(index.policy, table, policyEndpointOf(e));
    return {
      namespace: e.namespace,
      name: e.name,
      pod: e.pod,
      interface: e.interface,
      ip: e.ip,
      mac: e.mac,
      vni: e.vni,
      vpc: e.vpc,
      subnet: e.subnet,
      ingress: compiled.ingress,
      egress: compiled.egress,
    };
  });
  const bouncerFor = [...(index.bouncerRoles.get(node) ?? [])].sort();
  const dividerFor = [...(index.dividerRoles.get(node) ?? [])].sort();
  const vpcNames = new Set<string>([...local.map((e) => e.vpc), ...dividerFor]);
  for (const s of bouncerFor) {
    const subnet = index.world.subnets.find((x) => x.name === s);
    if (subnet) vpcNames.add(subnet.vpc);
  }
  const hosts = new Set<string>([node]);
  const networks: ProgramNetwork[] = [];
  for (const vpcName of [...vpcNames].sort()) {
    const vpc = index.vpcByName.get(vpcName);
    if (!vpc) continue;
    const subnets = (index.subnetsByVpc.get(vpcName) ?? []).map((s) => {
      const bouncers = index.bouncers.get(s.name) ?? [];
      for (const b of bouncers) hosts.add(b);
      return { name: s.name, cidr: s.cidr, gateway: s.gateway, bouncers };
    });
    const dividers = index.dividers.get(vpcName) ?? [];
    for (const d of dividers) hosts.add(d);
    // Sorted by numeric address, computed once per entry (a comparator parsing IPs would
    // parse each one log(n) times: the bouncer of a 10,000-endpoint subnet felt that).
    const remote: Array<[string, string, number]> = [];
    for (const s of subnets) {
      if (!bouncerFor.includes(s.name)) continue;
      for (const e of index.endpointsBySubnet.get(s.name) ?? []) {
        if (!e.node || e.node === node) continue;
        remote.push([e.ip, e.node, parseIP(e.ip)]);
        hosts.add(e.node);
      }
    }
    remote.sort((a, b) => a[2] - b[2]);
    networks.push({
      vni: vpc.vni,
      vpc: vpc.name,
      cidr: vpc.cidr,
      subnets: subnets.sort((a, b) => parseCIDR(a.cidr).base - parseCIDR(b.cidr).base),
      dividers,
      remoteEndpoints: Object.fromEntries(remote.map(([ip, node]) => [ip, node])),
    });
  }
  networks.sort((a, b) => a.vni - b.vni);
  return {
    node,
    hosts: Object.fromEntries([...hosts].sort().map((h) => [h, index.nodeIPs.get(h) ?? ""])),
    roles: { bouncer: bouncerFor, divider: dividerFor },
    networks,
    localEndpoints,
    peerSets: table.sets,
  };
}
