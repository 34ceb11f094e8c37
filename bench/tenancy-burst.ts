// Benchmark: tenants and VMs in bursts, against the API server's write floor in the same run.
//
//   npx tsx bench/tenancy-burst.ts [--tenants 200] [--namespaces 5] [--vms 1000] [--nodes 100] [--runs 2]
//
// One local control plane with --nodes kwok nodes; the manager (tenancy + compute) runs as its
// own compiled process. Per run:
//   tenants : create T Tenants of N namespaces each (with a quota) in one burst; time until
//             every one is Ready (namespaces, RBAC, isolation, quota shares all in place).
//   floor   : the same client makes as many writes as the manager made for that burst
//             (counted from its rest_client_requests_total) — ConfigMap creates, 16 in flight.
//   vms     : create V VirtualMachines (1 cpu, 1Gi) across the tenants' namespaces; time from
//             each VM's creation to status.phase Running: median and p99.
// Reports medians over runs, the manager's peak RSS (VmHWM), a JSON line and a table, and
// appends to bench/RESULTS.md.

import { execFileSync } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type VirtualMachine, VirtualMachineResource } from "../controllers/compute/api.ts";
import { computeModule } from "../controllers/compute/index.ts";
import { type Tenant, TenantResource } from "../controllers/tenancy/api.ts";
import { tenancyModule } from "../controllers/tenancy/index.ts";
import { Informer } from "../pkg/cache/informer.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import { installModules } from "../test/fixtures/tenancy.ts";
import { median, quantile, startTenancyManager } from "./tenancy-manager-process.ts";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "200" },
    namespaces: { type: "string", default: "5" },
    vms: { type: "string", default: "1000" },
    nodes: { type: "string", default: "100" },
    runs: { type: "string", default: "2" },
  },
});
const T = Number(values.tenants);
const NS = Number(values.namespaces);
const V = Number(values.vms);
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);
const WRITERS = 16;
const DEADLINE_MS = 15 * 60_000;

const log = (s: string) => process.stderr.write(`${s}\n`);

async function burst(count: number, make: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) await make(next++);
  };
  await Promise.all(Array.from({ length: WRITERS }, worker));
  return (performance.now() - start) / 1000;
}

function peakRssMb(pid: number): number {
  const kb = Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+)/)?.[1] ?? "0");
  return kb / 1024;
}

async function managerWrites(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^rest_client_requests_total\{([^}]*)\} (\d+)/gm)) {
    const method = /method="([A-Z]+)"/.exec(m[1] ?? "")?.[1];
    if (method && ["POST", "PUT", "PATCH", "DELETE"].includes(method)) n += Number(m[2]);
  }
  return n;
}

