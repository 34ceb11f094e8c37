// `centaurus gpu top`: each GPU device's allocation, utilisation and pods, then each queue.

import { parseArgs } from "node:util";
import { type GPUQueue, GPUQueues, SCHEDULER_NAME } from "../controllers/ai/api.ts";
import { deservedShares, type QueueLoad } from "../controllers/ai/fairshare.ts";
import { NODE_INFORMER } from "../controllers/ai/informers.ts";
import {
  gpuNodeInfo,
  isTerminal,
  type NodeLike,
  type PodLike,
  podAssignment,
  podKey,
} from "../controllers/ai/objects.ts";
import { GpuCluster } from "../controllers/ai/placement.ts";
import { connect } from "../pkg/kube/config.ts";
import { isNotFound } from "../pkg/kube/errors.ts";
import { Resources } from "../pkg/kube/resource.ts";

export const GPU_HELP = `centaurus gpu — GPU scheduling (Alnair)

Usage:
  centaurus gpu top [--kubeconfig FILE] [--node NAME]

  top   every GPU device: model, allocated compute and memory, measured utilisation (from the
        ai.centaurus.io/gpu-utilization node annotation the profiler publishes) and the pods
        holding it; then every GPUQueue: weight, guarantee, maximum, allocated, deserved.
`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2)))
        .join("")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** The `gpu top` text for these objects (pure). */
export function renderGpuTop(
  nodes: NodeLike[],
  pods: PodLike[],
  queues: GPUQueue[],
  onlyNode?: string,
): string {
  const cluster = new GpuCluster();
  for (const n of nodes) {
    const info = gpuNodeInfo(n);
    if (info) cluster.upsertNode(info);
  }
  const load = new Map<string, QueueLoad>();
  for (const p of pods) {
    if (isTerminal(p) || p.metadata.deletionTimestamp) continue;
    const a = podAssignment(p);
    if (!a || !cluster.hasNode(a.node)) continue;
    try {
      cluster.allocate(podKey(p), a);
    } catch {
      // Shown as held by the first pod; an overlap would be the scheduler's bug, not hidden here.
    }
    const q = p.metadata.labels?.["ai.centaurus.io/queue"];
    if (q) {
      const units = a.share ? a.share.computePercent / 100 : a.devices.length;
      const cur = load.get(q) ?? { used: 0, demand: 0 };
      load.set(q, { used: cur.used + units, demand: cur.demand + units });
    }
  }
  const rows: string[][] = [["NODE", "DEVICE", "MODEL", "ALLOC", "MEM-ALLOC", "UTIL", "PODS"]];
  for (const name of cluster.nodeNames().sort()) {
    if (onlyNode && name !== onlyNode) continue;
    const info = cluster.nodeInfo(name);
    for (const d of cluster.devicesOf(name)) {
      const util = info?.utilization?.[d.index];
      rows.push([
        name,
        String(d.index),
        info?.model ?? "unknown",
        `${d.computeUsed}%`,
        `${d.memoryUsedMiB}Mi`,
        util === undefined ? "-" : `${util}%`,
        [...d.holders].join(",") || "-",
      ]);
    }
  }
  let out = table(rows);
  if (queues.length > 0) {
    const infos = queues.map((q) => ({
      name: q.metadata.name ?? "",
      weight: q.spec.weight ?? 1,
      guaranteedGPUs: q.spec.guaranteedGPUs ?? 0,
      maxGPUs: q.spec.maxGPUs,
      lendIdle: q.spec.lendIdle ?? true,
    }));
    const deserved = deservedShares(infos, load, cluster.totalUnits());
    const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
    const qrows = [["QUEUE", "WEIGHT", "GUARANTEED", "MAX", "ALLOCATED", "DESERVED", "RUNNING", "WAITING"]];
    for (const q of infos) {
      const status = queues.find((x) => x.metadata.name === q.name)?.status;
      qrows.push([
        q.name,
        String(q.weight),
        fmt(q.guaranteedGPUs),
        q.maxGPUs === undefined ? "-" : fmt(q.maxGPUs),
        fmt(load.get(q.name)?.used ?? 0),
        fmt(deserved.get(q.name) ?? 0),
        String(status?.runningJobs ?? 0),
        String(status?.waitingJobs ?? 0),
      ]);
    }
    out += `\n${table(qrows)}`;
  }
  return out;
}

export async function runGpu(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "top") {
    process.stdout.write(GPU_HELP);
    return sub === undefined || sub === "help" || sub === "--help" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      kubeconfig: { type: "string" },
      node: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(GPU_HELP);
    return 0;
  }
  const client = await connect(values.kubeconfig);
  try {
    const [nodes, pods] = await Promise.all([
      client.list<NodeLike>(Resources.Node, { labelSelector: NODE_INFORMER.labelSelector }),
      client.list<PodLike>(Resources.Pod, { fieldSelector: `spec.schedulerName=${SCHEDULER_NAME}` }),
    ]);
    let queues: GPUQueue[] = [];
    try {
      queues = (await client.list<GPUQueue>(GPUQueues)).items;
    } catch (err) {
      if (!isNotFound(err)) throw err; // the CRDs are not installed: show devices only
    }
    if (nodes.items.length === 0) {
      process.stdout.write("no GPU nodes (nodes labelled nvidia.com/gpu.count)\n");
      return 0;
    }
    process.stdout.write(renderGpuTop(nodes.items, pods.items, queues, values.node));
    return 0;
  } finally {
    client.close();
  }
}
