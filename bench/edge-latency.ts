// Benchmark: how fast a mission travels down the edge tree and its status back up.
//
//   npx tsx bench/edge-latency.ts [--runs 20]
//
// Four real local clusters in a chain, root → d1 → d2 → d3, each with the edge operator
// (in-process managers, one client each; heartbeat 1 s, but propagation is event-driven:
// each operator watches its child's Missions). Per run:
//   depth N  : time from creating a Mission at the root (placement: d1, d2, d3) until its
//              ConfigMap exists at depth N (seen by a watch on that cluster);
//   root     : until the root's Mission status shows all three paths Applied;
//   baseline : in the same run, the same client applying the same ConfigMap directly in d3
//              and seeing it through a watch there (one API round trip + watch delivery).
// Reports median and p90 of the runs as a JSON line and a table, appended to bench/RESULTS.md.

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { type EdgeCluster, EdgeClusters, type Mission, Missions } from "../controllers/edge/api.ts";
import { Informer } from "../pkg/cache/informer.ts";
import { apply } from "../pkg/kube/apply.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import {
  edgeCluster,
  kubeconfigSecret,
  kubeconfigYAML,
  startTree,
  stopTree,
  type Tree,
} from "../test/fixtures/edge-tree.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" } } });
const RUNS = Math.min(100, Math.max(1, Number(values.runs)));
const BENCH_DEADLINE = Date.now() + 15 * 60_000;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] as number;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const ms = (x: number) => Math.round(x * 10) / 10;

const LEVELS = ["root", "d1", "d2", "d3"] as const;

