// Pods and nodes as the GPU scheduler reads and writes them; the profiler's nvidia-smi
// parsing; the `gpu top` view.

import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Registry } from "prom-client";
import { renderGpuTop } from "../../cli/gpu.ts";
import { type GPUJob, type GPUQueue, UTILIZATION_ANNOTATION } from "../../controllers/ai/api.ts";
import {
  capacityChanged,
  gpuNodeInfo,
  leanPod,
  type NodeLike,
  type PodLike,
  podAssignment,
  podGpuRequest,
  replicaPod,
} from "../../controllers/ai/objects.ts";
import { GpuCluster } from "../../controllers/ai/placement.ts";
import { findOnPath, GpuProfiler, parseNvidiaSmi } from "../../controllers/ai/profiler.ts";
import { fakeNode } from "../../pkg/localcluster/nodes.ts";
import { rootLogger } from "../../pkg/log.ts";

const job = (spec: Partial<GPUJob["spec"]>): GPUJob => ({
  apiVersion: "ai.centaurus.io/v1alpha1",
  kind: "GPUJob",
  metadata: { name: "train", namespace: "ml", uid: "u-1", labels: { "tenancy.centaurus.io/tenant": "acme" } },
  spec: {
    queue: "vision",
    replicas: { min: 1, max: 2 },
    template: {
      metadata: { labels: { app: "train" } },
      spec: {
        nodeName: "sneaky",
        containers: [
          { name: "a", image: "x", resources: { limits: { "nvidia.com/gpu": "7", cpu: "1" } } },
          { name: "b", image: "y" },
        ],
      },
    },
    ...spec,
  },
});

describe("ai objects", () => {
  it("reads a kwok GPU node: 8 devices, memory and model from the labels", () => {
    const info = gpuNodeInfo(fakeNode("gpu", 0) as NodeLike);
    expect(info).to.include({
      name: "kwok-gpu-0",
      count: 8,
      memoryMiB: 81920,
      model: "NVIDIA-A100-SXM4-80GB",
    });
    expect(gpuNodeInfo(fakeNode("plain", 0) as NodeLike)).to.equal(undefined);
    const cordoned = { ...fakeNode("gpu", 1), spec: { unschedulable: true } } as NodeLike;
    expect(gpuNodeInfo(cordoned)?.schedulable).to.equal(false);
  });

  it("tells a node's capacity change (which may unblock jobs) from a heartbeat or a utilisation update", () => {
    const node = fakeNode("gpu", 0) as NodeLike;
    const info = gpuNodeInfo(node);
    if (!info) throw new Error("a GPU node");
    const busy = gpuNodeInfo({
      ...node,
      metadata: { ...node.metadata, annotations: { [UTILIZATION_ANNOTATION]: "0=90" } },
    });
    expect(capacityChanged(info, busy ?? info)).to.equal(false);
    expect(capacityChanged(info, { ...info, count: 4 })).to.equal(true);
    expect(capacityChanged(info, { ...info, schedulable: false })).to.equal(true);
  });

  it("builds replica pods that request nvidia.com/gpu (so quotas count them) and name our scheduler", () => {
    const pod = replicaPod(job({ gpus: 2 }), "train-0-abcde", 0);
    expect(pod.spec?.schedulerName).to.equal("centaurus-gpu-scheduler");
    expect(pod.spec?.nodeName).to.equal(undefined);
    expect(pod.spec?.containers?.[0]?.resources?.requests?.["nvidia.com/gpu"]).to.equal("2");
    expect(pod.spec?.containers?.[0]?.resources?.limits).to.deep.equal({ "nvidia.com/gpu": "2", cpu: "1" });
    expect(pod.spec?.containers?.[1]?.resources?.limits?.["nvidia.com/gpu"]).to.equal(undefined);
    expect(pod.metadata.labels).to.include({
      app: "train",
      "ai.centaurus.io/job": "train",
      "ai.centaurus.io/replica": "0",
      "ai.centaurus.io/queue": "vision",
      "tenancy.centaurus.io/tenant": "acme",
    });
    expect(pod.metadata.ownerReferences?.[0]).to.include({
      kind: "GPUJob",
      name: "train",
      uid: "u-1",
      controller: true,
    });
    expect(podGpuRequest(pod)).to.deep.equal({ kind: "whole", count: 2 });
  });

  it("carries a fractional share in annotations, and reads it back from a bound pod", () => {
    const pod = replicaPod(job({ gpuFraction: { computePercent: 30, memoryMiB: 4096 } }), "t-0-x", 0);
    expect(pod.spec?.containers?.[0]?.resources?.limits?.["nvidia.com/gpu"]).to.equal(undefined);
    const share = { computePercent: 30, memoryMiB: 4096 };
    expect(podGpuRequest(pod)).to.deep.equal({ kind: "fraction", share });
    const bound: PodLike = {
      ...pod,
      metadata: {
        ...pod.metadata,
        annotations: { ...pod.metadata.annotations, "ai.centaurus.io/gpu-devices": "5" },
      },
      spec: { ...pod.spec, nodeName: "kwok-gpu-1" },
    };
    expect(podAssignment(bound)).to.deep.equal({ node: "kwok-gpu-1", devices: [5], share });
    const lean = leanPod({ ...bound, metadata: { ...bound.metadata, managedFields: [{}] } });
    expect(lean.metadata.labels).to.not.have.property("app");
    expect(podAssignment(lean)).to.deep.equal(podAssignment(bound));
  });
});

