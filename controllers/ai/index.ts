// The Alnair pillar: GPU job scheduling (GPUJob, GPUQueue) with its own pod scheduler.
//
// Decisions (pure, no I/O):  placement.ts / assignment.ts  nodes, devices, gangs, scoring
//   fairshare.ts  deserved shares, admission verdicts, evictions, waiting order
//   accounting.ts  what pods hold; each queue's use, demand and dominant share
//   validation.ts  can this job ever run here?     lifecycle.ts  the next step for a job
//   admission.ts  admission, elastic start and growth plans, eviction victims
//   job-status.ts  job and queue status            objects.ts  GPU facts on Pods and Nodes
// State: scheduler.ts (the index the informers keep; the watches' mappers), informers.ts.
// Reconcilers: gpujob.ts (+ gang.ts, job-writes.ts), gpu-pod.ts, gpuqueue.ts.
// Runnables: binder.ts (the only bindings), profiler.ts (nvidia-smi; every replica).

import { Controller } from "../../pkg/controller/controller.ts";
import { mapByIndex } from "../../pkg/controller/mappers.ts";
import { watch } from "../../pkg/controller/watch.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import type { ControllerModule } from "../module.ts";
import { type GPUJob, GPUJobCRD, GPUJobs, GPUQueueCRD, GPUQueues } from "./api.ts";
import { Binder, type BinderOptions } from "./binder.ts";
import { GangRunner } from "./gang.ts";
import { GpuPodReconciler } from "./gpu-pod.ts";
import { GpuJobReconciler } from "./gpujob.ts";
import { GpuQueueReconciler } from "./gpuqueue.ts";
import { JOB_INFORMER, NODE_INFORMER, POD_INFORMER, QUEUE_INDEX } from "./informers.ts";
import { JobWrites } from "./job-writes.ts";
import { namespaceQueuesController } from "./namespace-queues.ts";
import { GpuProfiler } from "./profiler.ts";
import { queueAccessBinding, queueAccessPolicy } from "./queue-access.ts";
import { GpuScheduler } from "./scheduler.ts";
import { InvalidJobError } from "./validation.ts";

export interface AiSetupOptions {
  /** Test hook: runs before each binding (e.g. to stop the operator in the middle of a gang). */
  beforeBind?: BinderOptions["beforeBind"];
  /** How long Manager.stop() waits for bindings in flight (default 30 s). */
  bindDrainMs?: number;
  /** The profiler's nvidia-smi (default: found on PATH); tests pass a fake. */
  smiPath?: string;
}

export interface AiPillar {
  scheduler: GpuScheduler;
  binder: Binder;
  profiler: GpuProfiler;
}

/** Adds the GPU scheduler's controllers and runnables to a manager; returns the scheduler (tests and benchmarks read it). */
export function setupAi(manager: Manager, client: KubeClient, opts: AiSetupOptions = {}): GpuScheduler {
  return setupAiPillar(manager, client, opts).scheduler;
}

/** setupAi, returning the runnables too. */
export function setupAiPillar(manager: Manager, client: KubeClient, opts: AiSetupOptions = {}): AiPillar {
  const log = manager.log.child({ pillar: "ai" });
  const events = new EventRecorder(client, "centaurus.io/ai", "centaurus-gpu-scheduler", log);
  const scheduler = new GpuScheduler(log, manager.registry);
  scheduler.attach(manager.factory);
  const binder = new Binder({
    client,
    cluster: scheduler.cluster,
    log,
    registry: manager.registry,
    beforeBind: opts.beforeBind,
    drainMs: opts.bindDrainMs,
  });
  const writes = new JobWrites(client, events, scheduler);
  const jobReconciler = new GpuJobReconciler(
    scheduler,
    writes,
    new GangRunner(client, scheduler, binder, writes),
  );

  const jobs = jobController(scheduler, jobReconciler, log);
  // The binder is the external source of a failed background binding's retry.
  const podReconciler = new GpuPodReconciler(scheduler, binder, events, log, (key, ms) =>
    pods.enqueue(key, ms),
  );
  const pods = podController(scheduler, podReconciler, log);
  const queueReconciler = new GpuQueueReconciler(client, scheduler);
  const queues = new Controller({
    name: "gpuqueue",
    for: GPUQueues,
    watches: [watch<GPUJob>({ resource: GPUJobs, map: (j) => [j.spec.queue] })],
    concurrency: 1,
    logger: log,
    reconcile: async (req) => queueReconciler.reconcile(req.key),
  });
  const profiler = new GpuProfiler({
    client,
    registry: manager.registry,
    cluster: scheduler.cluster,
    log,
    nodeName: process.env.NODE_NAME,
    smiPath: opts.smiPath,
  });
  manager.add(jobs).add(pods).add(queues).add(binder).add(profiler);
  manager.add(namespaceQueuesController(client, manager.factory, log));
  return { scheduler, binder, profiler };
}

/** GPUJobs run when they, their pods or their queue change, and when a freed GPU or a node may unblock them. */
function jobController(scheduler: GpuScheduler, jobReconciler: GpuJobReconciler, log: Logger): Controller {
  return new Controller({
    name: "gpujob",
    for: GPUJobs,
    forInformer: JOB_INFORMER,
    owns: [{ resource: Resources.Pod, informer: POD_INFORMER }],
    watches: [
      // A queue appearing or changing may unblock its jobs.
      { resource: GPUQueues, map: mapByIndex(scheduler.jobs, QUEUE_INDEX, (q) => [q.metadata.name]) },
      // A pod that frees GPUs, or a node that appears or changes, may unblock waiting jobs.
      { resource: Resources.Pod, informer: POD_INFORMER, map: (p) => scheduler.jobsUnblockedByPod(p) },
      { resource: Resources.Node, informer: NODE_INFORMER, map: (n) => scheduler.jobsUnblockedByNode(n) },
    ],
    // One at a time: admission, preemption and growth decide over the whole cluster.
    concurrency: 1,
    logger: log,
    reconcile: async (req) => jobReconciler.reconcile(req.key),
    // An invalid spec (InvalidJobError, a TerminalError) is not retried; it shows in the job's status.
    errorPolicy: {
      report: async (req, err) => {
        if (err instanceof InvalidJobError) await jobReconciler.report(req.key, err);
      },
    },
  });
}

/** Bare pods run when they change, and when a freed GPU or a node may give them room. */
function podController(scheduler: GpuScheduler, podReconciler: GpuPodReconciler, log: Logger): Controller {
  return new Controller({
    name: "gpu-pod-scheduler",
    for: Resources.Pod,
    forInformer: POD_INFORMER,
    watches: [
      { resource: Resources.Pod, informer: POD_INFORMER, map: (p) => scheduler.podsUnblocked(p) },
      { resource: Resources.Node, informer: NODE_INFORMER, map: (n) => scheduler.podsUnblocked(n) },
    ],
    concurrency: 4,
    logger: log,
    reconcile: async (req) => podReconciler.reconcile(req.key),
  });
}

export const aiModule: ControllerModule = {
  name: "ai",
  crds: [GPUJobCRD, GPUQueueCRD],
  manifests: [
    { resource: Resources.ValidatingAdmissionPolicy, object: queueAccessPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: queueAccessBinding },
  ],
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
    // The allowed-queues annotation on tenant namespaces.
    { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch", "patch"] },
  ],
  setup(manager, client) {
    setupAi(manager, client);
  },
};
