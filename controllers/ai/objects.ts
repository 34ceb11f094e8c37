// Reading GPU facts off Node and Pod objects, and building the pods of a GPUJob (pure).

import type { Container, Node, Pod } from "../../pkg/kube/core.ts";
import { controllerReference, identityMeta, type KubeObject, pickKeys } from "../../pkg/kube/object.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  DEVICES_ANNOTATION,
  GPU_COMPUTE_ANNOTATION,
  GPU_MEMORY_ANNOTATION,
  GPU_MEMORY_LABEL,
  GPU_PRODUCT_LABEL,
  GPU_RESOURCE,
  type GPUJob,
  JOB_LABEL,
  POLICY_ANNOTATION,
  QUEUE_LABEL,
  REPLICA_LABEL,
  SCHEDULER_NAME,
  UTILIZATION_ANNOTATION,
} from "./api.ts";
import {
  type Assignment,
  type GpuNodeInfo,
  type GpuRequest,
  PLACEMENT_POLICIES,
  type PlacementPolicy,
  parseDevices,
} from "./placement.ts";

/** The shared core shapes (pkg/kube/core.ts), under the names this pillar has always used. */
export type NodeLike = Node;
export type PodLike = Pod;

/** The GPU node a Node object describes, or undefined for nodes without GPUs. */
/** Whether what placement and validation read of a node changed (not its utilisation). */
export function capacityChanged(a: GpuNodeInfo, b: GpuNodeInfo): boolean {
  return (
    a.count !== b.count ||
    a.memoryMiB !== b.memoryMiB ||
    a.model !== b.model ||
    a.schedulable !== b.schedulable
  );
}

export function gpuNodeInfo(node: NodeLike): GpuNodeInfo | undefined {
  const count = Number(
    node.status?.allocatable?.[GPU_RESOURCE] ?? node.status?.capacity?.[GPU_RESOURCE] ?? 0,
  );
  if (!Number.isFinite(count) || count <= 0) return undefined;
  const labels = node.metadata.labels ?? {};
  const memoryMiB = Number(labels[GPU_MEMORY_LABEL] ?? 0);
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return {
    name: node.metadata.name ?? "",
    count: Math.floor(count),
    memoryMiB: Number.isFinite(memoryMiB) && memoryMiB > 0 ? memoryMiB : 0,
    model: labels[GPU_PRODUCT_LABEL] ?? "unknown",
    utilization: parseUtilization(node.metadata.annotations?.[UTILIZATION_ANNOTATION]),
    schedulable: !node.spec?.unschedulable && (ready === undefined || ready.status === "True"),
  };
}

export function parseUtilization(value: string | undefined): number[] | undefined {
  if (!value) return undefined;
  const parts = value.split(",").map((s) => Number(s.trim()));
  return parts.every((n) => Number.isFinite(n)) ? parts.map((n) => Math.min(100, Math.max(0, n))) : undefined;
}

