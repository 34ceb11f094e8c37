// The policy compiler against a plain reference evaluator of NetworkPolicy semantics: for
// random namespaces, pods, labels and policies, the compiled node programs (read the way a
// data plane reads them) must give the same verdict as the reference for every pair of pods.

import { expect } from "chai";
import fc from "fast-check";
import type { NodeProgramSpec } from "../../controllers/network/api.ts";
import { checkReachability } from "../../controllers/network/netcheck.ts";
import { buildNodeProgram, pickNodes, type World, WorldIndex } from "../../controllers/network/program.ts";
import type {
  IPBlock,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
} from "../../pkg/kube/core.ts";
import type { LabelSelector } from "../../pkg/kube/label-selector.ts";

interface RefPod {
  ns: string;
  name: string;
  ip: string;
  vni: number;
  node: string;
  labels: Record<string, string>;
  /** Named container ports: name → [protocol, number]. */
  ports: Record<string, [Protocol, number]>;
}

// ---------------------------------------------------------------- the reference evaluator
// Written from the Kubernetes documentation, sharing no code with the compiler.

function refIP(s: string): number {
  return s.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}
function refInCIDR(ip: string, cidr: string): boolean {
  // An IPv6 block never holds an IPv4 address; host bits are ignored (192.168.1.5/24 is .0/24).
  if (cidr.includes(":")) return false;
  const [base, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(refIP(base!) / size) * size;
  return refIP(ip) >= start && refIP(ip) < start + size;
}
function refSelects(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (sel === undefined) return true;
  const labelsOk = Object.keys(sel.matchLabels ?? {}).every((k) => labels[k] === sel.matchLabels?.[k]);
  const exprsOk = (sel.matchExpressions ?? []).every((e) => {
    const present = e.key in labels;
    if (e.operator === "Exists") return present;
    if (e.operator === "DoesNotExist") return !present;
    if (e.operator === "In") return present && (e.values ?? []).includes(labels[e.key]!);
    return !present || !(e.values ?? []).includes(labels[e.key]!);
  });
  return labelsOk && exprsOk;
}
function refTypes(p: NetworkPolicy): string[] {
  if (p.spec.policyTypes?.length) return p.spec.policyTypes;
  return p.spec.egress?.length ? ["Ingress", "Egress"] : ["Ingress"];
}
function refPeerMatches(
  peer: NetworkPolicyPeer,
  policyNs: string,
  other: RefPod,
  nsLabels: Record<string, Record<string, string>>,
): boolean {
  if (peer.ipBlock) {
    const b: IPBlock = peer.ipBlock;
    return refInCIDR(other.ip, b.cidr) && !(b.except ?? []).some((e) => refInCIDR(other.ip, e));
  }
  const nsOk = peer.namespaceSelector
    ? refSelects(peer.namespaceSelector, nsLabels[other.ns] ?? {})
    : other.ns === policyNs;
  return nsOk && (peer.podSelector ? refSelects(peer.podSelector, other.labels) : true);
}
/** `dst` is the pod receiving the connection: a named port means its container port of that name. */
function refPortMatches(
  ports: NetworkPolicyPort[] | undefined,
  proto: Protocol,
  port: number,
  dst: RefPod,
): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    const protocol = p.protocol ?? "TCP";
    if (protocol !== proto) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string") {
      const named = dst.ports[p.port];
      return named !== undefined && named[0] === protocol && named[1] === port;
    }
    if (p.endPort !== undefined) return port >= p.port && port <= p.endPort;
    return port === p.port;
  });
}
function refDirection(
  dir: "Ingress" | "Egress",
  self: RefPod,
  other: RefPod,
  policies: NetworkPolicy[],
  nsLabels: Record<string, Record<string, string>>,
  proto: Protocol,
  port: number,
): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === self.ns &&
      refSelects(p.spec.podSelector, self.labels) &&
      refTypes(p).includes(dir),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) => {
    const rules =
      dir === "Ingress"
        ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
        : (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
    return rules.some(
      (r) =>
        (!r.peers ||
          r.peers.length === 0 ||
          r.peers.some((peer) => refPeerMatches(peer, self.ns, other, nsLabels))) &&
        refPortMatches(r.ports, proto, port, dir === "Ingress" ? self : other),
    );
  });
}
function refAllowed(
  src: RefPod,
  dst: RefPod,
  policies: NetworkPolicy[],
  nsLabels: Record<string, Record<string, string>>,
  proto: Protocol,
  port: number,
): boolean {
  if (src.vni !== dst.vni) return false;
  return (
    refDirection("Egress", src, dst, policies, nsLabels, proto, port) &&
    refDirection("Ingress", dst, src, policies, nsLabels, proto, port)
  );
}

