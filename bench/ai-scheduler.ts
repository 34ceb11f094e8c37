// Benchmark: binding N single-GPU pods with kube-scheduler, then the same N with the
// Centaurus GPU scheduler, side by side in one run on the same kwok GPU nodes.
//
//   npx tsx bench/ai-scheduler.ts [--nodes 500] [--pods 1000] [--runs 3] [--core-nodes 5000] [--core-pods 10000]
//
// Per run, each scheduler in turn: the scheduler is stopped, the N pods are created (1
// nvidia.com/gpu each), the scheduler is started, and a watch records when each pod gets its
// node. Throughput is (N-1) / (last binding - first binding), so process start-up and cache
// sync are left out for both. The Centaurus scheduler's decision latency (choosing node and
// devices, no API call) is read from its own samples. Pods are deleted between phases, so
// both see the same empty cluster.
//
// A last section measures the placement core alone at --core-nodes / --core-pods (in
// memory, no API server), which this 2-core machine cannot host as kwok nodes in one run.

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { GPUJobCRD, GPUQueueCRD, SCHEDULER_NAME } from "../controllers/ai/api.ts";
import { setupAi } from "../controllers/ai/index.ts";
import type { PodLike } from "../controllers/ai/objects.ts";
import { GpuCluster } from "../controllers/ai/placement.ts";
import { Informer } from "../pkg/cache/informer.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import { buildCRD, installCRDs } from "../pkg/kube/crd.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { Manager } from "../pkg/manager/manager.ts";
import { waitFor } from "../pkg/testing/wait.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "500" },
    pods: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    "core-nodes": { type: "string", default: "5000" },
    "core-pods": { type: "string", default: "10000" },
    "no-results": { type: "boolean", default: false },
  },
});
const NODES = Number(values.nodes);
const PODS = Number(values.pods);
const RUNS = Number(values.runs);
const CORE_NODES = Number(values["core-nodes"]);
const CORE_PODS = Number(values["core-pods"]);
const PHASE_TIMEOUT_MS = 10 * 60_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? 0;
};
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/** Retries a call that failed on a transient error (a reset connection on a loaded machine, 429, 5xx). */
async function retrying<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const transient =
        code === "ECONNRESET" ||
        code === "EPIPE" ||
        code === 429 ||
        (typeof code === "number" && code >= 500);
      if (!transient || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}

