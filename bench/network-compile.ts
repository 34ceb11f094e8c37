// Benchmark: compile time of one node's program with E endpoints and P NetworkPolicies
// (pure: the compiler as the controller runs it, no API server).
//
//   npx tsx bench/network-compile.ts [--endpoints 10000] [--policies 500] [--nodes 100] [--runs 15]
//
// The world: 20 namespaces, 100 nodes, endpoints spread evenly (so ~100 local endpoints per
// node), labels app (50 values), tier (3), version (5); policies mix podSelector,
// namespaceSelector, matchExpressions, ipBlock-with-except and port rules. Measures:
//   compile  : buildNodeProgram for one node on a freshly built index (peer sets not yet
//              memoised: what the controller pays for the first node after any change);
//   index    : building the shared index from the endpoints (once per change, for all nodes);
//   baseline : the same compile at a tenth of the size (same run), for the scaling ratio.
// Medians over the runs; one JSON line and a table; appended to bench/RESULTS.md.

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildNodeProgram, type World, WorldIndex } from "../controllers/network/program.ts";
import type { NetworkPolicy, NetworkPolicyPeer } from "../pkg/kube/core.ts";

const { values } = parseArgs({
  options: {
    endpoints: { type: "string", default: "10000" },
    policies: { type: "string", default: "500" },
    nodes: { type: "string", default: "100" },
    runs: { type: "string", default: "15" },
    "no-record": { type: "boolean", default: false },
  },
});
const E = Number(values.endpoints);
const P = Number(values.policies);
const NODES = Number(values.nodes);
const RUNS = Math.min(100, Number(values.runs));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function syntheticWorld(endpoints: number, policies: number, nodes: number, seed = 1): World {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const namespaces = Array.from({ length: 20 }, (_, i) => ({
    name: `ns${i}`,
    labels: { team: `t${i % 5}`, env: i % 2 ? "prod" : "dev" },
  }));
  const apps = Array.from({ length: 50 }, (_, i) => `app${i}`);
  const eps = Array.from({ length: endpoints }, (_, i) => {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 0}`;
    return {
      namespace: `ns${i % 20}`,
      name: `pod${i}`,
      pod: `pod${i}`,
      interface: "eth0",
      ip: `10.1${ip.slice(4)}`,
      mac: "02:00:00:00:00:00",
      vni: 7,
      vpc: "vpc",
      subnet: "net",
      node: `node${i % nodes}`,
      labels: { app: pick(apps), tier: pick(["fe", "be", "data"]), version: `v${Math.floor(r() * 5)}` },
    };
  });
  const pols: NetworkPolicy[] = Array.from({ length: policies }, (_, i) => {
    const kind = i % 5;
    const peer: NetworkPolicyPeer =
      kind === 0
        ? { podSelector: { matchLabels: { app: pick(apps) } } }
        : kind === 1
          ? {
              namespaceSelector: { matchLabels: { team: `t${i % 5}` } },
              podSelector: { matchLabels: { tier: "fe" } },
            }
          : kind === 2
            ? {
                podSelector: {
                  matchExpressions: [
                    { key: "app", operator: "In" as const, values: [pick(apps), pick(apps)] },
                  ],
                },
              }
            : kind === 3
              ? { ipBlock: { cidr: "10.1.0.0/16", except: [`10.1.${i % 40}.0/24`] } }
              : { namespaceSelector: { matchLabels: { env: "prod" } } };
    return {
      metadata: { name: `pol${i}`, namespace: `ns${i % 20}` },
      spec: {
        podSelector: { matchLabels: { app: pick(apps) } },
        policyTypes: i % 3 === 0 ? ["Ingress", "Egress"] : ["Ingress"],
        ingress: [{ from: [peer], ports: [{ protocol: "TCP", port: 80 + (i % 10) }] }],
        ...(i % 3 === 0 ? { egress: [{ to: [{ podSelector: { matchLabels: { tier: "data" } } }] }] } : {}),
      },
    };
  });
  return {
    nodes: Array.from({ length: nodes }, (_, i) => ({
      name: `node${i}`,
      ip: `192.168.${i >> 8}.${i & 255}`,
    })),
    vpcs: [{ name: "vpc", cidr: "10.0.0.0/8", vni: 7, dividers: 2 }],
    subnets: [{ name: "net", vpc: "vpc", cidr: "10.0.0.0/8", gateway: "10.0.0.1", bouncers: 3 }],
    endpoints: eps,
    namespaces,
    policies: pols,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function measure(
  endpoints: number,
  policies: number,
): { compile: number[]; index: number[]; bouncer: number[]; local: number; rules: number; bytes: number } {
  const world = syntheticWorld(endpoints, policies, NODES);
  const compile: number[] = [];
  const index: number[] = [];
  const bouncer: number[] = [];
  let local = 0;
  let rules = 0;
  let bytes = 0;
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const idx = new WorldIndex(world);
    const t1 = performance.now();
    // A node that is not a bouncer (the common case); bouncers also carry the endpoint map.
    const node = `node${(run * 7) % NODES}`;
    const prog = buildNodeProgram(idx, node);
    const t2 = performance.now();
    index.push(t1 - t0);
    compile.push(t2 - t1);
    local = prog.localEndpoints.length;
    rules = prog.localEndpoints.reduce((n, e) => n + e.ingress.rules.length + e.egress.rules.length, 0);
    bytes = JSON.stringify(prog).length;
    // A bouncer of the subnet also lists every other endpoint of it.
    const b = new WorldIndex(world);
    const bouncerNode = b.bouncers.get("net")?.[0] ?? "node0";
    const t3 = performance.now();
    buildNodeProgram(b, bouncerNode);
    bouncer.push(performance.now() - t3);
  }
  return { compile, index, bouncer, local, rules, bytes };
}

const full = measure(E, P);
const base = measure(Math.round(E / 10), Math.round(P / 10));
const result = {
  name: "network-node-program-compile",
  inputs: { endpoints: E, policies: P, nodes: NODES, runs: RUNS },
  compile_ms: +median(full.compile).toFixed(2),
  index_ms: +median(full.index).toFixed(2),
  bouncer_compile_ms: +median(full.bouncer).toFixed(2),
  local_endpoints: full.local,
  compiled_rules: full.rules,
  program_bytes: full.bytes,
  baseline: {
    endpoints: Math.round(E / 10),
    policies: Math.round(P / 10),
    compile_ms: +median(base.compile).toFixed(2),
  },
  target_ms: 50,
  anchor: "Mizar: per-endpoint policy bitmaps, compile time not published",
};
console.log(JSON.stringify(result));
const table = [
  "|  | median | runs |",
  "| --- | --- | --- |",
  `| compile one node (${E} endpoints, ${P} policies; ${full.local} local, ${full.rules} rules) | ${result.compile_ms} ms | ${full.compile.map((x) => x.toFixed(1)).join(", ")} |`,
  `| compile a bouncer node (also maps all ${E} endpoints) | ${result.bouncer_compile_ms} ms | ${full.bouncer.map((x) => x.toFixed(1)).join(", ")} |`,
  `| build the shared index (once per change, all nodes) | ${result.index_ms} ms | ${full.index.map((x) => x.toFixed(1)).join(", ")} |`,
  `| baseline: compile at ${result.baseline.endpoints} endpoints, ${result.baseline.policies} policies | ${result.baseline.compile_ms} ms | ${base.compile.map((x) => x.toFixed(1)).join(", ")} |`,
  `| target: compile < 50 ms | ${result.compile_ms < 50 ? "met" : "NOT met"} | |`,
  `| program size | ${(full.bytes / 1024).toFixed(1)} KiB | |`,
].join("\n");
console.log(table);
if (!values["no-record"]) {
  appendFileSync(
    new URL("./RESULTS.md", import.meta.url),
    `\n## Network (Mizar)\n\n### network-node-program-compile — ${new Date().toISOString().slice(0, 16)}Z\n\n${table}\n\n\`\`\`json\n${JSON.stringify(result, null, 2)}\n\`\`\`\n`,
  );
}
