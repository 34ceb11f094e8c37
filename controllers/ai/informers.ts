// The informer options the ai pillar declares once and shares: GPU-scheduler pods (lean, with
// a by-job index), GPU nodes (lean) and GPUJobs (a by-queue index). Every caller of
// informerFor uses these constants.

import { identityMeta, type KubeObject, pickKeys } from "../../pkg/kube/object.ts";
import { GPU_COUNT_LABEL, type GPUJob, JOB_LABEL, SCHEDULER_NAME } from "./api.ts";
import { leanPod, type NodeLike, type PodLike } from "./objects.ts";

/** The index of POD_INFORMER that lists a job's pods by the job's key. */
export const JOB_INDEX = "job";

export const POD_INFORMER = {
  fieldSelector: `spec.schedulerName=${SCHEDULER_NAME}`,
  transform: (p: KubeObject) => leanPod(p as PodLike),
  indexers: {
    [JOB_INDEX]: (p: KubeObject) => {
      const job = p.metadata.labels?.[JOB_LABEL];
      return job ? [`${p.metadata.namespace ?? ""}/${job}`] : [];
    },
  },
};

/** The index of JOB_INFORMER that lists the jobs of a queue by the queue's name. */
export const QUEUE_INDEX = "queue";

export const JOB_INFORMER = {
  indexers: { [QUEUE_INDEX]: (j: KubeObject) => [(j as GPUJob).spec.queue] },
};

/** GPU nodes carry nvidia.com/gpu.count (GPU feature discovery sets it; so do the kwok GPU nodes). */
export const NODE_INFORMER = {
  labelSelector: GPU_COUNT_LABEL,
  transform: (n: KubeObject) => leanNode(n as NodeLike),
};

/** Shrinks a node to what the scheduler reads (the node informer transform). */
export function leanNode(n: NodeLike): NodeLike {
  const pick = pickKeys;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      ...identityMeta(n.metadata),
      labels: pick(n.metadata.labels, (k) => k.startsWith("nvidia.com/")),
      annotations: pick(n.metadata.annotations, (k) => k.startsWith("ai.centaurus.io/")),
    },
    spec: { unschedulable: n.spec?.unschedulable },
    status: {
      capacity: pick(n.status?.capacity, (k) => k === "nvidia.com/gpu"),
      // cpu and memory too: dominant-resource fairness divides by the GPU nodes' totals.
      allocatable: pick(
        n.status?.allocatable,
        (k) => k === "nvidia.com/gpu" || k === "cpu" || k === "memory",
      ),
      conditions: (n.status?.conditions ?? []).filter((c) => c.type === "Ready").map((c) => ({ ...c })),
    },
  };
}