/**
 * Without a port: is there one port both directions allow? Every allowed set is a union of
 * ranges, so if two intersect, they share an endpoint of some range: trying every number a
 * policy or a pod names (and 1, 65535) is exhaustive.
 */
function refAllowedSomePort(
  src: RefPod,
  dst: RefPod,
  policies: NetworkPolicy[],
  nsLabels: Record<string, Record<string, string>>,
  proto: Protocol,
): boolean {
  const candidates = new Set<number>([1, 65535, ...Object.values(dst.ports).map((p) => p[1])]);
  for (const pol of policies)
    for (const r of [...(pol.spec.ingress ?? []), ...(pol.spec.egress ?? [])])
      for (const p of r.ports ?? []) {
        if (typeof p.port === "number") candidates.add(p.port);
        if (p.endPort !== undefined) candidates.add(p.endPort);
      }
  return [...candidates].some((port) => refAllowed(src, dst, policies, nsLabels, proto, port));
}

// ---------------------------------------------------------------- generators

const NAMESPACES = ["a", "b", "c"];
const NODES = ["n0", "n1", "n2"];
const labelsArb = (keys: Record<string, string[]>) =>
  fc.record(Object.fromEntries(Object.entries(keys).map(([k, vs]) => [k, fc.constantFrom(...vs)])), {
    requiredKeys: [],
  }) as fc.Arbitrary<Record<string, string>>;
const podLabelKeys = { app: ["web", "db", "api"], tier: ["fe", "be"] };
const nsLabelKeys = { team: ["x", "y"], env: ["prod", "dev"] };

function selectorArb(keys: Record<string, string[]>): fc.Arbitrary<LabelSelector> {
  const key = fc.constantFrom(...Object.keys(keys));
  const expr = key.chain((k) =>
    fc
      .record({
        key: fc.constant(k),
        operator: fc.constantFrom(
          "In" as const,
          "NotIn" as const,
          "Exists" as const,
          "DoesNotExist" as const,
        ),
        values: fc.subarray(keys[k]!, { minLength: 1 }),
      })
      .map((e) =>
        e.operator === "Exists" || e.operator === "DoesNotExist" ? { key: e.key, operator: e.operator } : e,
      ),
  );
  return fc.record(
    { matchLabels: labelsArb(keys), matchExpressions: fc.array(expr, { maxLength: 2 }) },
    { requiredKeys: [] },
  );
}

// Blocks the API server accepts: canonical, with host bits set, and IPv6.
const ipBlockArb: fc.Arbitrary<IPBlock> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        start: fc.integer({ min: 0, max: 3 }),
        prefix: fc.constantFrom(27, 28, 29),
        hasExcept: fc.boolean(),
        ex: fc.integer({ min: 0, max: 7 }),
        hostBits: fc.constantFrom(0, 0, 1, 3),
      })
      .map(({ start, prefix, hasExcept, ex, hostBits }) => {
        const size = 2 ** (32 - prefix);
        const base = (start * size) % 32;
        const cidr = `10.0.0.${base + (hostBits % size)}/${prefix}`;
        return hasExcept
          ? { cidr, except: [`10.0.0.${base + ((ex * 4) % size) + (hostBits % 4)}/30`] }
          : { cidr };
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<IPBlock>({ cidr: "fd00::/64" }, { cidr: "::/0", except: ["fd00::/8"] }),
  },
);

const peerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  { arbitrary: fc.record({ podSelector: selectorArb(podLabelKeys) }), weight: 2 },
  { arbitrary: fc.record({ namespaceSelector: selectorArb(nsLabelKeys) }), weight: 2 },
  {
    arbitrary: fc.record({
      podSelector: selectorArb(podLabelKeys),
      namespaceSelector: selectorArb(nsLabelKeys),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ ipBlock: ipBlockArb }), weight: 3 },
);

const portArb: fc.Arbitrary<NetworkPolicyPort> = fc.oneof(
  fc.record(
    { protocol: fc.constantFrom("TCP" as const, "UDP" as const), port: fc.constantFrom(53, 80, 443) },
    { requiredKeys: ["port"] },
  ),
  // Named ports: resolved on the destination pod ("nope" is on no pod).
  fc.record(
    {
      protocol: fc.constantFrom("TCP" as const, "UDP" as const),
      port: fc.constantFrom("http", "http", "dns", "metrics", "nope"),
    },
    { requiredKeys: ["port"] },
  ),
  fc.record({ protocol: fc.constantFrom("TCP" as const, "UDP" as const) }),
  fc.record({ port: fc.constant(80), endPort: fc.constantFrom(80, 100, 500) }),
);

const rulesArb = fc.option(
  fc.array(
    fc.record({
      peers: fc.option(fc.array(peerArb, { maxLength: 2 }), { nil: undefined }),
      ports: fc.option(fc.array(portArb, { maxLength: 2 }), { nil: undefined }),
    }),
    { maxLength: 2 },
  ),
  { nil: undefined },
);

const policyArb = (i: number): fc.Arbitrary<NetworkPolicy> =>
  fc
    .record({
      ns: fc.constantFrom(...NAMESPACES),
      podSelector: selectorArb(podLabelKeys),
      types: fc.option(fc.subarray(["Ingress", "Egress"] as Array<"Ingress" | "Egress">, { minLength: 1 }), {
        nil: undefined,
      }),
      ingress: rulesArb,
      egress: rulesArb,
    })
    .map((p) => ({
      metadata: { name: `pol${i}`, namespace: p.ns },
      spec: {
        podSelector: p.podSelector,
        ...(p.types ? { policyTypes: p.types } : {}),
        ...(p.ingress
          ? {
              ingress: p.ingress.map((r) => ({
                ...(r.peers ? { from: r.peers } : {}),
                ...(r.ports ? { ports: r.ports } : {}),
              })),
            }
          : {}),
        ...(p.egress
          ? {
              egress: p.egress.map((r) => ({
                ...(r.peers ? { to: r.peers } : {}),
                ...(r.ports ? { ports: r.ports } : {}),
              })),
            }
          : {}),
      },
    }));

const scenarioArb = fc.record({
  nsLabels: fc.tuple(labelsArb(nsLabelKeys), labelsArb(nsLabelKeys), labelsArb(nsLabelKeys)),
  pods: fc.uniqueArray(
    fc.record({
      ns: fc.constantFrom(...NAMESPACES),
      host: fc.integer({ min: 1, max: 30 }),
      vni: fc.constantFrom(1, 1, 1, 2),
      node: fc.constantFrom(...NODES),
      labels: labelsArb(podLabelKeys),
      // One name, different numbers on different pods (and sometimes another protocol).
      ports: fc.record(
        {
          http: fc.constantFrom<[Protocol, number]>(["TCP", 80], ["TCP", 8080], ["TCP", 443]),
          dns: fc.constantFrom<[Protocol, number]>(["UDP", 53], ["TCP", 53]),
          metrics: fc.constantFrom<[Protocol, number]>(["TCP", 9090]),
        },
        { requiredKeys: [] },
      ) as fc.Arbitrary<Record<string, [Protocol, number]>>,
    }),
    { minLength: 2, maxLength: 10, selector: (p) => `${p.vni}/${p.host}` },
  ),
  policies: fc
    .integer({ min: 0, max: 6 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policyArb(i)))),
});

