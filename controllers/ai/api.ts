// ai.centaurus.io/v1alpha1: GPUJob (namespaced) and GPUQueue (cluster-scoped) — the
// TypeScript types and the CRD schemas, one source of truth.

import { CONDITIONS_SCHEMA, type CRDSpec } from "../../pkg/kube/crd.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import { objectNameField } from "../../pkg/kube/schema-fields.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import type { PlacementPolicy } from "./placement.ts";

export const GROUP = "ai.centaurus.io";
export const SCHEDULER_NAME = "centaurus-gpu-scheduler";

/** The devices a pod was given, written by the scheduler through the binding: "0,1". */
export const DEVICES_ANNOTATION = "ai.centaurus.io/gpu-devices";
/** A pod's fractional share (set by the job controller, or by a user on a bare pod). */
export { GPU_COMPUTE_ANNOTATION, GPU_MEMORY_ANNOTATION } from "../shared/gpu-share.ts";
/** Placement policy for a bare pod (a GPUJob carries it in spec.placement). */
export const POLICY_ANNOTATION = "ai.centaurus.io/placement";
/** Per-device utilisation in percent that the profiler publishes on a node: "37,80,0,0". */
export const UTILIZATION_ANNOTATION = "ai.centaurus.io/gpu-utilization";
export const JOB_LABEL = "ai.centaurus.io/job";
export const REPLICA_LABEL = "ai.centaurus.io/replica";
export const QUEUE_LABEL = "ai.centaurus.io/queue";

export const GPU_RESOURCE = "nvidia.com/gpu";
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const GPU_MEMORY_LABEL = "nvidia.com/gpu.memory";
export const GPU_COUNT_LABEL = "nvidia.com/gpu.count";

export type JobPhase = "Pending" | "Admitted" | "Running" | "Scaling" | "Succeeded" | "Failed" | "Preempted";

export interface GPUFraction {
  memoryMiB: number;
  computePercent: number;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Array<Record<string, unknown> & { name: string }>;
    [k: string]: unknown;
  };
}

export interface GPUJobSpec {
  queue: string;
  priority?: number;
  replicas: { min: number; max: number };
  /** Per replica: whole GPUs, or a fraction of one device. */
  gpus?: number;
  gpuFraction?: GPUFraction;
  placement?: PlacementPolicy;
  template: PodTemplate;
}

export interface ReplicaStatus {
  name: string;
  node: string;
  devices: number[];
}

export interface GPUJobStatus {
  observedGeneration?: number;
  phase?: JobPhase;
  currentReplicas?: number;
  targetReplicas?: number;
  /** The placement decided for each replica; written before any pod is bound. */
  replicas?: ReplicaStatus[];
  admittedAt?: string;
  conditions?: Condition[];
}

export interface GPUJob extends KubeObject {
  spec: GPUJobSpec;
  status?: GPUJobStatus;
}

export interface GPUQueueSpec {
  owner: { kind: "Tenant" | "Team"; name: string };
  /** Tenants besides a Tenant owner whose jobs may use this queue (set by cluster admins). */
  tenants?: string[];
  /** Usable by every tenant's jobs. */
  shared?: boolean;
  weight?: number;
  guaranteedGPUs?: number;
  maxGPUs?: number;
  /** May other queues borrow this queue's idle guaranteed share (reclaimed when needed)? */
  lendIdle?: boolean;
}

export interface GPUQueueStatus {
  observedGeneration?: number;
  allocatedGPUs?: number;
  deservedGPUs?: number;
  runningJobs?: number;
  waitingJobs?: number;
  conditions?: Condition[];
}

export interface GPUQueue extends KubeObject {
  spec: GPUQueueSpec;
  status?: GPUQueueStatus;
}

