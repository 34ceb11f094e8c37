// The GPU profiler: per-device allocation and utilisation as Prometheus metrics. Utilisation
// comes from nvidia-smi when the binary is on PATH (a real GPU on this host; the reading is
// also published on this host's Node as the ai.centaurus.io/gpu-utilization annotation that
// utilisation-aware placement reads), otherwise from the figures the nodes publish.

import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Gauge, type Registry } from "prom-client";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import type { Runnable } from "../../pkg/manager/runnable.ts";
import { UTILIZATION_ANNOTATION } from "./api.ts";
import type { GpuCluster } from "./placement.ts";

export interface SmiReading {
  index: number;
  uuid: string;
  name: string;
  utilizationPercent: number;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
}

export const SMI_QUERY = "index,uuid,name,utilization.gpu,memory.used,memory.total";

/** Parses `nvidia-smi --query-gpu=SMI_QUERY --format=csv,noheader,nounits`; skips lines it cannot read. */
export function parseNvidiaSmi(output: string): SmiReading[] {
  const out: SmiReading[] = [];
  for (const line of output.split("\n")) {
    const f = line.split(",").map((s) => s.trim());
    if (f.length < 6) continue;
    const [index, uuid, name, util, used, total] = f;
    const nums = [index, util, used, total].map((x) => Number(x));
    // "[N/A]" (e.g. utilisation under MIG) reads as 0 rather than dropping the device.
    const [i, u, m, t] = nums.map((n) => (Number.isFinite(n) ? n : 0));
    if (!Number.isInteger(Number(index))) continue;
    out.push({
      index: i ?? 0,
      uuid: uuid ?? "",
      name: name ?? "",
      utilizationPercent: u ?? 0,
      memoryUsedMiB: m ?? 0,
      memoryTotalMiB: t ?? 0,
    });
  }
  return out;
}

export function findOnPath(cmd: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, cmd);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export function readNvidiaSmi(binary: string, timeoutMs = 5000): Promise<SmiReading[]> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      [`--query-gpu=${SMI_QUERY}`, "--format=csv,noheader,nounits"],
      { timeout: timeoutMs },
      (err, stdout) => (err ? reject(err) : resolve(parseNvidiaSmi(stdout))),
    );
  });
}

export interface ProfilerOptions {
  client: KubeClient;
  registry: Registry;
  cluster: GpuCluster;
  log: Logger;
  /** This host's Node name (NODE_NAME in the pod), where nvidia-smi readings are published. */
  nodeName?: string;
  intervalMs?: number;
  /** nvidia-smi binary; default: found on PATH. */
  smiPath?: string;
}

/** A Runnable (needs no leader election: every replica samples its own node). */
export class GpuProfiler implements Runnable {
  readonly name = "gpu-profiler";
  readonly needLeaderElection = false;
  private readings: SmiReading[] = [];
  private timer: NodeJS.Timeout | undefined;
  readonly smiPath: string | undefined;

  constructor(private readonly opts: ProfilerOptions) {
    this.smiPath = opts.smiPath ?? findOnPath("nvidia-smi");
    const registers = [opts.registry];
    const cluster = opts.cluster;
    const self = this;
    new Gauge({
      name: "centaurus_gpu_device_allocated_ratio",
      help: "Share of each GPU's compute allocated to pods (1 = whole device)",
      labelNames: ["node", "device", "model"],
      registers,
      collect() {
        this.reset();
        for (const node of cluster.nodeNames()) {
          const model = cluster.nodeInfo(node)?.model ?? "unknown";
          for (const d of cluster.devicesOf(node)) {
            this.set({ node, device: String(d.index), model }, d.computeUsed / 100);
          }
        }
      },
    });
    new Gauge({
      name: "centaurus_gpu_device_memory_allocated_bytes",
      help: "GPU memory allocated to pods on each device",
      labelNames: ["node", "device"],
      registers,
      collect() {
        this.reset();
        for (const node of cluster.nodeNames()) {
          for (const d of cluster.devicesOf(node)) {
            this.set({ node, device: String(d.index) }, d.memoryUsedMiB * 2 ** 20);
          }
        }
      },
    });
    new Gauge({
      name: "centaurus_gpu_device_utilization_ratio",
      help: "Measured GPU utilisation (0-1), from nvidia-smi on this host or the node's published figures",
      labelNames: ["node", "device", "source"],
      registers,
      collect() {
        this.reset();
        const local = opts.nodeName;
        for (const r of self.readings) {
          this.set(
            { node: local ?? "localhost", device: String(r.index), source: "nvidia-smi" },
            r.utilizationPercent / 100,
          );
        }
        for (const node of cluster.nodeNames()) {
          if (self.readings.length > 0 && node === local) continue;
          const util = cluster.nodeInfo(node)?.utilization;
          for (const [i, u] of (util ?? []).entries()) {
            this.set({ node, device: String(i), source: "node-annotation" }, u / 100);
          }
        }
      },
    });
    new Gauge({
      name: "centaurus_gpu_devices",
      help: "GPU devices per node as the node publishes them",
      labelNames: ["node", "model"],
      registers,
      collect() {
        this.reset();
        for (const node of cluster.nodeNames()) {
          const info = cluster.nodeInfo(node);
          if (info) this.set({ node, model: info.model }, info.count);
        }
      },
    });
  }

  /** Latest nvidia-smi readings (empty without a GPU). */
  latest(): SmiReading[] {
    return this.readings;
  }

  /** Reads nvidia-smi once and publishes the figures on this host's node. */
  async sample(): Promise<void> {
    if (!this.smiPath) return;
    try {
      this.readings = await readNvidiaSmi(this.smiPath);
    } catch (err) {
      this.opts.log.warn(
        { err: String(err), nvidiaSmi: this.smiPath },
        "nvidia-smi failed: GPU utilisation metrics are stale; check the NVIDIA driver on this host (run nvidia-smi)",
      );
      return;
    }
    if (!this.opts.nodeName || this.readings.length === 0) return;
    const value = [...this.readings]
      .sort((a, b) => a.index - b.index)
      .map((r) => String(Math.round(r.utilizationPercent)))
      .join(",");
    try {
      await this.opts.client.patch(Resources.Node, this.opts.nodeName, undefined, "merge", {
        metadata: { annotations: { [UTILIZATION_ANNOTATION]: value } },
      });
    } catch (err) {
      this.opts.log.warn(
        { err: String(err), node: this.opts.nodeName },
        "could not publish GPU utilisation on the node: check that the operator may patch nodes (RBAC) and that NODE_NAME names this node",
      );
    }
  }

  start(): void {
    if (!this.smiPath || this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.opts.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Whether sampling is running. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
