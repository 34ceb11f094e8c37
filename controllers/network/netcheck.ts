// Answers "can pod A reach pod B (on port P)?" from compiled node programs alone (pure), the
// way a data plane would decide: same VNI, A's egress allow set, B's ingress allow set.

import type { Protocol } from "../../pkg/kube/core.ts";
import type { NodeProgramSpec, ProgramEndpoint } from "./api.ts";
import { allowedPorts, checkDirection, type DirectionVerdict } from "./policy.ts";
import { formatRanges, intersectRanges } from "./policy-ports.ts";

export interface LocatedEndpoint {
  endpoint: ProgramEndpoint;
  node: string;
  peerSets: string[][];
}

export interface ReachabilityAnswer {
  reachable: boolean;
  /** One line per step, in order: where each pod is, VPC, subnets, egress, ingress. */
  reasons: string[];
  from?: LocatedEndpoint;
  to?: LocatedEndpoint;
  egress?: DirectionVerdict;
  ingress?: DirectionVerdict;
}

export function findPodEndpoints(programs: readonly NodeProgramSpec[], podKey: string): LocatedEndpoint[] {
  const slash = podKey.indexOf("/");
  const namespace = slash < 0 ? "default" : podKey.slice(0, slash);
  const pod = slash < 0 ? podKey : podKey.slice(slash + 1);
  const out: LocatedEndpoint[] = [];
  for (const p of programs) {
    for (const e of p.localEndpoints) {
      if (e.namespace === namespace && e.pod === pod)
        out.push({ endpoint: e, node: p.node, peerSets: p.peerSets });
    }
  }
  return out.sort((a, b) => a.endpoint.interface.localeCompare(b.endpoint.interface));
}

export function checkReachability(
  programs: readonly NodeProgramSpec[],
  fromPod: string,
  toPod: string,
  opts: { port?: number; protocol?: Protocol } = {},
): ReachabilityAnswer {
  const protocol = opts.protocol ?? "TCP";
  const froms = findPodEndpoints(programs, fromPod);
  const tos = findPodEndpoints(programs, toPod);
  if (froms.length === 0) {
    return {
      reachable: false,
      reasons: [
        `${fromPod} has no endpoint in any node program (no subnet, not scheduled, or not compiled yet)`,
      ],
    };
  }
  if (tos.length === 0) {
    return {
      reachable: false,
      reasons: [
        `${toPod} has no endpoint in any node program (no subnet, not scheduled, or not compiled yet)`,
      ],
    };
  }
  const reasons: string[] = [];
  const pair = froms
    .flatMap((f) => tos.map((t) => [f, t] as const))
    .find(([f, t]) => f.endpoint.vni === t.endpoint.vni);
  if (!pair) {
    const a = froms[0]!.endpoint;
    const b = tos[0]!.endpoint;
    return {
      reachable: false,
      reasons: [
        `${fromPod} is ${a.ip} in VPC ${a.vpc} (VNI ${a.vni}); ${toPod} is ${b.ip} in VPC ${b.vpc} (VNI ${b.vni})`,
        "different VPCs: no path between them",
      ],
      from: froms[0],
      to: tos[0],
    };
  }
  const [from, to] = pair;
  const a = from.endpoint;
  const b = to.endpoint;
  reasons.push(`${fromPod} is ${a.ip} (${a.interface}) on node ${from.node}, subnet ${a.subnet}`);
  reasons.push(`${toPod} is ${b.ip} (${b.interface}) on node ${to.node}, subnet ${b.subnet}`);
  reasons.push(`same VPC ${a.vpc} (VNI ${a.vni})`);
  let port = opts.port;
  if (port === undefined) {
    // No port asked: reachable when one port passes both directions (an egress allowing only
    // 80 and an ingress allowing only 443 let nothing through).
    const out = allowedPorts(a.egress, from.peerSets, b.ip, protocol);
    const inn = allowedPorts(b.ingress, to.peerSets, a.ip, protocol);
    const both = intersectRanges(out, inn);
    if (both.length === 0) {
      reasons.push(`${fromPod}: egress to ${b.ip} allows ${protocol} ${formatRanges(out)}`);
      reasons.push(`${toPod}: ingress from ${a.ip} allows ${protocol} ${formatRanges(inn)}`);
      reasons.push(`no ${protocol} port passes both directions`);
      return { reachable: false, reasons, from, to };
    }
    port = both[0]?.[0] ?? 1;
    reasons.push(`${protocol} ${formatRanges(both)} pass both directions; for example port ${port}:`);
  }
  const egress = checkDirection(a.egress, from.peerSets, b.ip, protocol, port, "egress");
  reasons.push(`${fromPod}: ${egress.reason}`);
  const ingress = checkDirection(b.ingress, to.peerSets, a.ip, protocol, port, "ingress");
  reasons.push(`${toPod}: ${ingress.reason}`);
  return { reachable: egress.allowed && ingress.allowed, reasons, from, to, egress, ingress };
}
