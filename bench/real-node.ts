// Benchmark: a local cluster with a real node, and the operator as pods on it.
//
//   npx tsx bench/real-node.ts [--runs 3]
//
//   cluster up  : `LocalCluster.up` with real=1,plain=3 until the real node (and the fakes)
//                 are Ready, binaries and images cached; the cluster is torn down between runs;
//   pod → Ready : per operator pod of `helm install` (the image built from the Dockerfile,
//                 cached, loaded into the node), from the pod's creation to its Ready condition
//                 as first observed by a 100 ms poll (kubelet's /readyz probe gates it);
//   failover    : from SIGKILL of the leader's container (ctr task kill) to the other pod
//                 holding the Lease (lease duration 15 s: an expiry, not a hand-over).
// Prints a JSON line and a table, and appends them to bench/RESULTS.md.

import { execFileSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { KubeClient } from "../pkg/kube/client.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { loadOperatorImage, realNodeHelmInstall } from "../pkg/localcluster/operator-image.ts";
import { realNodesUnavailable } from "../pkg/localcluster/real-node.ts";
import { realNodeLayout } from "../pkg/localcluster/real-node-config.ts";
import { waitFor } from "../pkg/testing/wait.ts";

interface Pod extends KubeObject {
  status?: {
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ containerID?: string; restartCount: number }>;
  };
}
const NS = "centaurus-system";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ready = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
const pods = async (c: KubeClient) =>
  (await c.list<Pod>(Resources.Pod, { namespace: NS, labelSelector: "app.kubernetes.io/name=centaurus" }))
    .items;
const leader = async (c: KubeClient) =>
  (
    await c.get<KubeObject & { spec: { holderIdentity?: string } }>(Resources.Lease, "centaurus-manager", NS)
  ).spec.holderIdentity?.split("_")[0];

async function upOnce(name: string): Promise<{ cluster: LocalCluster; ms: number }> {
  const t0 = Date.now();
  const cluster = await LocalCluster.up({
    name,
    nodes: { plain: 3, gpu: 0, edge: 0, real: 1 },
    progress: () => {},
  });
  return { cluster, ms: Date.now() - t0 };
}

/** helm install; per pod, creation → Ready as observed. */
async function podStartToReady(cluster: LocalCluster, client: KubeClient): Promise<number[]> {
  const image = await loadOperatorImage(cluster.name);
  execFileSync(join(cluster.state.binDir, "helm"), [
    "install",
    ...realNodeHelmInstall(image),
    `--kubeconfig=${cluster.kubeconfigPath}`,
  ]);
  const seen = new Map<string, number>();
  await waitFor(
    "two operator pods Ready",
    async () => {
      for (const p of await pods(client)) {
        if (ready(p) && !seen.has(p.metadata.name ?? "")) {
          seen.set(p.metadata.name ?? "", Date.now() - Date.parse(p.metadata.creationTimestamp ?? ""));
        }
      }
      return seen.size >= 2 ? true : undefined;
    },
    { timeoutMs: 180_000 },
  );
  return [...seen.values()];
}

async function failoverOnce(cluster: LocalCluster, client: KubeClient): Promise<number> {
  const lead = await waitFor(
    "a leader among the pods",
    async () => {
      const names = (await pods(client)).filter(ready).map((p) => p.metadata.name);
      const l = await leader(client);
      return names.length === 2 && l && names.includes(l) ? l : undefined;
    },
    { timeoutMs: 180_000 },
  );
  const victim = (await pods(client)).find((p) => p.metadata.name === lead);
  const id = victim?.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, "") ?? "";
  const t0 = Date.now();
  execFileSync("ctr", [
    "--address",
    realNodeLayout(cluster.state.dir).containerdSocket,
    "-n",
    "k8s.io",
    "task",
    "kill",
    "--signal",
    "SIGKILL",
    id,
  ]);
  await waitFor(
    "another leader",
    async () => {
      const l = await leader(client);
      return l && l !== lead ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
  const runs = Number(values.runs);
  const why = realNodesUnavailable();
  if (why) throw new Error(`real nodes are unavailable here: ${why}`);
  const name = `bench-real-${process.pid}`;
  // A first, uncounted start makes sure binaries and images are cached.
  await (await upOnce(name)).cluster.down();
  const up: number[] = [];
  for (let i = 0; i < runs - 1; i++) {
    const r = await upOnce(name);
    up.push(r.ms);
    await r.cluster.down();
  }
  const last = await upOnce(name);
  up.push(last.ms);
  const client = await last.cluster.clientFor();
  try {
    const podReady = await podStartToReady(last.cluster, client);
    const failover: number[] = [];
    for (let i = 0; i < runs; i++) failover.push(await failoverOnce(last.cluster, client));
    const result = {
      bench: "real-node",
      date: new Date().toISOString(),
      runs,
      upMs: up,
      podReadyMs: podReady,
      failoverMs: failover,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const table = [
      `### real-node — ${result.date.slice(0, 16)}Z`,
      "",
      `Local cluster with a real node (kubelet + containerd + runc) and 3 kwok nodes; operator from the Dockerfile's image, helm install, 2 replicas. ${runs} runs each.`,
      "",
      "|                                                        | median | runs |",
      "| ------------------------------------------------------ | ------ | ---- |",
      `| cluster up with a real node to Ready (cached)          | ${s(median(up))} | ${up.map(s).join(", ")} |`,
      `| operator pod created → Ready (kubelet /readyz probe)   | ${s(median(podReady))} | ${podReady.map(s).join(", ")} |`,
      `| leader failover after SIGKILL of its container         | ${s(median(failover))} | ${failover.map(s).join(", ")} |`,
      "",
    ].join("\n");
    process.stdout.write(`\n${table}\n`);
    appendFileSync(join(import.meta.dirname, "RESULTS.md"), `\n${table}`);
  } finally {
    client.close();
    await last.cluster.down();
  }
}

await main();