function worldOf(
  pods: RefPod[],
  nsLabels: Record<string, Record<string, string>>,
  policies: NetworkPolicy[],
): World {
  return {
    nodes: NODES.map((n, i) => ({ name: n, ip: `192.168.0.${i + 1}` })),
    vpcs: [
      { name: "vpc1", cidr: "10.0.0.0/26", vni: 1, dividers: 1 },
      { name: "vpc2", cidr: "10.0.0.0/26", vni: 2, dividers: 1 },
    ],
    subnets: [
      { name: "s1", vpc: "vpc1", cidr: "10.0.0.0/26", gateway: "10.0.0.1", bouncers: 1 },
      { name: "s2", vpc: "vpc2", cidr: "10.0.0.0/26", gateway: "10.0.0.1", bouncers: 1 },
    ],
    endpoints: pods.map((p) => ({
      namespace: p.ns,
      name: p.name,
      pod: p.name,
      interface: "eth0",
      ip: p.ip,
      mac: "02:00:00:00:00:00",
      vni: p.vni,
      vpc: `vpc${p.vni}`,
      subnet: `s${p.vni}`,
      node: p.node,
      labels: p.labels,
      namedPorts: Object.entries(p.ports).map(([name, [protocol, port]]) => ({ name, protocol, port })),
    })),
    namespaces: Object.entries(nsLabels).map(([name, labels]) => ({ name, labels })),
    policies,
  };
}

