// Benchmark: the example (mirror) controller reconciling a burst of N labelled ConfigMaps.
//
//   npx tsx bench/example-burst.ts [--objects 2000] [--runs 3] [--concurrency 16]
//
// Per run, in a fresh namespace each time, on one local control plane:
//   floor    : the same client creates N plain ConfigMaps (the API server's write floor);
//   converge : with the manager (its own process) running, the client creates N labelled
//              ConfigMaps; time until all N copies exist.
// Reports medians of the runs, converge/floor, and the manager's peak RSS (VmHWM), prints
// a JSON line and a table, and appends the result to bench/RESULTS.md.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Informer } from "../pkg/cache/informer.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import { type ConfigMap, MIRROR_LABEL, MIRROR_OF_LABEL } from "../test/fixtures/mirror-controller.ts";

const { values } = parseArgs({
  options: {
    objects: { type: "string", default: "2000" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
  },
});
const N = Number(values.objects);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Creates N ConfigMaps with CONCURRENCY requests in flight; returns seconds taken. */
async function createBurst(
  client: KubeClient,
  namespace: string,
  labelled: boolean,
  onProgress: (n: number) => void,
  count = N,
): Promise<number> {
  let next = 0;
  let done = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await client.create<ConfigMap>(Resources.ConfigMap, {
        metadata: { name: `obj-${i}`, namespace, labels: labelled ? { [MIRROR_LABEL]: "true" } : {} },
        data: { index: String(i), payload: "x".repeat(64) },
      });
      if (++done % 500 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - start) / 1000;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks, USER_HZ = 100
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? "0");
  return kb / 1024;
}

async function startManager(kubeconfig: string): Promise<{ child: ChildProcess; healthPort: number }> {
  const child = spawn(
    process.execPath,
    // The compiled JavaScript, as the operator image runs it (tsx alone costs ~40 MB of RSS).
    [
      "--max-semi-space-size=4",
      "dist/test/fixtures/example-manager.js",
      "--kubeconfig",
      kubeconfig,
      "--no-leader-election",
      "--concurrency",
      "16",
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "error" } },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`manager exited (${code})`)));
  });
  return { child, healthPort: (JSON.parse(line) as { healthPort: number }).healthPort };
}