describe("ai profiler", () => {
  it("parses nvidia-smi CSV, including [N/A] figures", () => {
    const out = parseNvidiaSmi(
      "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 37, 1024, 81559\n1, GPU-bbbb, NVIDIA H100 80GB HBM3, [N/A], 0, 81559\n\nnot a line\n",
    );
    expect(out).to.have.length(2);
    expect(out[0]).to.deep.include({
      index: 0,
      uuid: "GPU-aaaa",
      utilizationPercent: 37,
      memoryUsedMiB: 1024,
    });
    expect(out[1]?.utilizationPercent).to.equal(0);
  });

  it("parses the output of a real nvidia-smi (recorded on an H200 with the profiler's query)", () => {
    const text = readFileSync(new URL("../fixtures/nvidia-smi-h200.csv", import.meta.url), "utf8");
    const [gpu] = parseNvidiaSmi(text);
    expect(gpu).to.deep.include({
      index: 0,
      name: "NVIDIA H200",
      utilizationPercent: 0,
      memoryTotalMiB: 143771,
    });
    expect(gpu?.uuid).to.match(/^GPU-[0-9a-f-]+$/);
  });

  it("reads a fake nvidia-smi found on PATH and exports its figures as metrics", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smi-"));
    const bin = join(dir, "nvidia-smi");
    writeFileSync(bin, "#!/bin/sh\necho '0, GPU-1, Test GPU, 55, 100, 1000'\n");
    chmodSync(bin, 0o755);
    expect(findOnPath("nvidia-smi", dir)).to.equal(bin);
    const registry = new Registry();
    const cluster = new GpuCluster();
    cluster.upsertNode({ name: "n1", count: 2, memoryMiB: 1000, model: "T", utilization: [10, 20] });
    cluster.allocate("ns/p", { node: "n1", devices: [1] });
    const profiler = new GpuProfiler({
      client: undefined as never,
      registry,
      cluster,
      log: rootLogger,
      smiPath: bin,
    });
    await profiler.sample();
    expect(profiler.latest()[0]?.utilizationPercent).to.equal(55);
    const text = await registry.metrics();
    expect(text).to.match(
      /centaurus_gpu_device_utilization_ratio\{node="localhost",device="0",source="nvidia-smi"\} 0.55/,
    );
    expect(text).to.match(
      /centaurus_gpu_device_utilization_ratio\{node="n1",device="1",source="node-annotation"\} 0.2/,
    );
    expect(text).to.match(/centaurus_gpu_device_allocated_ratio\{node="n1",device="1",model="T"\} 1/);
  });
});

describe("centaurus gpu top", () => {
  it("shows each device's allocation, utilisation and pods, and each queue", () => {
    const node = fakeNode("gpu", 0) as NodeLike;
    node.metadata.annotations = { "ai.centaurus.io/gpu-utilization": "50,0,0,0,0,0,0,0" };
    const pod = (name: string, devices: string, extra: Record<string, string> = {}): PodLike => ({
      metadata: {
        name,
        namespace: "ml",
        labels: { "ai.centaurus.io/queue": "vision" },
        annotations: { "ai.centaurus.io/gpu-devices": devices, ...extra },
      },
      spec: {
        nodeName: "kwok-gpu-0",
        containers: [{ name: "c", resources: { limits: { "nvidia.com/gpu": "2" } } }],
      },
      status: { phase: "Running" },
    });
    const queue: GPUQueue = {
      metadata: { name: "vision" },
      spec: { owner: { kind: "Team", name: "v" }, weight: 2, guaranteedGPUs: 8 },
    };
    const text = renderGpuTop(
      [node],
      [
        pod("a", "0,1"),
        pod("b", "2", {
          "ai.centaurus.io/gpu-compute-percent": "25",
          "ai.centaurus.io/gpu-memory-mib": "1024",
        }),
      ],
      [queue],
    );
    const lines = text.split("\n");
    expect(lines[0]).to.match(/^NODE\s+DEVICE\s+MODEL\s+ALLOC\s+MEM-ALLOC\s+UTIL\s+PODS$/);
    expect(lines[1]).to.match(/kwok-gpu-0\s+0\s+NVIDIA-A100-SXM4-80GB\s+100%\s+81920Mi\s+50%\s+ml\/a/);
    expect(lines[3]).to.match(/kwok-gpu-0\s+2\s+\S+\s+25%\s+1024Mi\s+0%\s+ml\/b/);
    expect(text).to.match(/vision\s+2\s+8\s+-\s+2.25\s+2.25/);
  });
});