describe("network policy compiler", () => {
  it("property: compiled node programs give the reference verdict for every pair of pods", () => {
    fc.assert(
      fc.property(scenarioArb, ({ nsLabels: nsl, pods: rawPods, policies }) => {
        const nsLabels = Object.fromEntries(NAMESPACES.map((n, i) => [n, nsl[i]!]));
        const pods: RefPod[] = rawPods.map((p, i) => ({ ...p, name: `p${i}`, ip: `10.0.0.${p.host}` }));
        const index = new WorldIndex(worldOf(pods, nsLabels, policies));
        const programs: NodeProgramSpec[] = NODES.map((n) => buildNodeProgram(index, n));
        // Round-trip through JSON: the data plane reads the object as the API server stores it.
        const stored = JSON.parse(JSON.stringify(programs)) as NodeProgramSpec[];
        for (const src of pods) {
          for (const dst of pods) {
            if (src === dst) continue;
            for (const [proto, port] of [
              ["TCP", 80],
              ["TCP", 443],
              ["UDP", 53],
              ["TCP", 53],
              ["TCP", 200],
              ["TCP", 8080],
              ["TCP", 9090],
            ] as const) {
              const want = refAllowed(src, dst, policies, nsLabels, proto, port);
              const got = checkReachability(stored, `${src.ns}/${src.name}`, `${dst.ns}/${dst.name}`, {
                protocol: proto,
                port,
              });
              expect(
                got.reachable,
                `${src.name}->${dst.name} ${proto}/${port}: ${got.reasons.join("; ")}`,
              ).to.equal(want);
            }
            for (const proto of ["TCP", "UDP"] as const) {
              const want = refAllowedSomePort(src, dst, policies, nsLabels, proto);
              const got = checkReachability(stored, `${src.ns}/${src.name}`, `${dst.ns}/${dst.name}`, {
                protocol: proto,
              });
              expect(
                got.reachable,
                `${src.name}->${dst.name} ${proto}/any: ${got.reasons.join("; ")}`,
              ).to.equal(want);
            }
          }
        }
      }),
      { numRuns: 600 },
    );
  });

  it("explains which policy allowed or denied a connection", () => {
    const pods: RefPod[] = [
      { ns: "a", name: "web", ip: "10.0.0.2", vni: 1, node: "n0", labels: { app: "web" }, ports: {} },
      { ns: "a", name: "db", ip: "10.0.0.3", vni: 1, node: "n1", labels: { app: "db" }, ports: {} },
      { ns: "a", name: "other", ip: "10.0.0.4", vni: 1, node: "n2", labels: { app: "api" }, ports: {} },
    ];
    const policy: NetworkPolicy = {
      metadata: { name: "db-from-web", namespace: "a" },
      spec: {
        podSelector: { matchLabels: { app: "db" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }], ports: [{ port: 5432 }] }],
      },
    };
    const index = new WorldIndex(worldOf(pods, { a: {} }, [policy]));
    const programs = NODES.map((n) => buildNodeProgram(index, n));
    const ok = checkReachability(programs, "a/web", "a/db", { port: 5432 });
    expect(ok.reachable).to.equal(true);
    expect(ok.ingress?.policy).to.equal("a/db-from-web");
    const wrongPort = checkReachability(programs, "a/web", "a/db", { port: 80 });
    expect(wrongPort.reachable).to.equal(false);
    expect(wrongPort.reasons.join("\n")).to.match(/isolated by NetworkPolicy a\/db-from-web/);
    expect(checkReachability(programs, "a/other", "a/db", { port: 5432 }).reachable).to.equal(false);
    expect(checkReachability(programs, "a/db", "a/web", { port: 80 }).reachable).to.equal(true);
  });

  describe("cases the compiler and net check once got wrong", () => {
    const pod = (
      name: string,
      ip: string,
      labels: Record<string, string>,
      ports: RefPod["ports"] = {},
    ): RefPod => ({
      ns: "a",
      name,
      ip,
      vni: 1,
      node: "n0",
      labels,
      ports,
    });
    const programsOf = (pods: RefPod[], policies: NetworkPolicy[]) => {
      const index = new WorldIndex(worldOf(pods, { a: {} }, policies));
      return JSON.parse(JSON.stringify(NODES.map((n) => buildNodeProgram(index, n)))) as NodeProgramSpec[];
    };
    const web = pod("web", "10.0.0.2", { app: "web" });
    const db = pod("db", "10.0.0.3", { app: "db" }, { pg: ["TCP", 5432] });
    const policy = (name: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({
      metadata: { name, namespace: "a" },
      spec,
    });

    it("without --port: egress only 80 and ingress only 443 let no port through", () => {
      const programs = programsOf(
        [web, db],
        [
          policy("out-80", {
            podSelector: { matchLabels: { app: "web" } },
            policyTypes: ["Egress"],
            egress: [{ ports: [{ port: 80 }] }],
          }),
          policy("in-443", {
            podSelector: { matchLabels: { app: "db" } },
            ingress: [{ ports: [{ port: 443 }] }],
          }),
        ],
      );
      const got = checkReachability(programs, "a/web", "a/db");
      expect(got.reachable, got.reasons.join("; ")).to.equal(false);
      expect(got.reasons.join("\n")).to.match(/egress to 10\.0\.0\.3 allows TCP 80/);
      expect(got.reasons.join("\n")).to.match(/no TCP port passes both directions/);
      expect(checkReachability(programs, "a/web", "a/db", { port: 80 }).reachable).to.equal(false);
      expect(checkReachability(programs, "a/web", "a/db", { port: 443 }).reachable).to.equal(false);
    });

    it("named ports resolve on the destination pod; an unresolvable one matches no port at all", () => {
      const named = policy("db-pg", {
        podSelector: { matchLabels: { app: "db" } },
        ingress: [{ ports: [{ port: "pg" }] }],
      });
      const programs = programsOf([web, db], [named]);
      expect(checkReachability(programs, "a/web", "a/db", { port: 5432 }).reachable).to.equal(true);
      expect(checkReachability(programs, "a/web", "a/db", { port: 80 }).reachable).to.equal(false);
      expect(checkReachability(programs, "a/web", "a/db").reachable).to.equal(true);
      const missing = policy("db-nope", {
        podSelector: { matchLabels: { app: "db" } },
        ingress: [{ ports: [{ port: "nope" }] }],
      });
      const none = programsOf([web, db], [missing]);
      expect(checkReachability(none, "a/web", "a/db").reachable).to.equal(false);
      expect(checkReachability(none, "a/web", "a/db", { port: 5432 }).reachable).to.equal(false);
      // Egress: the name means each destination's own number.
      const other = pod("other", "10.0.0.4", { app: "db" }, { pg: ["TCP", 6543] });
      const egress = policy("web-out-pg", {
        podSelector: { matchLabels: { app: "web" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: { app: "db" } } }], ports: [{ port: "pg" }] }],
      });
      const out = programsOf([web, db, other], [egress]);
      expect(checkReachability(out, "a/web", "a/db", { port: 5432 }).reachable).to.equal(true);
      expect(checkReachability(out, "a/web", "a/db", { port: 6543 }).reachable).to.equal(false);
      expect(checkReachability(out, "a/web", "a/other", { port: 6543 }).reachable).to.equal(true);
    });

    it("ipBlocks with host bits set or IPv6 neither throw nor widen", () => {
      const blocks = policy("blocks", {
        podSelector: { matchLabels: { app: "db" } },
        ingress: [
          { from: [{ ipBlock: { cidr: "10.0.0.2/31" } }] },
          {
            from: [
              { ipBlock: { cidr: "fd00::/64" } },
              { ipBlock: { cidr: "10.0.0.9/24", except: ["10.0.0.5/30"] } },
            ],
            ports: [{ port: 9 }],
          },
        ],
      });
      const programs = programsOf([web, db, pod("x", "10.0.0.5", {})], [blocks]);
      const rules =
        programs.flatMap((p) => p.localEndpoints).find((e) => e.pod === "db")?.ingress.rules ?? [];
      expect(rules.map((r) => r.ipBlocks)).to.deep.equal([
        [{ cidr: "10.0.0.2/31", except: [] }],
        [{ cidr: "10.0.0.0/24", except: ["10.0.0.4/30"] }],
      ]);
      expect(checkReachability(programs, "a/web", "a/db").reachable).to.equal(true);
      expect(checkReachability(programs, "a/x", "a/db", { port: 9 }).reachable).to.equal(false);
      expect(checkReachability(programs, "a/x", "a/db").reachable).to.equal(false);
    });
  });

  it("gives bouncers the endpoint map of their subnet and dividers their VPC", () => {
    const pods: RefPod[] = Array.from({ length: 6 }, (_, i) => ({
      ns: "a",
      name: `p${i}`,
      ip: `10.0.0.${i + 2}`,
      vni: 1,
      node: NODES[i % 3]!,
      labels: {},
      ports: {},
    }));
    const index = new WorldIndex(worldOf(pods, { a: {} }, []));
    const [bouncer] = pickNodes("subnet:s1", NODES, 1);
    const prog = buildNodeProgram(index, bouncer!);
    expect(prog.roles.bouncer).to.include("s1");
    const net = prog.networks.find((n) => n.vni === 1)!;
    const remote = pods.filter((p) => p.node !== bouncer);
    expect(Object.keys(net.remoteEndpoints).sort()).to.deep.equal(remote.map((p) => p.ip).sort());
    expect(prog.hosts[bouncer!]).to.match(/^192\.168\.0\./);
    const others = NODES.filter((n) => n !== bouncer).map((n) => buildNodeProgram(index, n));
    for (const o of others)
      expect(o.networks.find((n) => n.vni === 1)?.remoteEndpoints ?? {}).to.deep.equal({});
    // Deterministic: the same world compiles to the same program.
    expect(buildNodeProgram(new WorldIndex(worldOf(pods, { a: {} }, [])), bouncer!)).to.deep.equal(prog);
  });

  it("pickNodes moves few roles when a node joins", () => {
    const nodes = Array.from({ length: 20 }, (_, i) => `node-${i}`);
    let moved = 0;
    for (let s = 0; s < 200; s++) {
      const before = pickNodes(`subnet:s${s}`, nodes, 1)[0];
      const after = pickNodes(`subnet:s${s}`, [...nodes, "node-new"], 1)[0];
      if (before !== after) {
        expect(after).to.equal("node-new");
        moved++;
      }
    }
    expect(moved).to.be.lessThan(40);
  });
});