async function main(): Promise<void> {
  log("compiling the manager (tsc -p tsconfig.build.json)");
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  log(`starting a local control plane with ${NODES} kwok nodes`);
  const cluster = await LocalCluster.up({
    name: "bench-tenancy",
    nodes: { plain: NODES, gpu: 0, edge: 0 },
    progress: log,
  });
  const client = await cluster.clientFor();
  const ready: number[] = [];
  const floors: number[] = [];
  const writes: number[] = [];
  const vmP50: number[] = [];
  const vmP99: number[] = [];
  const podP50: number[] = [];
  const podP99: number[] = [];
  let rss = 0;
  try {
    await installModules(client, [tenancyModule, computeModule]);
    const { child, metricsPort, healthPort } = await startTenancyManager(cluster.kubeconfigPath);
    try {
      await waitFor(
        "the manager to be ready",
        async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
      );
      for (let run = 1; run <= RUNS; run++) {
        const prefix = `b${run}`;
        const tenants = new Informer<Tenant>(client, TenantResource, {});
        tenants.start();
        await tenants.waitForSync();
        const isReady = (t: Tenant) =>
          t.metadata.name?.startsWith(`${prefix}-`) &&
          t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        const writesBefore = await managerWrites(metricsPort);
        const start = performance.now();
        await burst(T, (i) =>
          client.create(TenantResource, {
            metadata: { name: `${prefix}-t${i}` },
            spec: {
              namespaces: Array.from({ length: NS - 1 }, (_, j) => `ns${j}`),
              quota: { cpu: "64", memory: "128Gi", pods: "100", virtualmachines: "20" },
            },
          } as Tenant),
        );
        await waitFor(
          "every tenant Ready",
          () => {
            const n = tenants.store.list().filter(isReady).length;
            return n >= T;
          },
          { timeoutMs: DEADLINE_MS, intervalMs: 50 },
        );
        const took = (performance.now() - start) / 1000;
        ready.push(took);
        await tenants.stop();
        // Quota rebalancing continues briefly after Ready; count what the burst needed.
        const madeWrites = (await managerWrites(metricsPort)) - writesBefore;
        writes.push(madeWrites);
        const floorNs = `floor-${run}`;
        await client.create(Resources.Namespace, { metadata: { name: floorNs } });
        const floor = await burst(madeWrites, (i) =>
          client.create(Resources.ConfigMap, {
            metadata: { name: `w-${i}`, namespace: floorNs },
            data: { i: String(i) },
          }),
        );
        floors.push(floor);
        await client.delete(Resources.Namespace, floorNs);
        log(
          `run ${run}: ${T} tenants Ready in ${took.toFixed(1)} s; ${madeWrites} manager writes; write floor ${floor.toFixed(1)} s (${(took / floor).toFixed(2)}x)`,
        );

        // VMs across the tenants' default namespaces.
        const runningAt = new Map<string, number>();
        const vms = new Informer<VirtualMachine>(client, VirtualMachineResource, {});
        vms.addEventHandler({
          onUpdate: (_o, v) => {
            const key = `${v.metadata.namespace}/${v.metadata.name}`;
            if (v.status?.phase === "Running" && !runningAt.has(key)) runningAt.set(key, Date.now());
          },
        });
        vms.start();
        await vms.waitForSync();
        const createdAt = new Map<string, number>();
        await burst(V, async (i) => {
          // Spread over every namespace of every tenant, as users would.
          const short = Math.floor(i / T) % NS;
          const ns = `${prefix}-t${i % T}-${short === NS - 1 ? "default" : `ns${short}`}`;
          const name = `vm-${i}`;
          createdAt.set(`${ns}/${name}`, Date.now());
          // A namespace's share of the tenant quota may be spent for a moment: retry like a client.
          await waitFor(
            `VM ${name} admitted`,
            () =>
              client.create(VirtualMachineResource, {
                metadata: { name, namespace: ns },
                spec: {
                  image: "quay.io/containerdisks/ubuntu:24.04",
                  cpu: 1,
                  memory: "1Gi",
                  runtimeClassName: "vm",
                },
              } as VirtualMachine),
            { timeoutMs: 60_000, intervalMs: 200 },
          );
        });
        await waitFor("every VM Running", () => runningAt.size >= V, {
          timeoutMs: DEADLINE_MS,
          intervalMs: 100,
        });
        await vms.stop();
        const lat = [...createdAt].map(([k, t0]) => ((runningAt.get(k) ?? Number.NaN) - t0) / 1000);
        vmP50.push(median(lat));
        vmP99.push(quantile(lat, 0.99));
        // Anchor in the same run: as many plain Pods with the same requests, created by the
        // same client, through the same scheduler and kwok nodes — creation to Running.
        const podNs = `pods-${run}`;
        await client.create(Resources.Namespace, { metadata: { name: podNs } });
        const podRunning = new Map<string, number>();
        const pods = new Informer(client, Resources.Pod, { namespace: podNs });
        pods.addEventHandler({
          onUpdate: (_o, p) => {
            const phase = (p as { status?: { phase?: string } }).status?.phase;
            if (phase === "Running" && !podRunning.has(p.metadata.name ?? ""))
              podRunning.set(p.metadata.name ?? "", Date.now());
          },
        });
        pods.start();
        await pods.waitForSync();
        const podCreated = new Map<string, number>();
        await burst(V, async (i) => {
          podCreated.set(`p-${i}`, Date.now());
          await client.create(Resources.Pod, {
            metadata: { name: `p-${i}`, namespace: podNs },
            spec: {
              runtimeClassName: "vm",
              containers: [
                {
                  name: "c",
                  image: "quay.io/containerdisks/ubuntu:24.04",
                  resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
                },
              ],
            },
          } as never);
        });
        await waitFor("every pod Running", () => podRunning.size >= V, {
          timeoutMs: DEADLINE_MS,
          intervalMs: 100,
        });
        await pods.stop();
        const podLat = [...podCreated].map(([k, t0]) => ((podRunning.get(k) ?? Number.NaN) - t0) / 1000);
        podP50.push(median(podLat));
        podP99.push(quantile(podLat, 0.99));
        log(
          `run ${run}: anchor — ${V} plain pods Running: median ${median(podLat).toFixed(2)} s, p99 ${quantile(podLat, 0.99).toFixed(2)} s`,
        );
        rss = Math.max(rss, peakRssMb(child.pid as number));
        log(
          `run ${run}: ${V} VMs Running — median ${median(lat).toFixed(2)} s, p99 ${quantile(lat, 0.99).toFixed(2)} s; manager peak RSS ${rss.toFixed(0)} MB`,
        );
        // Clean up the run's tenants (the controller deletes their namespaces) before the next;
        // after the last run the whole control plane goes.
        if (run === RUNS) break;
        for (let i = 0; i < T; i++) await client.delete(TenantResource, `${prefix}-t${i}`);
        await waitFor(
          "the run's tenants to be gone",
          async () =>
            (await client.list(TenantResource)).items.filter((t) => t.metadata.name?.startsWith(`${prefix}-`))
              .length === 0,
          { timeoutMs: DEADLINE_MS, intervalMs: 1000 },
        );
      }
    } finally {
      child.kill("SIGTERM");
    }
  } finally {
    client.close();
    await cluster.down();
  }
  const result = {
    name: "tenancy-burst",
    inputs: {
      tenants: T,
      namespaces_per_tenant: NS,
      vms: V,
      kwok_nodes: NODES,
      runs: RUNS,
      writers: WRITERS,
    },
    tenants_ready_s: Number(median(ready).toFixed(2)),
    write_floor_s: Number(median(floors).toFixed(2)),
    ratio: Number((median(ready) / median(floors)).toFixed(2)),
    target_ratio: 2,
    manager_writes: median(writes),
    vm_running_p50_s: Number(median(vmP50).toFixed(2)),
    vm_running_p99_s: Number(median(vmP99).toFixed(2)),
    pod_running_p50_s: Number(median(podP50).toFixed(2)),
    pod_running_p99_s: Number(median(podP99).toFixed(2)),
    peak_rss_mb: Number(rss.toFixed(0)),
    target_rss_mb: 300,
    anchor: "write floor: the same client making as many writes as the manager made, same run",
    runs: { tenants_ready_s: ready, write_floor_s: floors, vm_p50_s: vmP50, vm_p99_s: vmP99 },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const table =
    `| | median | runs |\n|---|---|---|\n` +
    `| ${T} tenants × ${NS} namespaces Ready | ${result.tenants_ready_s} s | ${ready.map((x) => x.toFixed(1)).join(", ")} |\n` +
    `| write floor (${result.manager_writes} writes, ${WRITERS} in flight) | ${result.write_floor_s} s | ${floors.map((x) => x.toFixed(1)).join(", ")} |\n` +
    `| ratio (target ≤ 2x) | ${result.ratio}x | |\n` +
    `| ${V} VMs to Running on ${NODES} kwok nodes: median | ${result.vm_running_p50_s} s | ${vmP50.map((x) => x.toFixed(2)).join(", ")} |\n` +
    `| … p99 | ${result.vm_running_p99_s} s | ${vmP99.map((x) => x.toFixed(2)).join(", ")} |\n` +
    `| anchor: ${V} plain pods (same requests, same client) to Running: median | ${result.pod_running_p50_s} s | ${podP50.map((x) => x.toFixed(2)).join(", ")} |\n` +
    `| … p99 | ${result.pod_running_p99_s} s | ${podP99.map((x) => x.toFixed(2)).join(", ")} |\n` +
    `| manager peak RSS (target < 300 MB) | ${result.peak_rss_mb} MB | |\n`;
  process.stdout.write(`\n${table}`);
  appendFileSync(
    new URL("./RESULTS.md", import.meta.url),
    `\n### tenancy-burst — ${new Date().toISOString().slice(0, 16)}Z\n\n` +
      `${T} tenants × ${NS} namespaces, ${V} VMs on ${NODES} kwok nodes, ${RUNS} runs, local control plane on this machine.\n\n${table}\n` +
      "```json\n" +
      JSON.stringify(result) +
      "\n```\n",
  );
}

await main();
