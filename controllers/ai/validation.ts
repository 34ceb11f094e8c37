// Validation (pure): is a GPUJob's spec something this cluster and its queue can ever run?
// What the CRD's CEL rules cannot know (the queue, the nodes' sizes) is decided here, with a
// reason and a message that says what to do.

import { TerminalError } from "../../pkg/controller/controller.ts";
import type { GPUJob, GPUQueue } from "./api.ts";
import { jobGpuRequest } from "./objects.ts";
import { unitsOf } from "./placement.ts";

export interface Invalid {
  reason: string;
  message: string;
}

/** What validation reads of the cluster. */
export interface Capacity {
  totalUnits: number;
  maxDevicesPerNode: number;
  maxDeviceMemoryMiB: number;
}

/** The reasons a node that appears or grows can cure (the others need a queue or spec change). */
export const CAPACITY_REASONS: ReadonlySet<string> = new Set([
  "NoGPUNodes",
  "TooManyGPUsPerReplica",
  "FractionTooLarge",
]);

export function validateJob(
  job: GPUJob,
  queue: GPUQueue | undefined,
  capacity: Capacity,
): Invalid | undefined {
  if (!queue) {
    return {
      reason: "QueueNotFound",
      message: `GPUQueue ${job.spec.queue} does not exist; create it or fix spec.queue`,
    };
  }
  if (job.spec.replicas.min > job.spec.replicas.max) {
    return { reason: "InvalidReplicas", message: "replicas.min must not exceed replicas.max" };
  }
  const request = jobGpuRequest(job);
  if (capacity.totalUnits === 0) {
    return { reason: "NoGPUNodes", message: "the cluster has no schedulable GPU node" };
  }
  if (request.kind === "whole") {
    const max = capacity.maxDevicesPerNode;
    if (request.count > max) {
      return {
        reason: "TooManyGPUsPerReplica",
        message: `each replica asks for ${request.count} GPUs but no node has more than ${max}`,
      };
    }
  } else {
    if (request.share.computePercent > 100 || request.share.computePercent <= 0) {
      return { reason: "InvalidFraction", message: "gpuFraction.computePercent must be between 1 and 100" };
    }
    const mem = capacity.maxDeviceMemoryMiB;
    if (mem > 0 && request.share.memoryMiB > mem) {
      return {
        reason: "FractionTooLarge",
        message: `each replica asks for ${request.share.memoryMiB} MiB of GPU memory but no device has more than ${mem} MiB`,
      };
    }
  }
  const maxGpus = queue.spec.maxGPUs;
  const need = job.spec.replicas.min * unitsOf(request);
  if (maxGpus !== undefined && need > maxGpus) {
    return {
      reason: "ExceedsQueueMax",
      message: `the job needs ${need} GPUs at its minimum but queue ${job.spec.queue} may use at most ${maxGpus}`,
    };
  }
  return undefined;
}

/** A GPUJob whose spec cannot run here: not retried; its status says why (reason, message). */
export class InvalidJobError extends TerminalError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