async function main(): Promise<void> {
  const logger = pino({ level: "error" });
  let tree: Tree | undefined;
  // Clusters map to the chain: the tree helper names them root, a, b, a1; use root → a → b → a1.
  const chain = { root: "root", d1: "a", d2: "b", d3: "a1" } as const;
  try {
    tree = await startTree(undefined, logger);
    const t = tree;
    const client = (level: (typeof LEVELS)[number]): KubeClient => t.clients[chain[level]] as KubeClient;
    const links: Array<[(typeof LEVELS)[number], (typeof LEVELS)[number]]> = [
      ["root", "d1"],
      ["d1", "d2"],
      ["d2", "d3"],
    ];
    for (const [parent, child] of links) {
      const cluster = t.clusters[chain[child]];
      if (!cluster) throw new Error(`cluster ${child} missing`);
      await kubeconfigSecret(client(parent), `edge-${child}`, kubeconfigYAML(cluster));
      await client(parent).create(
        EdgeClusters,
        edgeCluster(child, `edge-${child}`, { depth: child.slice(1) }),
      );
    }
    await waitFor(
      "the chain root → d1 → d2 → d3 Connected at the root",
      async () => {
        const ec = await client("root").get<EdgeCluster>(EdgeClusters, "d1");
        const connected = (ec.status?.subtree ?? [])
          .filter((e) => e.connection === "Connected")
          .map((e) => e.path);
        return ["d1", "d1/d2", "d1/d2/d3"].every((p) => connected.includes(p));
      },
      { timeoutMs: 120_000 },
    );

    // Watches that timestamp arrivals: mission ConfigMaps at each depth, the root's status.
    const seen = new Map<string, number>();
    const informers: Informer<KubeObject>[] = [];
    for (const level of ["d1", "d2", "d3"] as const) {
      const inf = new Informer<KubeObject>(client(level), Resources.ConfigMap, {
        namespace: "default",
        labelSelector: "bench.centaurus.io/edge",
        logger,
      });
      inf.addEventHandler({
        onAdd: (o) => {
          const key = `${level}/${o.metadata.name}`;
          if (!seen.has(key)) seen.set(key, performance.now());
        },
      });
      informers.push(inf);
    }
    const rootMissions = new Informer<Mission>(client("root"), Missions, { logger });
    const onMission = (m: Mission) => {
      const applied = (m.status?.clusters ?? []).filter((c) => c.state === "Applied").map((c) => c.path);
      const key = `status/${m.metadata.name}`;
      if (["d1", "d1/d2", "d1/d2/d3"].every((p) => applied.includes(p)) && !seen.has(key)) {
        seen.set(key, performance.now());
      }
    };
    rootMissions.addEventHandler({ onAdd: onMission, onUpdate: (_o, m) => onMission(m) });
    for (const inf of [...informers, rootMissions as unknown as Informer<KubeObject>]) inf.start();
    await Promise.all([...informers.map((i) => i.waitForSync()), rootMissions.waitForSync()]);

    const results: Record<"d1" | "d2" | "d3" | "root" | "baseline", number[]> = {
      d1: [],
      d2: [],
      d3: [],
      root: [],
      baseline: [],
    };
    for (let run = 0; run < RUNS && Date.now() < BENCH_DEADLINE; run++) {
      // Baseline: one direct apply in d3, seen through the watch there.
      const base = `base-${run}`;
      const b0 = performance.now();
      await apply(client("d3"), Resources.ConfigMap, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: base, namespace: "default", labels: { "bench.centaurus.io/edge": "baseline" } },
        data: { run: String(run) },
      });
      await waitFor("baseline seen", () => seen.has(`d3/${base}`), { timeoutMs: 10_000, intervalMs: 1 });
      results.baseline.push((seen.get(`d3/${base}`) as number) - b0);
      await client("d3").delete(Resources.ConfigMap, base, "default");

      const name = `lat-${run}`;
      const t0 = performance.now();
      await client("root").create(Missions, {
        apiVersion: "edge.centaurus.io/v1alpha1",
        kind: "Mission",
        metadata: { name },
        spec: {
          placement: { clusters: ["d1", "d2", "d3"] },
          objects: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name, namespace: "default", labels: { "bench.centaurus.io/edge": "mission" } },
              data: { run: String(run) },
            },
          ],
        },
      } as Mission);
      await waitFor(
        `mission ${name} at every depth and in the root's status`,
        () => ["d1", "d2", "d3", "status"].every((l) => seen.has(`${l}/${name}`)),
        { timeoutMs: 30_000, intervalMs: 1 },
      );
      results.d1.push((seen.get(`d1/${name}`) as number) - t0);
      results.d2.push((seen.get(`d2/${name}`) as number) - t0);
      results.d3.push((seen.get(`d3/${name}`) as number) - t0);
      results.root.push((seen.get(`status/${name}`) as number) - t0);
      await client("root").delete(Missions, name);
      // Wait for the mission to be gone everywhere before the next run, so runs do not overlap.
      await waitFor(
        `mission ${name} removed from d3`,
        async () => {
          try {
            await client("d3").get(Missions, name);
            return false;
          } catch {
            return true;
          }
        },
        { timeoutMs: 30_000, intervalMs: 20 },
      );
    }
    for (const inf of [...informers, rootMissions as unknown as Informer<KubeObject>]) await inf.stop();

    const row = (xs: number[]) => ({ median_ms: ms(median(xs)), p90_ms: ms(quantile(xs, 0.9)) });
    const result = {
      name: "edge-mission-latency",
      inputs: { runs: results.d3.length, chain: "root → d1 → d2 → d3", heartbeat_s: 1 },
      depth1: row(results.d1),
      depth2: row(results.d2),
      depth3: row(results.d3),
      root_status: row(results.root),
      baseline_direct_apply_watch: row(results.baseline),
      target_depth3_median_ms: 300,
      aim_depth3_median_ms: 100,
      unit: "ms",
      anchor:
        "Fornax: missions broadcast by the parent and mission state polled every 1 s (reported on change); baseline: one direct apply + watch in the leaf cluster, same run",
      runs: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map(ms)])),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    const table = [
      `### edge-mission-latency — ${new Date().toISOString().slice(0, 16)}Z`,
      "",
      `${result.inputs.runs} runs; four local clusters in a chain root → d1 → d2 → d3 on this machine, each with the edge operator in one process (heartbeat 1 s; propagation by watches).`,
      "",
      "| from creating the mission at the root until | median | p90 |",
      "| --- | --- | --- |",
      `| its object exists at depth 1 (d1) | ${result.depth1.median_ms} ms | ${result.depth1.p90_ms} ms |`,
      `| its object exists at depth 2 (d2) | ${result.depth2.median_ms} ms | ${result.depth2.p90_ms} ms |`,
      `| its object exists at depth 3 (d3) (target < 300 ms, aim 100 ms) | ${result.depth3.median_ms} ms | ${result.depth3.p90_ms} ms |`,
      `| the root's status shows all three Applied | ${result.root_status.median_ms} ms | ${result.root_status.p90_ms} ms |`,
      `| baseline: direct apply in d3 seen by a watch there | ${result.baseline_direct_apply_watch.median_ms} ms | ${result.baseline_direct_apply_watch.p90_ms} ms |`,
      "",
      "```json",
      JSON.stringify(result, null, 2),
      "```",
      "",
    ].join("\n");
    process.stdout.write(`\n${table}\n`);
    appendFileSync(new URL("./RESULTS.md", import.meta.url), `\n${table}`);
  } finally {
    await stopTree(tree);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `edge-latency failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
