// The Alnair pillar: GPU job scheduling (GPUJob, GPUQueue) with its own pod scheduler.

import { Controller } from "../../pkg/controller/controller.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { type KubeObject, objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import type { ControllerModule } from "../module.ts";
import { type GPUJob, GPUJobCRD, GPUJobs, GPUQueueCRD, GPUQueues } from "./api.ts";
import { GpuProfiler } from "./profiler.ts";
import { GpuScheduler, POD_INFORMER, type SchedulerOptions } from "./reconcile.ts";

export interface AiSetupOptions {
  /** Test hook: runs before each binding (e.g. to stop the operator in the middle of a gang). */
  beforeBind?: SchedulerOptions["beforeBind"];
}

/** Adds the GPU scheduler's controllers to a manager; returns the scheduler (tests and benchmarks read it). */
export function setupAi(manager: Manager, client: KubeClient, opts: AiSetupOptions = {}): GpuScheduler {
  const log = manager.log.child({ pillar: "ai" });
  const events = new EventRecorder(client, "centaurus.io/ai", "centaurus-gpu-scheduler", log);
  const scheduler = new GpuScheduler(client, {
    log,
    events,
    registry: manager.registry,
    beforeBind: opts.beforeBind,
  });
  scheduler.attach(manager.factory);

  const jobs = new Controller({
    name: "gpujob",
    for: GPUJobs,
    owns: [{ resource: Resources.Pod, informer: POD_INFORMER as never }],
    watches: [
      {
        resource: GPUQueues,
        // A queue appearing or changing may unblock its jobs.
        map: (q: KubeObject) =>
          manager.factory
            .informerFor<GPUJob>(GPUJobs)
            .store.list()
            .filter((j) => j.spec.queue === q.metadata.name)
            .map(objectKey),
      },
    ],
    // One at a time: admission, preemption and growth decide over the whole cluster.
    concurrency: 1,
    logger: log,
    reconcile: async (req) => scheduler.reconcileJob(req.key),
  });
  const pods = new Controller({
    name: "gpu-pod-scheduler",
    for: Resources.Pod,
    forInformer: POD_INFORMER as never,
    concurrency: 4,
    logger: log,
    reconcile: async (req) => scheduler.reconcilePod(req.key),
  });
  const queues = new Controller({
    name: "gpuqueue",
    for: GPUQueues,
    watches: [{ resource: GPUJobs, map: (j: KubeObject) => [(j as GPUJob).spec.queue] }],
    concurrency: 1,
    logger: log,
    reconcile: async (req) => scheduler.reconcileQueue(req.key),
  });
  scheduler.enqueueJob = (key) => jobs.enqueue(key);
  scheduler.enqueuePod = (key) => pods.enqueue(key);
  manager.add(jobs).add(pods).add(queues);

  const profiler = new GpuProfiler({
    client,
    registry: manager.registry,
    cluster: scheduler.cluster,
    log,
    nodeName: process.env.NODE_NAME,
  });
  profiler.start();
  return scheduler;
}

export const aiModule: ControllerModule = {
  name: "ai",
  crds: [GPUJobCRD, GPUQueueCRD],
  rbac: [
    { apiGroups: ["ai.centaurus.io"], resources: ["gpujobs", "gpuqueues"], verbs: ["get", "list", "watch"] },
    {
      apiGroups: ["ai.centaurus.io"],
      resources: ["gpujobs/status", "gpuqueues/status"],
      verbs: ["get", "patch", "update"],
    },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] },
    { apiGroups: [""], resources: ["pods/binding"], verbs: ["create"] },
    // patch: the profiler publishes nvidia-smi utilisation on its own node.
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
  ],
  setup(manager, client) {
    setupAi(manager, client);
  },
};
