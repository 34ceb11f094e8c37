// Benchmark: time to provision one endpoint (pod created → its Endpoint with an address
// exists) when N pods already exist, on K kwok nodes.
//
//   npx tsx bench/network-provision.ts [--sizes 100,1000,10000] [--probes 100] [--nodes 100] [--max-minutes 30]
//
// One local control plane with K kwok nodes; the network controllers run in this process
// (in-process manager, as in the integration tests). Pods are bound to nodes directly
// (spec.nodeName, spread evenly) and default to one /16 subnet. For each size, the namespace
// is filled up to N pods (all with Endpoints), then `probes` pods are created one at a time
// and each is timed until its Endpoint is in the watch cache; the figure is the median of
// those. The 100-pod figure is the same-run baseline for the ratio (target ≤ 1.2x).

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Endpoint,
  Endpoints,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "../controllers/network/api.ts";
import type { Informer } from "../pkg/cache/informer.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import { installNetwork, podObject, startNetworkManager } from "../test/fixtures/network.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100,1000,10000" },
    probes: { type: "string", default: "100" },
    nodes: { type: "string", default: "100" },
    "max-minutes": { type: "string", default: "30" },
    "no-record": { type: "boolean", default: false },
  },
});
const SIZES = (values.sizes ?? "").split(",").map(Number);
const PROBES = Math.min(200, Number(values.probes));
const NODES = Number(values.nodes);
const DEADLINE = Date.now() + Number(values["max-minutes"]) * 60_000;
const NS = "bench-net";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

const cluster = await LocalCluster.up({
  name: `bench-net-${process.pid}`,
  nodes: { plain: NODES, gpu: 0, edge: 0 },
  progress: (l) => log(l),
});
const rows: Array<{ existing: number; median_ms: number; p90_ms: number; probes: number }> = [];
let notReached: number[] = [];
try {
  const client = await cluster.clientFor();
  await installNetwork(client);
  const { manager, controllers } = await startNetworkManager(client);
  const idle = () => controllers.every((c) => c.idle());
  await client.create(Resources.Namespace, { metadata: { name: NS } });
  await client.create<VPC>(VPCs, {
    metadata: { name: "bench" },
    spec: { cidr: "10.0.0.0/12", tenant: "bench", dividers: 1 },
  });
  await client.create<Subnet>(Subnets, {
    metadata: { name: "bench" },
    spec: { vpc: "bench", cidr: "10.0.0.0/16", namespaces: [NS], bouncers: 1 },
  });
  await waitFor("subnet ready", async () =>
    (await client.get<Subnet>(Subnets, "bench")).status?.conditions?.some(
      (c) => c.type === "Ready" && c.status === "True",
    ),
  );
  const endpoints = manager.factory.informerFor(Endpoints) as unknown as Informer<Endpoint>;
  const waiters = new Map<string, () => void>();
  endpoints.addEventHandler({ onAdd: (e) => waiters.get(e.metadata.name ?? "")?.() });
  let created = 0;
  const fill = async (target: number) => {
    let next = created;
    const worker = async () => {
      while (next < target && Date.now() < DEADLINE) {
        const i = next++;
        await client.create(
          Resources.Pod,
          podObject(NS, `fill-${i}`, { node: `kwok-plain-${i % NODES}`, labels: { app: `a${i % 50}` } }),
        );
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    created = Math.max(created, next);
    await waitFor(`${created} endpoints`, () => endpoints.store.size >= created + rows.length * PROBES, {
      timeoutMs: Math.max(10_000, DEADLINE - Date.now()),
      intervalMs: 200,
    });
  };
  for (const size of SIZES) {
    const existingBefore = created + rows.length * PROBES;
    if (existingBefore < size) {
      log(`filling to ${size} pods`);
      await fill(created + (size - existingBefore));
    }
    // Quiet first: the figure is one pod's provisioning with N pods present, not while N
    // are being created (kwok status updates and the fill's own reconciles settle first).
    log("waiting for the fill to settle");
    await waitFor(
      "pods running and annotated",
      async () => {
        const pods = await client.list(Resources.Pod, { namespace: NS });
        return pods.items.every(
          (p) =>
            (p as { status?: { phase?: string } }).status?.phase === "Running" &&
            p.metadata.annotations?.["network.centaurus.io/ip"],
        );
      },
      { timeoutMs: Math.max(10_000, DEADLINE - Date.now()), intervalMs: 2_000 },
    );
    await waitFor("controllers idle", () => idle(), {
      timeoutMs: Math.max(10_000, DEADLINE - Date.now()),
      intervalMs: 200,
    });
    if (Date.now() > DEADLINE) {
      notReached = SIZES.filter((s) => s >= size);
      break;
    }
    const existing = endpoints.store.size;
    log(`probing with ${existing} pods existing`);
    const times: number[] = [];
    for (let i = 0; i < PROBES && Date.now() < DEADLINE; i++) {
      const name = `probe-${size}-${i}`;
      const seen = new Promise<void>((resolve) => waiters.set(name, resolve));
      const t0 = performance.now();
      await client.create(Resources.Pod, podObject(NS, name, { node: `kwok-plain-${i % NODES}` }));
      await Promise.race([
        seen,
        new Promise((_, rej) => setTimeout(() => rej(new Error(`${name}: no endpoint in 60 s`)), 60_000)),
      ]);
      times.push(performance.now() - t0);
      waiters.delete(name);
    }
    const sorted = [...times].sort((a, b) => a - b);
    rows.push({
      existing,
      median_ms: +median(times).toFixed(1),
      p90_ms: +(sorted[Math.floor(sorted.length * 0.9)] ?? 0).toFixed(1),
      probes: times.length,
    });
    log(`existing ${existing}: median ${median(times).toFixed(1)} ms over ${times.length}`);
  }
  await manager.stop();
  client.close();
} finally {
  await cluster.down();
}

const base = rows[0];
const last = rows[rows.length - 1];
const result = {
  name: "network-endpoint-provision",
  inputs: { sizes: SIZES, probes: PROBES, nodes: NODES },
  results: rows,
  ratio_largest_to_smallest: base && last ? +(last.median_ms / base.median_ms).toFixed(2) : null,
  not_reached: notReached,
  target_ratio: 1.2,
  anchor: "Mizar: 'almost constant' provisioning claimed, not measured",
};
console.log(JSON.stringify(result));
const table = [
  "| pods existing | median (ms) | p90 (ms) | probes |",
  "| --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.existing} | ${r.median_ms} | ${r.p90_ms} | ${r.probes} |`),
  `| ratio largest / smallest (target ≤ 1.2x) | ${result.ratio_largest_to_smallest}x | | |`,
  ...(notReached.length ? [`| not reached within the time bound | ${notReached.join(", ")} | | |`] : []),
].join("\n");
console.log(table);
if (!values["no-record"]) {
  appendFileSync(
    new URL("./RESULTS.md", import.meta.url),
    `\n### network-endpoint-provision — ${new Date().toISOString().slice(0, 16)}Z\n\n${NODES} kwok nodes, one /16 subnet, controllers in the benchmark's process; pod create → Endpoint in the watch cache, sequential probes.\n\n${table}\n\n\`\`\`json\n${JSON.stringify(result, null, 2)}\n\`\`\`\n`,
  );
}