async function main(): Promise<void> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log("compiling the manager (npm run build)");
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  log(
    `starting a local control plane for the benchmark (${N} objects, ${RUNS} runs, ${CONCURRENCY} writers)`,
  );
  const cluster = await LocalCluster.up({
    name: "bench-burst",
    nodes: { plain: 1, gpu: 0, edge: 0 },
    progress: log,
  });
  const client = await cluster.clientFor();
  const floors: number[] = [];
  const doubleFloors: number[] = [];
  const converges: number[] = [];
  const rss: number[] = [];
  const managerCpu: number[] = [];
  try {
    const { child, healthPort } = await startManager(cluster.kubeconfigPath);
    try {
      await waitFor(
        "the manager to be ready",
        async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
      );
      for (let run = 1; run <= RUNS; run++) {
        const floorNs = `floor-${run}`;
        const burstNs = `burst-${run}`;
        await client.create(Resources.Namespace, { metadata: { name: floorNs } });
        await client.create(Resources.Namespace, { metadata: { name: burstNs } });

        const floor = await createBurst(client, floorNs, false, (n) =>
          log(`  run ${run} floor: ${n}/${N} created`),
        );
        floors.push(floor);
        // The writes converging really takes: N sources and N copies.
        const doubleNs = `double-${run}`;
        await client.create(Resources.Namespace, { metadata: { name: doubleNs } });
        doubleFloors.push(await createBurst(client, doubleNs, false, () => undefined, 2 * N));
        await client.delete(Resources.Namespace, doubleNs);

        const copies = new Informer(client, Resources.ConfigMap, {
          namespace: burstNs,
          labelSelector: MIRROR_OF_LABEL,
        });
        copies.start();
        await copies.waitForSync();
        const start = performance.now();
        const cpuBefore = cpuSeconds(child.pid as number);
        await createBurst(client, burstNs, true, (n) =>
          log(`  run ${run} burst: ${n}/${N} created, ${copies.store.size} copies`),
        );
        await waitFor("every copy", () => copies.store.size >= N, { timeoutMs: 600_000, intervalMs: 20 });
        const converge = (performance.now() - start) / 1000;
        await copies.stop();
        converges.push(converge);
        managerCpu.push(cpuSeconds(child.pid as number) - cpuBefore);
        rss.push(peakRssMb(child.pid as number));
        log(
          `run ${run}: floor ${floor.toFixed(2)} s, converge ${converge.toFixed(2)} s (${(converge / floor).toFixed(2)}x), manager CPU ${managerCpu.at(-1)?.toFixed(2)} s, peak RSS ${rss.at(-1)?.toFixed(0)} MB`,
        );
        await client.delete(Resources.Namespace, floorNs);
        await client.delete(Resources.Namespace, burstNs);
      }
    } finally {
      child.kill("SIGTERM");
    }
  } finally {
    client.close();
    await cluster.down();
  }
  const result = {
    name: "example-controller-burst",
    inputs: { objects: N, runs: RUNS, writers: CONCURRENCY },
    floor_s: Number(median(floors).toFixed(2)),
    converge_s: Number(median(converges).toFixed(2)),
    ratio: Number((median(converges) / median(floors)).toFixed(2)),
    floor_2n_s: Number(median(doubleFloors).toFixed(2)),
    ratio_to_2n_floor: Number((median(converges) / median(doubleFloors)).toFixed(2)),
    target_ratio: 1.2,
    peak_rss_mb: Number(Math.max(...rss).toFixed(0)),
    manager_cpu_s: Number(median(managerCpu).toFixed(2)),
    target_rss_mb: 150,
    anchor: "write floor: the same client creating the same number of objects, same run",
    runs: {
      floor_2n_s: doubleFloors.map((x) => Number(x.toFixed(2))),
      floor_s: floors.map((x) => Number(x.toFixed(2))),
      converge_s: converges.map((x) => Number(x.toFixed(2))),
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    `\n| objects | write floor (median) | converge (median) | ratio | target | manager peak RSS |\n|---|---|---|---|---|---|\n| ${N} | ${result.floor_s} s | ${result.converge_s} s | ${result.ratio}x | ≤ 1.2x | ${result.peak_rss_mb} MB (≤ 150) |\n`,
  );
  appendFileSync(
    new URL("./RESULTS.md", import.meta.url),
    `\n### example-controller-burst — ${new Date().toISOString().slice(0, 16)}Z\n\n` +
      `${N} objects, ${RUNS} runs, ${CONCURRENCY} concurrent writers, local control plane (kube-apiserver ${process.env.KUBERNETES_VERSION ?? "v1.36.3"}) on this machine.\n\n` +
      `| | median | runs |\n|---|---|---|\n` +
      `| write floor (create ${N}) | ${result.floor_s} s | ${result.runs.floor_s.join(", ")} |\n` +
      `| converge (create ${N} + ${N} copies) | ${result.converge_s} s | ${result.runs.converge_s.join(", ")} |\n` +
      `| ratio (target ≤ 1.2x) | ${result.ratio}x | |\n` +
      `| write floor for 2x${N} objects (the writes converging needs) | ${result.floor_2n_s} s | ${doubleFloors.map((x) => x.toFixed(2)).join(", ")} |\n` +
      `| converge / 2x${N} floor | ${result.ratio_to_2n_floor}x | |\n| manager peak RSS (target < 150 MB) | ${result.peak_rss_mb} MB | |\n` +
      `| manager CPU during converge | ${result.manager_cpu_s} s | ${managerCpu.map((x) => x.toFixed(2)).join(", ")} |\n\n` +
      "```json\n" +
      JSON.stringify(result) +
      "\n```\n",
  );
}

await main();