function quantity(v: string | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** What a pod asks of GPUs: whole devices from nvidia.com/gpu, or a share from annotations. */
export function podGpuRequest(pod: PodLike): GpuRequest | undefined {
  const annotations = pod.metadata.annotations ?? {};
  const compute = annotations[GPU_COMPUTE_ANNOTATION];
  if (compute !== undefined) {
    return {
      kind: "fraction",
      share: { computePercent: Number(compute), memoryMiB: Number(annotations[GPU_MEMORY_ANNOTATION] ?? 0) },
    };
  }
  let count = 0;
  for (const c of pod.spec?.containers ?? []) {
    count += quantity(c.resources?.limits?.[GPU_RESOURCE] ?? c.resources?.requests?.[GPU_RESOURCE]);
  }
  return count > 0 ? { kind: "whole", count } : undefined;
}

export function podPolicy(pod: PodLike): PlacementPolicy {
  const p = pod.metadata.annotations?.[POLICY_ANNOTATION];
  return PLACEMENT_POLICIES.includes(p as PlacementPolicy) ? (p as PlacementPolicy) : "binpack";
}

/** The allocation a bound pod records, if it records one. */
export function podAssignment(pod: PodLike): Assignment | undefined {
  const node = pod.spec?.nodeName;
  const devices = parseDevices(pod.metadata.annotations?.[DEVICES_ANNOTATION]);
  if (!node || !devices) return undefined;
  const request = podGpuRequest(pod);
  return request?.kind === "fraction" ? { node, devices, share: request.share } : { node, devices };
}

export function isTerminal(pod: PodLike): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

export function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`;
}

/**
 * Shrinks a pod to what the scheduler reads (the pod informer transform): its identity,
 * our labels and annotations, owner, node, scheduler, GPU requests and phase.
 */
export function leanPod(pod: PodLike): PodLike {
  const m = pod.metadata;
  const keep = pickKeys;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...identityMeta(m),
      labels: keep(m.labels, (k) => k.startsWith("ai.centaurus.io/")),
      annotations: keep(m.annotations, (k) => k.startsWith("ai.centaurus.io/")),
      ownerReferences: m.ownerReferences,
    },
    spec: {
      nodeName: pod.spec?.nodeName,
      schedulerName: pod.spec?.schedulerName,
      containers: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        resources: {
          requests: keep(c.resources?.requests, (k) => k === GPU_RESOURCE || k === "cpu" || k === "memory"),
          limits: keep(c.resources?.limits, (k) => k === GPU_RESOURCE),
        },
      })),
    },
    status: { phase: pod.status?.phase },
  };
}

/** The GPU request of each replica of a job. */
export function jobGpuRequest(job: GPUJob): GpuRequest {
  if (job.spec.gpuFraction) {
    return {
      kind: "fraction",
      share: {
        memoryMiB: job.spec.gpuFraction.memoryMiB ?? 0,
        computePercent: job.spec.gpuFraction.computePercent,
      },
    };
  }
  return { kind: "whole", count: job.spec.gpus ?? 1 };
}

/**
 * One replica's pod: the job's template with our scheduler name, labels, owner reference
 * and GPU request. Whole GPUs are requested as nvidia.com/gpu (so a namespace
 * ResourceQuota on requests.nvidia.com/gpu counts them at admission); a share is carried in
 * annotations.
 */
export function replicaPod(job: GPUJob, name: string, index: number): PodLike {
  const template = job.spec.template;
  const request = jobGpuRequest(job);
  const labels: Record<string, string> = {
    ...(template.metadata?.labels ?? {}),
    [JOB_LABEL]: job.metadata.name ?? "",
    [REPLICA_LABEL]: String(index),
    [QUEUE_LABEL]: job.spec.queue,
  };
  const tenant = job.metadata.labels?.[TENANT_LABEL];
  if (tenant) labels[TENANT_LABEL] = tenant;
  const annotations: Record<string, string> = { ...(template.metadata?.annotations ?? {}) };
  if (request.kind === "fraction") {
    annotations[GPU_COMPUTE_ANNOTATION] = String(request.share.computePercent);
    annotations[GPU_MEMORY_ANNOTATION] = String(request.share.memoryMiB);
  }
  const containers = (template.spec.containers ?? []).map((c, i) => {
    const container = structuredClone(c) as Container;
    // The job's spec decides GPUs, not the template: all of a replica's whole GPUs are
    // requested by its first container, and a fractional replica requests none.
    const gpus = request.kind === "whole" && i === 0 ? String(request.count) : undefined;
    const resources = container.resources ?? {};
    const strip = (r: Record<string, string> | undefined) => {
      const out = { ...(r ?? {}) };
      delete out[GPU_RESOURCE];
      if (gpus) out[GPU_RESOURCE] = gpus;
      return out;
    };
    container.resources = {
      ...resources,
      requests: strip(resources.requests),
      limits: strip(resources.limits),
    };
    return container;
  });
  const spec: Record<string, unknown> = { ...structuredClone(template.spec), containers };
  spec.schedulerName = SCHEDULER_NAME;
  delete spec.nodeName;
  if (spec.restartPolicy === undefined) spec.restartPolicy = "Never";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: job.metadata.namespace,
      labels,
      annotations,
      ownerReferences: [
        controllerReference({ ...job, apiVersion: "ai.centaurus.io/v1alpha1", kind: "GPUJob" }),
      ],
    },
    spec: spec as PodLike["spec"],
  };
}

/** Sum of CPU (cores) and memory (bytes) a pod's containers request (for dominant-resource fairness). */
export function podCpuMemory(pod: PodLike): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    cpu += parseCpu(c.resources?.requests?.cpu);
    memory += parseBytes(c.resources?.requests?.memory);
  }
  return { cpu, memory };
}

export function parseCpu(v: string | undefined): number {
  if (!v) return 0;
  if (v.endsWith("m")) return Number(v.slice(0, -1)) / 1000;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

const BYTE_SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
};

export function parseBytes(v: string | undefined): number {
  if (!v) return 0;
  const m = v.match(/^([0-9.]+)([A-Za-z]*)$/);
  if (!m) return 0;
  const mult = m[2] ? (BYTE_SUFFIX[m[2]] ?? Number.NaN) : 1;
  const n = Number(m[1]) * mult;
  return Number.isFinite(n) ? n : 0;
}