export const GPUJobCRD: CRDSpec = {
  group: GROUP,
  kind: "GPUJob",
  plural: "gpujobs",
  singular: "gpujob",
  shortNames: ["gj"],
  namespaced: true,
  spec: {
    type: "object",
    required: ["queue", "replicas", "template"],
    properties: {
      queue: objectNameField("queue (a GPUQueue's name)", {
        minLength: 1,
        description: "The GPUQueue this job is charged to.",
      }),
      priority: { type: "integer", default: 0, minimum: -1000, maximum: 1000 },
      replicas: {
        type: "object",
        required: ["min", "max"],
        properties: {
          min: { type: "integer", minimum: 1, maximum: 10000, description: "Gang size: all start or none." },
          max: { type: "integer", minimum: 1, maximum: 10000, description: "Elastic upper bound." },
        },
        "x-kubernetes-validations": [
          { rule: "self.min <= self.max", message: "replicas.min must not exceed replicas.max" },
        ],
      },
      gpus: {
        type: "integer",
        minimum: 1,
        maximum: 64,
        description: "Whole GPUs per replica (on one node).",
      },
      gpuFraction: {
        type: "object",
        required: ["computePercent"],
        description: "A share of one GPU per replica.",
        properties: {
          memoryMiB: { type: "integer", minimum: 0, default: 0 },
          computePercent: {
            type: "integer",
            minimum: 1,
            description: "Share of the device's compute, 1–100.",
          },
        },
        "x-kubernetes-validations": [
          { rule: "self.computePercent <= 100", message: "gpuFraction.computePercent must not exceed 100%" },
        ],
      },
      placement: { type: "string", enum: ["binpack", "spread", "utilization"], default: "binpack" },
      template: {
        type: "object",
        required: ["spec"],
        "x-kubernetes-preserve-unknown-fields": true,
        properties: {
          metadata: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          spec: {
            type: "object",
            required: ["containers"],
            "x-kubernetes-preserve-unknown-fields": true,
            properties: {
              // Declared (the rest of the pod spec is kept as given) so that a job no pod can
              // come of is refused here, not reported as "binding" forever.
              containers: {
                type: "array",
                items: {
                  type: "object",
                  required: ["name", "image"],
                  "x-kubernetes-preserve-unknown-fields": true,
                },
                "x-kubernetes-validations": [
                  {
                    rule: "size(self) > 0",
                    message:
                      "template.spec.containers must list at least one container (name and image), as a pod's do",
                  },
                ],
              },
            },
          },
        },
      },
    },
    "x-kubernetes-validations": [
      {
        rule: "has(self.gpus) != has(self.gpuFraction)",
        message: "set exactly one of gpus (whole GPUs per replica) or gpuFraction (a share of one GPU)",
      },
      { rule: "self.queue == oldSelf.queue", message: "queue is immutable" },
    ],
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      phase: {
        type: "string",
        enum: ["Pending", "Admitted", "Running", "Scaling", "Succeeded", "Failed", "Preempted"],
      },
      currentReplicas: { type: "integer" },
      targetReplicas: { type: "integer" },
      admittedAt: { type: "string", format: "date-time" },
      replicas: {
        type: "array",
        items: {
          type: "object",
          required: ["name", "node", "devices"],
          properties: {
            name: { type: "string" },
            node: { type: "string" },
            devices: { type: "array", items: { type: "integer" } },
          },
        },
      },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "Queue", type: "string", jsonPath: ".spec.queue" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Replicas", type: "integer", jsonPath: ".status.currentReplicas" },
    { name: "Min", type: "integer", jsonPath: ".spec.replicas.min" },
    { name: "Max", type: "integer", jsonPath: ".spec.replicas.max" },
    { name: "Reason", type: "string", jsonPath: ".status.conditions[?(@.type=='Ready')].reason" },
  ],
};

export const GPUQueueCRD: CRDSpec = {
  group: GROUP,
  kind: "GPUQueue",
  plural: "gpuqueues",
  singular: "gpuqueue",
  shortNames: ["gq"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["owner"],
    properties: {
      owner: {
        type: "object",
        required: ["kind", "name"],
        properties: {
          kind: { type: "string", enum: ["Tenant", "Team"] },
          name: { type: "string", minLength: 1 },
        },
      },
      tenants: {
        type: "array",
        description: "Tenants besides a Tenant owner whose jobs may use this queue.",
        items: { type: "string", maxLength: 63 },
      },
      shared: { type: "boolean", description: "Usable by every tenant's jobs." },
      weight: { type: "integer", minimum: 1, maximum: 1000, default: 1 },
      guaranteedGPUs: { type: "number", minimum: 0, default: 0 },
      maxGPUs: { type: "number", minimum: 0 },
      lendIdle: { type: "boolean", default: true },
    },
    "x-kubernetes-validations": [
      {
        rule: "!has(self.maxGPUs) || !has(self.guaranteedGPUs) || self.guaranteedGPUs <= self.maxGPUs",
        message: "guaranteedGPUs must not exceed maxGPUs",
      },
    ],
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      allocatedGPUs: { type: "number" },
      deservedGPUs: { type: "number" },
      runningJobs: { type: "integer" },
      waitingJobs: { type: "integer" },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "Owner", type: "string", jsonPath: ".spec.owner.name" },
    { name: "Weight", type: "integer", jsonPath: ".spec.weight" },
    { name: "Guaranteed", type: "number", jsonPath: ".spec.guaranteedGPUs" },
    { name: "Max", type: "number", jsonPath: ".spec.maxGPUs" },
    { name: "Allocated", type: "number", jsonPath: ".status.allocatedGPUs" },
  ],
};

export const GPUJobs: ResourceType<GPUJob> = {
  group: GROUP,
  version: "v1alpha1",
  plural: "gpujobs",
  kind: "GPUJob",
  namespaced: true,
};
export const GPUQueues: ResourceType<GPUQueue> = {
  group: GROUP,
  version: "v1alpha1",
  plural: "gpuqueues",
  kind: "GPUQueue",
  namespaced: false,
};