async function createPods(
  client: KubeClient,
  namespace: string,
  schedulerName: string | undefined,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < PODS) {
      const i = next++;
      await retrying(() =>
        client
          .create(Resources.Pod, {
            metadata: { name: `p-${i}`, namespace },
            spec: {
              ...(schedulerName ? { schedulerName } : {}),
              containers: [
                {
                  name: "c",
                  image: "registry.example/train:1",
                  resources: {
                    requests: { cpu: "10m", "nvidia.com/gpu": "1" },
                    limits: { "nvidia.com/gpu": "1" },
                  },
                },
              ],
              // The GPU nodes are the only ones with nvidia.com/gpu; plain/edge nodes do not fit anyway.
            },
          })
          .catch((err) => {
            // A create whose answer was lost may have happened: that is fine.
            if ((err as { code?: unknown }).code === 409) return undefined;
            throw err;
          }),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** Watches a namespace's pods and records when each first shows a node. */
function bindingWatch(client: KubeClient, namespace: string) {
  const boundAt = new Map<string, number>();
  const informer = new Informer<PodLike>(client, Resources.Pod, {
    namespace,
    transform: (p) => ({
      metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
      spec: { nodeName: p.spec?.nodeName },
    }),
  });
  const see = (p: PodLike) => {
    if (p.spec?.nodeName && !boundAt.has(p.metadata.name ?? ""))
      boundAt.set(p.metadata.name ?? "", performance.now());
  };
  informer.addEventHandler({ onAdd: see, onUpdate: (_o, p) => see(p) });
  informer.start();
  return { boundAt, informer };
}

async function clearNamespace(client: KubeClient, namespace: string): Promise<void> {
  await retrying(() =>
    client.request("DELETE", `/api/v1/namespaces/${namespace}/pods`, {
      body: { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0 },
    }),
  );
  await waitFor(
    `pods of ${namespace} to be gone`,
    async () => (await client.list(Resources.Pod, { namespace, limit: 1 })).items.length === 0 || undefined,
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 500 },
  );
}

interface Phase {
  seconds: number;
  podsPerSecond: number;
}

function throughput(boundAt: Map<string, number>): Phase {
  const times = [...boundAt.values()].sort((a, b) => a - b);
  const seconds = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;
  return { seconds, podsPerSecond: seconds > 0 ? (times.length - 1) / seconds : Number.POSITIVE_INFINITY };
}

async function kubeSchedulerPhase(cluster: LocalCluster, client: KubeClient, run: number): Promise<Phase> {
  const namespace = `bench-kube-${run}`;
  await retrying(() => client.create(Resources.Namespace, { metadata: { name: namespace } }));
  await cluster.stopComponent("kube-scheduler");
  await createPods(client, namespace, undefined);
  const { boundAt, informer } = bindingWatch(client, namespace);
  await informer.waitForSync();
  cluster.startComponent("kube-scheduler");
  await waitFor("kube-scheduler to bind every pod", () => boundAt.size >= PODS || undefined, {
    timeoutMs: PHASE_TIMEOUT_MS,
    intervalMs: 100,
  });
  await informer.stop();
  await clearNamespace(client, namespace);
  return throughput(boundAt);
}

async function centaurusPhase(client: KubeClient, run: number): Promise<Phase & { decisions: number[] }> {
  const namespace = `bench-gpu-${run}`;
  await retrying(() => client.create(Resources.Namespace, { metadata: { name: namespace } }));
  await createPods(client, namespace, SCHEDULER_NAME);
  const { boundAt, informer } = bindingWatch(client, namespace);
  await informer.waitForSync();
  const manager = new Manager({
    client,
    metricsBindAddress: "",
    healthProbeBindAddress: "",
    leaderElection: false,
  });
  const scheduler = setupAi(manager, client);
  await manager.start();
  await waitFor("the Centaurus scheduler to bind every pod", () => boundAt.size >= PODS || undefined, {
    timeoutMs: PHASE_TIMEOUT_MS,
    intervalMs: 100,
  });
  const decisions = [...scheduler.decisions];
  await manager.stop();
  await informer.stop();
  await clearNamespace(client, namespace);
  return { ...throughput(boundAt), decisions };
}

/** The placement core alone at full scale: CORE_PODS single-GPU decisions over CORE_NODES nodes. */
function coreOnly(): { p50_ms: number; p99_ms: number; max_ms: number } {
  const c = new GpuCluster();
  for (let i = 0; i < CORE_NODES; i++)
    c.upsertNode({ name: `n${i}`, count: 8, memoryMiB: 81920, model: "A100" });
  const samples: number[] = [];
  for (let i = 0; i < CORE_PODS; i++) {
    const t = process.hrtime.bigint();
    const a = c.find({ kind: "whole", count: 1 }, "binpack");
    if (a) c.allocate(`p${i}`, a);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return {
    p50_ms: Number(quantile(samples, 0.5).toFixed(4)),
    p99_ms: Number(quantile(samples, 0.99).toFixed(4)),
    max_ms: Number(Math.max(...samples).toFixed(3)),
  };
}

async function main(): Promise<void> {
  const name = `bench-ai-${process.pid}`;
  log(`starting a local control plane with ${NODES} kwok GPU nodes (8 GPUs each)`);
  const cluster = await LocalCluster.up({
    name,
    nodes: { plain: 0, gpu: NODES, edge: 0 },
    progress: log,
    readyTimeoutMs: 15 * 60_000,
  });
  // A killed benchmark must not leave a control plane behind.
  const onSignal = () => void cluster.down().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const client = await cluster.clientFor();
  await installCRDs(client, [buildCRD(GPUJobCRD), buildCRD(GPUQueueCRD)]);
  const kube: Phase[] = [];
  const ours: Phase[] = [];
  const decisions: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const k = await kubeSchedulerPhase(cluster, client, r);
      log(
        `run ${r + 1}: kube-scheduler bound ${PODS} pods in ${k.seconds.toFixed(2)} s (${k.podsPerSecond.toFixed(0)} pods/s)`,
      );
      kube.push(k);
      const c = await centaurusPhase(client, r);
      log(
        `run ${r + 1}: centaurus bound ${PODS} pods in ${c.seconds.toFixed(2)} s (${c.podsPerSecond.toFixed(0)} pods/s)`,
      );
      ours.push(c);
      decisions.push(...c.decisions);
    }
  } finally {
    client.close();
    await cluster.down();
  }
  const core = coreOnly();
  const ms = decisions.map((s) => s * 1000);
  const kubeRate = median(kube.map((x) => x.podsPerSecond));
  const ourRate = median(ours.map((x) => x.podsPerSecond));
  const result = {
    name: "ai-scheduler",
    inputs: {
      nodes: NODES,
      gpus_per_node: 8,
      pods: PODS,
      runs: RUNS,
      core_nodes: CORE_NODES,
      core_pods: CORE_PODS,
    },
    kube_scheduler_pods_per_s: Number(kubeRate.toFixed(1)),
    centaurus_pods_per_s: Number(ourRate.toFixed(1)),
    ratio: Number((ourRate / kubeRate).toFixed(2)),
    decision_p50_ms: Number(quantile(ms, 0.5).toFixed(4)),
    decision_p99_ms: Number(quantile(ms, 0.99).toFixed(4)),
    decisions: ms.length,
    core_only: core,
    target: { decision_p99_ms: 2, ratio: 1 },
    anchor: "kube-scheduler on the same kwok nodes, same run",
    runs: {
      kube_pods_per_s: kube.map((x) => Number(x.podsPerSecond.toFixed(1))),
      centaurus_pods_per_s: ours.map((x) => Number(x.podsPerSecond.toFixed(1))),
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const table =
    `| | median | runs |\n|---|---|---|\n` +
    `| kube-scheduler, pods/s | ${result.kube_scheduler_pods_per_s} | ${result.runs.kube_pods_per_s.join(", ")} |\n` +
    `| Centaurus GPU scheduler, pods/s | ${result.centaurus_pods_per_s} | ${result.runs.centaurus_pods_per_s.join(", ")} |\n` +
    `| ratio (target ≥ 1) | ${result.ratio}x | |\n` +
    `| decision latency p50 / p99 (target p99 < 2 ms), ${NODES} nodes | ${result.decision_p50_ms} / ${result.decision_p99_ms} ms | ${ms.length} decisions |\n` +
    `| placement core alone, ${CORE_NODES} nodes × ${CORE_PODS} pods, p50 / p99 / max | ${core.p50_ms} / ${core.p99_ms} / ${core.max_ms} ms | |\n`;
  process.stdout.write(`\n${table}`);
  if (!values["no-results"]) {
    appendFileSync(
      new URL("./RESULTS.md", import.meta.url),
      `\n## ai (Alnair GPU scheduling)\n\n### ai-scheduler — ${new Date().toISOString().slice(0, 16)}Z\n\n` +
        `${NODES} kwok GPU nodes × 8 GPUs, ${PODS} single-GPU pods, ${RUNS} runs; both schedulers on the same local control plane in one run (2-core machine).\n\n` +
        table +
        "\n```json\n" +
        JSON.stringify(result) +
        "\n```\n",
    );
  }
}

await main();
