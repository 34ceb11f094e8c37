// The reconciler of the ai pillar (GPUJob, GPUQueue, and pods that name the GPU scheduler).
//
// The Centaurus GPU scheduler: binds pods whose spec.schedulerName is centaurus-gpu-scheduler
// itself (pods/binding subresource), writing the chosen devices onto the pod in the same
// call, and runs GPUJobs: gang admission, elastic growth and shrinking, fair share across
// GPUQueues, priority preemption.
//
// Where the truth lives: every allocation is on a pod (spec.nodeName + the devices
// annotation, set atomically by the binding) or, for a gang being bound, in the job's
// status.replicas (written before its first pod is bound). The in-memory GpuCluster is only
// an index rebuilt from those by the informers, plus reservations for bindings in flight;
// so a restarted operator allocates no device twice and finishes (or rolls back) a gang it
// was binding when it stopped.

import { Counter, Histogram, type Registry } from "prom-client";
import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isAlreadyExists, isConflict, isForbidden, isNotFound } from "../../pkg/kube/errors.ts";
import { controllerOf, type KubeObject, objectKey, splitKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { type ConditionUpdate, metaTime, setCondition } from "../../pkg/status/conditions.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import {
  DEVICES_ANNOTATION,
  GPU_COUNT_LABEL,
  type GPUJob,
  type GPUJobStatus,
  GPUJobs,
  type GPUQueue,
  GPUQueues,
  JOB_LABEL,
  type JobPhase,
  QUEUE_LABEL,
  type ReplicaStatus,
  SCHEDULER_NAME,
} from "./api.ts";
import {
  admit,
  deservedShares,
  dominantShare,
  type QueueInfo,
  type QueueLoad,
  type RunningJob,
  rankWaiting,
  selectEvictions,
} from "./fairshare.ts";
import {
  gpuNodeInfo,
  isTerminal,
  jobGpuRequest,
  leanPod,
  type NodeLike,
  type PodLike,
  parseBytes,
  parseCpu,
  podAssignment,
  podCpuMemory,
  podGpuRequest,
  podKey,
  podPolicy,
  replicaPod,
} from "./objects.ts";
import {
  type Assignment,
  describe,
  formatDevices,
  GpuCluster,
  type HolderTags,
  OverCommitError,
  unitsOf,
} from "./placement.ts";

export const POD_INFORMER = {
  fieldSelector: `spec.schedulerName=${SCHEDULER_NAME}`,
  transform: (p: KubeObject) => leanPod(p as PodLike),
  indexers: {
    job: (p: KubeObject) => {
      const job = p.metadata.labels?.[JOB_LABEL];
      return job ? [`${p.metadata.namespace ?? ""}/${job}`] : [];
    },
  },
};

/** GPU nodes carry nvidia.com/gpu.count (GPU feature discovery sets it; so do the kwok GPU nodes). */
export const NODE_INFORMER = {
  labelSelector: GPU_COUNT_LABEL,
  transform: (n: KubeObject) => leanNode(n as NodeLike),
};

function leanNode(n: NodeLike): NodeLike {
  const pick = (r: Record<string, string> | undefined, pred: (k: string) => boolean) =>
    r ? Object.fromEntries(Object.entries(r).filter(([k]) => pred(k))) : undefined;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.metadata.name,
      uid: n.metadata.uid,
      resourceVersion: n.metadata.resourceVersion,
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

export interface SchedulerOptions {
  log: Logger;
  events: EventRecorder;
  registry?: Registry;
  /** Called before each binding; tests use it to stop the operator in the middle of a gang. */
  beforeBind?: (pod: string) => Promise<void>;
  /** How many bindings may be in flight at once for bare pods. */
  maxInFlightBindings?: number;
}

const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];
const WAIT_REQUEUE_MS = 10_000;

export class GpuScheduler {
  readonly cluster = new GpuCluster();
  /** Decision latencies in seconds (pure placement, no API calls), newest last, bounded. */
  readonly decisions: number[] = [];
  private readonly client: KubeClient;
  private readonly opts: SchedulerOptions;
  private readonly log: Logger;
  private pods!: Informer<PodLike>;
  private nodes!: Informer<NodeLike>;
  private jobs!: Informer<GPUJob>;
  private queues!: Informer<GPUQueue>;
  private bootstrapped = false;
  /** Jobs waiting for GPUs (admission failed for capacity), woken when a GPU frees. */
  private readonly waiting = new Set<string>();
  /** Jobs waiting for something else (queue maximum, namespace quota): woken too, but they do not hold back elastic growth. */
  private readonly parked = new Set<string>();
  /** Running elastic jobs below their max: woken to grow when a GPU frees. */
  private readonly growable = new Set<string>();
  private readonly decisionHistogram?: Histogram<"kind">;
  private readonly bindings?: Counter<"result">;
  private inFlight = 0;
  private readonly inFlightWaiters: Array<() => void> = [];
  enqueueJob: (key: string) => void = () => {};
  enqueuePod: (key: string) => void = () => {};
  /** Bare pods that found no room: retried when a GPU frees. */
  private readonly unplaced = new Set<string>();
  /** The status this scheduler last wrote per job (read-your-writes; only it writes job status). */
  private readonly lastStatus = new Map<string, { uid?: string; status: GPUJobStatus }>();
  /** Pods being deleted (evicted, rolled back): their GPUs are about to be free. */
  private readonly terminating = new Set<string>();
  /** Nodes known only from bound pods so far. */
  private readonly placeholders = new Set<string>();

  constructor(client: KubeClient, opts: SchedulerOptions) {
    this.client = client;
    this.opts = opts;
    this.log = opts.log;
    if (opts.registry) {
      const registers = [opts.registry];
      this.decisionHistogram = new Histogram({
        name: "centaurus_gpu_scheduler_decision_seconds",
        help: "Time to choose a node and devices for a pod or a gang, excluding API calls",
        labelNames: ["kind"],
        buckets: DECISION_BUCKETS,
        registers,
      });
      this.bindings = new Counter({
        name: "centaurus_gpu_scheduler_bindings_total",
        help: "Pod bindings made by the GPU scheduler, by result",
        labelNames: ["result"],
        registers,
      });
    }
  }

  /** Wires the informers (before the manager starts them). */
  attach(factory: SharedInformerFactory): void {
    this.pods = factory.informerFor<PodLike>(Resources.Pod, POD_INFORMER as never);
    this.nodes = factory.informerFor<NodeLike>(Resources.Node, NODE_INFORMER as never);
    this.jobs = factory.informerFor<GPUJob>(GPUJobs);
    this.queues = factory.informerFor<GPUQueue>(GPUQueues);
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_o, n) => this.onNode(n),
      onDelete: (n) => {
        this.cluster.removeNode(n.metadata.name ?? "");
      },
    });
    this.pods.addEventHandler({
      onAdd: (p) => this.onPod(p),
      onUpdate: (_o, p) => this.onPod(p),
      onDelete: (p) => this.onPodGone(p),
    });
  }

  private onNode(n: NodeLike): void {
    this.placeholders.delete(n.metadata.name ?? "");
    const info = gpuNodeInfo(n);
    if (!info) {
      this.cluster.removeNode(n.metadata.name ?? "");
      return;
    }
    this.cluster.upsertNode(info);
    this.wakeWaiters();
  }

  private tagsOf(p: PodLike): HolderTags {
    const job = p.metadata.labels?.[JOB_LABEL];
    const jobKey = job ? `${p.metadata.namespace}/${job}` : undefined;
    const priority = jobKey ? (this.jobs.store.get(jobKey)?.spec.priority ?? 0) : 0;
    return { job: jobKey, queue: p.metadata.labels?.[QUEUE_LABEL], priority, uid: p.metadata.uid };
  }

  /** Accounts what the API server says a pod holds. */
  private onPod(p: PodLike): void {
    const key = podKey(p);
    if (isTerminal(p)) {
      this.onPodGone(p);
      return;
    }
    if (p.metadata.deletionTimestamp) this.terminating.add(key);
    const a = podAssignment(p);
    if (!a) return;
    const need = Math.max(...a.devices) + 1;
    const known = this.cluster.nodeInfo(a.node);
    if (!known || (this.placeholders.has(a.node) && known.count < need)) {
      // The node informer has not told us about this node yet (pods can arrive first): hold
      // the devices on a placeholder that places nothing, replaced when the node arrives.
      this.placeholders.add(a.node);
      this.cluster.upsertNode({
        name: a.node,
        count: Math.max(known?.count ?? 0, need),
        memoryMiB: Number.MAX_SAFE_INTEGER,
        model: "unknown",
        schedulable: false,
      });
    }
    try {
      this.cluster.allocate(key, a, this.tagsOf(p));
    } catch (err) {
      // A reservation for the same pod under other devices means the binding we made lost to
      // another writer: the API server is the truth.
      const held = this.cluster.holder(key);
      if (held && (!held.uid || held.uid === p.metadata.uid)) {
        this.cluster.release(key);
        try {
          this.cluster.allocate(key, a, this.tagsOf(p));
          return;
        } catch {}
      }
      this.log.error({ pod: key, err: String(err) }, "a bound pod's devices overlap another allocation");
    }
  }

  private onPodGone(p: PodLike): void {
    this.terminating.delete(podKey(p));
    if (this.cluster.release(podKey(p), p.metadata.uid)) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const w of this.rankedWaiting()) this.enqueueJob(w.key);
    for (const key of this.parked) this.enqueueJob(key);
    for (const key of this.growable) this.enqueueJob(key);
    for (const key of this.unplaced) this.enqueuePod(key);
    this.unplaced.clear();
  }

  private recordDecision(kind: string, startNs: bigint): void {
    const s = Number(process.hrtime.bigint() - startNs) / 1e9;
    this.decisions.push(s);
    if (this.decisions.length > 200_000) this.decisions.splice(0, 100_000);
    this.decisionHistogram?.observe({ kind }, s);
  }

  // ---------------------------------------------------------------- bare pods

  /** A pod with our scheduler name that no GPUJob owns: a gang of one. */
  async reconcilePod(key: string): Promise<void> {
    await this.bootstrap();
    const pod = this.pods.store.get(key);
    if (!pod || pod.metadata.deletionTimestamp || pod.spec?.nodeName || isTerminal(pod)) return;
    if (controllerOf(pod)?.kind === "GPUJob") return;
    if (this.cluster.holder(key)) return; // a binding is in flight
    const request = podGpuRequest(pod) ?? { kind: "whole" as const, count: 0 };
    if (request.kind === "whole" && request.count === 0) {
      await this.opts.events.record(
        pod,
        "Warning",
        "NoGPURequest",
        `${SCHEDULER_NAME} places only pods that request ${"nvidia.com/gpu"} or a GPU share; use the default scheduler for this pod`,
      );
      return;
    }
    const start = process.hrtime.bigint();
    const a = this.cluster.find(request, podPolicy(pod));
    if (a) this.cluster.allocate(key, a, this.tagsOf(pod));
    this.recordDecision("pod", start);
    if (!a) {
      this.unplaced.add(key);
      await this.opts.events.record(
        pod,
        "Warning",
        "FailedScheduling",
        `no GPU node has room for ${request.kind === "whole" ? `${request.count} GPU(s)` : `${request.share.computePercent}% of a GPU`}`,
      );
      return;
    }
    // Bindings run in the background (bounded), so the next decision need not wait for the API.
    await this.acquireInFlight();
    void this.bind(pod, a, true)
      .catch((err: unknown) => {
        // The reservation is released; try the pod again (a transient API error must not
        // leave it unscheduled, nor crash the process as an unhandled rejection).
        this.log.warn({ pod: key, err: String(err) }, "binding failed; retrying");
        setTimeout(() => this.enqueuePod(key), 1000).unref();
      })
      .finally(() => this.releaseInFlight());
  }

  private acquireInFlight(): Promise<void> {
    const max = this.opts.maxInFlightBindings ?? 64;
    if (this.inFlight < max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.inFlightWaiters.push(() => {
        this.inFlight++;
        resolve();
      }),
    );
  }

  private releaseInFlight(): void {
    this.inFlight--;
    this.inFlightWaiters.shift()?.();
  }

  /** POST pods/NAME/binding with the devices annotation; false if the pod could not be bound. */
  private async bind(pod: PodLike, a: Assignment, reserved: boolean): Promise<boolean> {
    const key = podKey(pod);
    const { namespace, name } = pod.metadata;
    try {
      await this.opts.beforeBind?.(key);
      const annotations = a.devices.length ? { [DEVICES_ANNOTATION]: formatDevices(a.devices) } : undefined;
      await this.client.request("POST", `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
        body: {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name, namespace, annotations, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
          target: { apiVersion: "v1", kind: "Node", name: a.node },
        },
      });
      this.bindings?.inc({ result: "bound" });
      return true;
    } catch (err) {
      // A 409 for a pod already bound exactly as planned (a retry, or a stale cache) is success.
      if (isConflict(err) && (await this.boundAs(pod, a))) {
        this.bindings?.inc({ result: "already-bound" });
        return true;
      }
      this.bindings?.inc({ result: "error" });
      if (reserved) this.cluster.release(key);
      if (isNotFound(err) || isConflict(err)) return false;
      this.log.warn({ pod: key, err: String(err) }, "binding failed");
      throw err;
    }
  }

  /** After a 409 on binding: is the pod already bound exactly as we wanted (a retry after a lost answer)? */
  private async boundAs(pod: PodLike, a: Assignment): Promise<boolean> {
    try {
      const live = await this.client.get<PodLike>(
        Resources.Pod,
        pod.metadata.name ?? "",
        pod.metadata.namespace,
      );
      const got = podAssignment(live);
      return !!got && got.node === a.node && got.devices.join(",") === a.devices.join(",");
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- restart

  /**
   * Once, before the first decision after start: reserve the devices of every gang that was
   * being bound (status.replicas written, some pods not bound yet), so no other decision takes
   * them before the gang's own reconcile completes or rolls it back.
   */
  private async bootstrap(): Promise<void> {
    if (this.bootstrapped) return;
    this.bootstrapped = true;
    for (const job of this.jobs.store.list()) {
      const phase = job.status?.phase;
      if (phase !== "Admitted" && phase !== "Scaling") continue;
      const jobKey = objectKey(job);
      for (const r of job.status?.replicas ?? []) {
        const key = `${job.metadata.namespace}/${r.name}`;
        if (this.cluster.holder(key)) continue;
        const pod = this.pods.store.get(key);
        if (pod && (pod.spec?.nodeName || isTerminal(pod))) continue;
        try {
          this.cluster.allocate(key, this.planAssignment(job, r), {
            job: jobKey,
            queue: job.spec.queue,
            priority: job.spec.priority ?? 0,
          });
        } catch (err) {
          this.log.warn(
            { job: jobKey, err: String(err) },
            "a recorded gang plan conflicts; it will be rolled back",
          );
        }
      }
    }
  }

  private planAssignment(job: GPUJob, r: ReplicaStatus): Assignment {
    const request = jobGpuRequest(job);
    return request.kind === "fraction"
      ? { node: r.node, devices: r.devices, share: request.share }
      : { node: r.node, devices: r.devices };
  }

  // ---------------------------------------------------------------- jobs

  private jobPods(job: GPUJob): PodLike[] {
    return this.pods.store.byIndex("job", objectKey(job));
  }

  private queueInfos(): QueueInfo[] {
    return this.queues.store.list().map((q) => ({
      name: q.metadata.name ?? "",
      weight: q.spec.weight ?? 1,
      guaranteedGPUs: q.spec.guaranteedGPUs ?? 0,
      maxGPUs: q.spec.maxGPUs,
      lendIdle: q.spec.lendIdle ?? true,
    }));
  }

  /** GPUs used per queue (from allocations) and demanded (used + waiting jobs' minimums). */
  queueLoad(): Map<string, QueueLoad> {
    const load = new Map<string, QueueLoad>();
    const bump = (q: string | undefined, used: number, demand: number) => {
      if (!q) return;
      const cur = load.get(q) ?? { used: 0, demand: 0 };
      load.set(q, { used: cur.used + used, demand: cur.demand + demand });
    };
    for (const h of this.cluster.allHolders()) {
      const units = h.assignment.share
        ? h.assignment.share.computePercent / 100
        : h.assignment.devices.length;
      bump(h.queue, units, units);
    }
    for (const key of this.waiting) {
      const job = this.jobs.store.get(key);
      if (job) bump(job.spec.queue, 0, job.spec.replicas.min * unitsOf(jobGpuRequest(job)));
    }
    return load;
  }

  /** Each queue's dominant share (GPU, CPU or memory, whichever it uses most of) over its weight. */
  private queueDominantShares(): Map<string, number> {
    const total = { gpu: this.cluster.totalUnits(), cpu: 0, memory: 0 };
    for (const n of this.nodes.store.list()) {
      total.cpu += parseCpu(n.status?.allocatable?.cpu);
      total.memory += parseBytes(n.status?.allocatable?.memory);
    }
    const used = new Map<string, { gpu: number; cpu: number; memory: number }>();
    for (const h of this.cluster.allHolders()) {
      if (!h.queue) continue;
      const job = h.job ? this.jobs.store.get(h.job) : undefined;
      const perReplica = job
        ? podCpuMemory({ metadata: {}, spec: job.spec.template.spec as PodLike["spec"] })
        : { cpu: 0, memory: 0 };
      const u = used.get(h.queue) ?? { gpu: 0, cpu: 0, memory: 0 };
      u.gpu += h.assignment.share ? h.assignment.share.computePercent / 100 : h.assignment.devices.length;
      u.cpu += perReplica.cpu;
      u.memory += perReplica.memory;
      used.set(h.queue, u);
    }
    const weights = new Map(this.queueInfos().map((q) => [q.name, q.weight]));
    return new Map([...used].map(([q, u]) => [q, dominantShare(u, total, weights.get(q) ?? 1)]));
  }

  /** Jobs waiting for GPUs, in the order they should get them. */
  private rankedWaiting() {
    const jobs = [...this.waiting]
      .map((key) => this.jobs.store.get(key))
      .filter((j): j is GPUJob => !!j)
      .map((j) => ({
        key: objectKey(j),
        priority: j.spec.priority ?? 0,
        queue: j.spec.queue,
        createdAt: Date.parse(j.metadata.creationTimestamp ?? "") || 0,
      }));
    return rankWaiting(jobs, this.queueDominantShares());
  }

  private runningJobs(): RunningJob[] {
    const byJob = new Map<string, { replicas: Set<string> }>();
    for (const h of this.cluster.allHolders()) {
      if (!h.job || this.terminating.has(h.key)) continue;
      const e = byJob.get(h.job) ?? { replicas: new Set() };
      e.replicas.add(h.key);
      byJob.set(h.job, e);
    }
    const out: RunningJob[] = [];
    for (const [key, e] of byJob) {
      const job = this.jobs.store.get(key);
      if (!job) continue;
      out.push({
        key,
        queue: job.spec.queue,
        priority: job.spec.priority ?? 0,
        replicas: e.replicas.size,
        minReplicas: job.spec.replicas.min,
        unitsPerReplica: unitsOf(jobGpuRequest(job)),
        startedAt: Date.parse(job.status?.admittedAt ?? job.metadata.creationTimestamp ?? "") || 0,
      });
    }
    return out;
  }

  /** The job from the cache, with the status this scheduler last wrote if the cache lags behind it. */
  private currentJob(key: string): GPUJob | undefined {
    const cached = this.jobs.store.get(key);
    if (!cached) {
      this.lastStatus.delete(key);
      return undefined;
    }
    const mine = this.lastStatus.get(key);
    return mine && mine.uid === cached.metadata.uid ? { ...cached, status: mine.status } : cached;
  }

  /** The job's pods as the API server has them now (before anything destructive; the cache may lag). */
  private async livePods(job: GPUJob): Promise<PodLike[]> {
    const list = await this.client.list<PodLike>(Resources.Pod, {
      namespace: job.metadata.namespace,
      labelSelector: `${JOB_LABEL}=${job.metadata.name}`,
    });
    return list.items.filter(
      (p) => controllerOf(p)?.uid === job.metadata.uid && !isTerminal(p) && !p.metadata.deletionTimestamp,
    );
  }

  async reconcileJob(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    await this.bootstrap();
    const job = this.currentJob(key);
    this.parked.delete(key);
    this.growable.delete(key);
    if (!job || job.metadata.deletionTimestamp) {
      this.waiting.delete(key);
      // Reservations for replicas that were never created go with the job.
      for (const h of this.cluster.allHolders()) if (h.job === key && !h.uid) this.cluster.release(h.key);
      return undefined;
    }
    const status = job.status ?? {};
    const pods = this.jobPods(job);
    const active = pods.filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp);
    const succeeded = pods.filter((p) => p.status?.phase === "Succeeded");
    const failed = pods.filter((p) => p.status?.phase === "Failed");
    const phase = status.phase;

    if (phase === "Succeeded" || phase === "Failed") {
      this.waiting.delete(key);
      return undefined;
    }
    if (failed.length > 0) {
      this.waiting.delete(key);
      await this.deletePods(active);
      await this.writeStatus(job, "Failed", {
        type: "Ready",
        status: "False",
        reason: "PodFailed",
        message: `pod ${failed[0]?.metadata.name} failed`,
      });
      await this.opts.events.record(job, "Warning", "PodFailed", `pod ${failed[0]?.metadata.name} failed`);
      return undefined;
    }
    if (succeeded.length > 0 && active.length === 0 && (phase === "Running" || phase === "Scaling")) {
      this.waiting.delete(key);
      await this.writeStatus(
        job,
        "Succeeded",
        {
          type: "Ready",
          status: "True",
          reason: "Succeeded",
          message: `all ${succeeded.length} replicas succeeded`,
        },
        { currentReplicas: 0 },
      );
      return undefined;
    }

    // A gang whose plan is recorded but not fully bound (an interrupted admission or scale-up).
    if ((phase === "Admitted" || phase === "Scaling") && (status.replicas ?? []).length > 0) {
      return this.completePlan(job, active);
    }

    // Validation that needs the cluster: a clear reason, never a silent wait.
    const invalid = this.checkJob(job);
    if (invalid) {
      this.waiting.delete(key);
      await this.writeStatus(job, phase === "Preempted" ? "Preempted" : "Pending", {
        type: "Ready",
        status: "False",
        reason: invalid.reason,
        message: invalid.message,
      });
      await this.opts.events.record(job, "Warning", invalid.reason, invalid.message);
      return { requeueAfterMs: 30_000 };
    }

    const bound = active.filter((p) => p.spec?.nodeName);
    if (bound.length === 0 || phase === undefined || phase === "Pending" || phase === "Preempted") {
      if (active.length > 0 && phase !== "Running") {
        // Pods left from an admission that never recorded a plan: start over cleanly.
        await this.deletePods(await this.livePods(job));
        return { requeueAfterMs: 1000 };
      }
      if (phase === "Running" && bound.length === 0 && active.length > 0) return undefined;
      return this.admitJob(job);
    }
    // Running: a gang broken below its minimum (a replica deleted) is restarted as a whole.
    if (
      active.length < job.spec.replicas.min &&
      succeeded.length === 0 &&
      (await this.livePods(job)).length < job.spec.replicas.min
    ) {
      await this.deletePods(await this.livePods(job));
      await this.writeStatus(
        job,
        "Pending",
        {
          type: "Ready",
          status: "False",
          reason: "GangBroken",
          message: `only ${active.length} of the minimum ${job.spec.replicas.min} replicas are left; restarting the gang`,
        },
        { replicas: [], currentReplicas: 0 },
      );
      return { requeueAfterMs: 1000 };
    }
    if (active.length < job.spec.replicas.max && succeeded.length === 0) {
      if (this.waiting.size === 0 && (await this.grow(job, active))) return undefined;
      this.growable.add(key);
    }
    await this.writeStatus(
      job,
      "Running",
      { type: "Ready", status: "True", reason: "Running", message: `${active.length} replicas running` },
      { currentReplicas: active.length, targetReplicas: active.length, replicas: this.replicasOf(active) },
    );
    return undefined;
  }

  private checkJob(job: GPUJob): { reason: string; message: string } | undefined {
    const q = this.queues.store.get(job.spec.queue);
    if (!q) {
      return {
        reason: "QueueNotFound",
        message: `GPUQueue ${job.spec.queue} does not exist; create it or fix spec.queue`,
      };
    }
    if (job.spec.replicas.min > job.spec.replicas.max) {
      return { reason: "InvalidReplicas", message: "replicas.min must not exceed replicas.max" };
    }
    const request = jobGpuRequest(job);
    if (this.cluster.totalUnits() === 0) {
      return { reason: "NoGPUNodes", message: "the cluster has no schedulable GPU node" };
    }
    if (request.kind === "whole") {
      const max = this.cluster.maxDevicesPerNode();
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
      const mem = this.cluster.maxDeviceMemoryMiB();
      if (mem > 0 && request.share.memoryMiB > mem) {
        return {
          reason: "FractionTooLarge",
          message: `each replica asks for ${request.share.memoryMiB} MiB of GPU memory but no device has more than ${mem} MiB`,
        };
      }
    }
    const maxGpus = q.spec.maxGPUs;
    const need = job.spec.replicas.min * unitsOf(request);
    if (maxGpus !== undefined && need > maxGpus) {
      return {
        reason: "ExceedsQueueMax",
        message: `the job needs ${need} GPUs at its minimum but queue ${job.spec.queue} may use at most ${maxGpus}`,
      };
    }
    return undefined;
  }

  private newReplicaName(job: GPUJob, index: number): string {
    const suffix = Math.random().toString(36).slice(2, 7);
    return `${job.metadata.name}-${index}-${suffix}`.slice(0, 63).replace(/-+$/, "");
  }

  private async admitJob(job: GPUJob): Promise<{ requeueAfterMs?: number } | undefined> {
    const key = objectKey(job);
    // Strict priority: no job starts while one of higher priority waits for GPUs.
    const ahead = this.rankedWaiting().find((w) => w.key !== key && w.priority > (job.spec.priority ?? 0));
    if (ahead) {
      this.waiting.add(key);
      await this.writeStatus(job, job.status?.phase === "Preempted" ? "Preempted" : "Pending", {
        type: "Ready",
        status: "False",
        reason: "QueuedBehindHigherPriority",
        message: `waiting behind ${ahead.key} (priority ${ahead.priority})`,
      });
      return { requeueAfterMs: WAIT_REQUEUE_MS };
    }
    const request = jobGpuRequest(job);
    const units = unitsOf(request);
    const min = job.spec.replicas.min;
    const queues = this.queueInfos();
    const load = this.queueLoad();
    const total = this.cluster.totalUnits();
    const verdict = admit(queues, load, total, this.cluster.freeUnits(), job.spec.queue, min * units);
    const tags: HolderTags = { job: key, queue: job.spec.queue, priority: job.spec.priority ?? 0 };
    const policy = job.spec.placement ?? "binpack";
    let placed: Map<string, Assignment> | undefined;
    if (verdict.ok) {
      const start = process.hrtime.bigint();
      const members = Array.from({ length: min }, (_, i) => ({
        key: `${job.metadata.namespace}/${this.newReplicaName(job, i)}`,
        request,
        tags,
      }));
      placed = this.cluster.placeGang(members, policy);
      if (placed) {
        // Elastic start: take more replicas, up to max, while the queue's share allows.
        const queueMax = queues.find((q) => q.name === job.spec.queue)?.maxGPUs ?? Number.POSITIVE_INFINITY;
        const allowance = Math.min(verdict.usable, queueMax - (load.get(job.spec.queue)?.used ?? 0));
        let used = min * units;
        for (let i = min; i < job.spec.replicas.max && used + units <= allowance + 1e-9; i++) {
          const k = `${job.metadata.namespace}/${this.newReplicaName(job, i)}`;
          const a = this.cluster.find(request, policy);
          if (!a) break;
          this.cluster.allocate(k, a, tags);
          placed.set(k, a);
          used += units;
        }
      }
      this.recordDecision("gang", start);
    }
    if (!placed) {
      const wantsPreemption = verdict.ok || verdict.reason === "InsufficientGPUs";
      const freeingSoon = this.unitsFreeingSoon();
      if (
        wantsPreemption &&
        freeingSoon > 0 &&
        this.cluster.freeUnits() + freeingSoon + 1e-9 >= min * units
      ) {
        // Earlier evictions are still being carried out: wait for them rather than evict more.
        this.waiting.add(key);
        await this.writeStatus(job, job.status?.phase === "Preempted" ? "Preempted" : "Pending", {
          type: "Ready",
          status: "False",
          reason: "WaitingForPreemption",
          message: `waiting for ${freeingSoon} GPU(s) being released`,
        });
        return { requeueAfterMs: 2000 };
      }
      if (wantsPreemption) {
        const mine = load.get(job.spec.queue) ?? { used: 0, demand: 0 };
        const withJob = new Map(load).set(job.spec.queue, {
          used: mine.used,
          demand: mine.demand + min * units,
        });
        const evictions = selectEvictions(
          queues,
          withJob,
          total,
          this.runningJobs().filter((r) => r.key !== key),
          job.spec.queue,
          job.spec.priority ?? 0,
          min * units,
          (verdict.ok ? 0 : this.cluster.freeUnits()) + freeingSoon,
          verdict.ok ? true : verdict.reclaim,
        );
        if (evictions && evictions.length > 0) {
          await this.evict(job, evictions);
          this.waiting.add(key);
          await this.writeStatus(job, job.status?.phase === "Preempted" ? "Preempted" : "Pending", {
            type: "Ready",
            status: "False",
            reason: "WaitingForPreemption",
            message: `making room: ${evictions.map((e) => `${e.preempt ? "preempting" : `shrinking by ${e.replicas}`} ${e.key}`).join("; ")}`,
          });
          return { requeueAfterMs: 2000 };
        }
      }
      const reason = verdict.ok ? "InsufficientGPUs" : verdict.reason;
      if (reason === "InsufficientGPUs") this.waiting.add(key);
      else this.parked.add(key);
      const message = verdict.ok
        ? `no placement for ${min} replica(s) of ${describeRequest(request)} now (fragmented or busy GPUs); waiting`
        : verdict.message;
      await this.writeStatus(job, job.status?.phase === "Preempted" ? "Preempted" : "Pending", {
        type: "Ready",
        status: "False",
        reason,
        message,
      });
      return { requeueAfterMs: WAIT_REQUEUE_MS };
    }
    this.waiting.delete(key);
    const replicas: ReplicaStatus[] = [...placed].map(([k, a]) => ({
      name: splitKey(k).name,
      node: a.node,
      devices: a.devices,
    }));
    // The plan goes to the API server before any pod is bound: a restart finds it there.
    let admitted: GPUJob;
    try {
      admitted = await this.writeStatus(
        job,
        "Admitted",
        {
          type: "Ready",
          status: "False",
          reason: "Admitted",
          message: `binding ${replicas.length} replicas`,
        },
        { replicas, targetReplicas: replicas.length, currentReplicas: 0, admittedAt: metaTime() },
      );
    } catch (err) {
      for (const k of placed.keys()) this.cluster.release(k);
      throw err;
    }
    await this.opts.events.record(
      job,
      "Normal",
      "Admitted",
      `placed ${replicas.length} replicas: ${[...placed.values()].map(describe).join(", ")}`,
    );
    return this.completePlan(admitted, []);
  }

  /** Creates and binds every planned replica; rolls the whole plan back if that cannot be done. */
  private async completePlan(
    job: GPUJob,
    active: PodLike[],
  ): Promise<{ requeueAfterMs?: number } | undefined> {
    const requeueAfterMs = await this.finishPlan(job, active);
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  /** Returns when to look again (undefined: the plan is done). */
  private async finishPlan(job: GPUJob, active: PodLike[]): Promise<number | undefined> {
    const key = objectKey(job);
    const plan = job.status?.replicas ?? [];
    const tags: HolderTags = { job: key, queue: job.spec.queue, priority: job.spec.priority ?? 0 };
    const byName = new Map(active.map((p) => [p.metadata.name ?? "", p]));
    const rollback = async (reason: string, message: string) => {
      const planned = new Set(plan.map((r) => r.name));
      for (const r of plan) {
        const p = byName.get(r.name);
        if (!p?.spec?.nodeName) this.cluster.release(`${job.metadata.namespace}/${r.name}`);
      }
      const scaling = job.status?.phase === "Scaling";
      // A failed scale-up removes only its new replicas; a failed admission removes the gang
      // (every pod of the job the API server has, plus any this call created).
      const present = [...byName.values()];
      const doomed = scaling
        ? present.filter((p) => planned.has(p.metadata.name ?? "") && !p.spec?.nodeName)
        : [...new Map([...present, ...(await this.livePods(job))].map((p) => [p.metadata.name, p])).values()];
      const created = [...planned]
        .filter((n) => !byName.has(n))
        .map((n) => ({ metadata: { name: n, namespace: job.metadata.namespace } }));
      await this.deletePods([...doomed, ...created]);
      await this.opts.events.record(job, "Warning", reason, message);
      if (scaling) {
        const kept = present.filter((p) => p.spec?.nodeName);
        await this.writeStatus(
          job,
          "Running",
          { type: "Ready", status: "True", reason: "Running", message },
          {
            replicas: this.replicasOf(kept),
            currentReplicas: kept.length,
            targetReplicas: kept.length,
          },
        );
      } else {
        await this.writeStatus(
          job,
          "Pending",
          { type: "Ready", status: "False", reason, message },
          {
            replicas: [],
            currentReplicas: 0,
            targetReplicas: 0,
          },
        );
      }
    };
    // Reserve (idempotent when already held) every planned assignment not yet on a bound pod.
    for (const r of plan) {
      const k = `${job.metadata.namespace}/${r.name}`;
      const p = byName.get(r.name);
      if (p?.spec?.nodeName) continue;
      try {
        this.cluster.allocate(k, this.planAssignment(job, r), tags);
      } catch (err) {
        if (err instanceof OverCommitError) {
          await rollback(
            "GangRolledBack",
            `the recorded placement of ${r.name} is no longer free: ${err.message}`,
          );
          return 1000;
        }
        throw err;
      }
    }
    // Create missing pods (namespace ResourceQuota applies here).
    for (const [i, r] of plan.entries()) {
      if (byName.has(r.name)) continue;
      const index = Number(r.name.split("-").at(-2) ?? i);
      try {
        const created = await this.client.create<PodLike>(
          Resources.Pod,
          replicaPod(job, r.name, Number.isFinite(index) ? index : i),
        );
        byName.set(r.name, created);
      } catch (err) {
        if (isAlreadyExists(err)) {
          byName.set(r.name, await this.client.get<PodLike>(Resources.Pod, r.name, job.metadata.namespace));
          continue;
        }
        if (isForbidden(err)) {
          const msg = err instanceof ApiError ? err.message : String(err);
          await rollback("QuotaExceeded", `the namespace quota refused replica ${r.name}: ${msg}`);
          this.parked.add(key);
          return 30_000;
        }
        throw err;
      }
    }
    // Bind every replica not bound yet, all at once; a failed binding rolls the gang back.
    const results = await Promise.allSettled(
      plan.map(async (r) => {
        const p = byName.get(r.name);
        if (!p || p.spec?.nodeName) return true;
        return this.bind(p, this.planAssignment(job, r), true);
      }),
    );
    const failed = results.filter((x) => x.status === "rejected" || x.value === false).length;
    if (failed > 0) {
      const firstErr = results.find((x) => x.status === "rejected") as PromiseRejectedResult | undefined;
      await rollback(
        "GangRolledBack",
        `${failed} of ${plan.length} bindings failed${firstErr ? `: ${String(firstErr.reason)}` : ""}`,
      );
      return 1000;
    }
    const replicas = this.replicasOf(active)
      .filter((r) => !plan.some((p) => p.name === r.name))
      .concat(plan);
    await this.writeStatus(
      job,
      "Running",
      { type: "Ready", status: "True", reason: "Running", message: `${replicas.length} replicas running` },
      { replicas, currentReplicas: replicas.length, targetReplicas: replicas.length },
    );
    await this.opts.events.record(job, "Normal", "Started", `${replicas.length} replicas bound`);
    return undefined;
  }

  /** Elastic growth towards max while GPUs are free and the queue's share allows. */
  private async grow(job: GPUJob, cachedActive: PodLike[]): Promise<boolean> {
    const key = objectKey(job);
    const request = jobGpuRequest(job);
    const units = unitsOf(request);
    if (
      this.cluster.freeUnits() + 1e-9 < units ||
      !this.cluster.find(request, job.spec.placement ?? "binpack")
    )
      return false;
    // Count replicas from the API server, not a cache that may not show the newest ones yet.
    const active = await this.livePods(job);
    if (active.length !== cachedActive.length) return false;
    const tags: HolderTags = { job: key, queue: job.spec.queue, priority: job.spec.priority ?? 0 };
    const queues = this.queueInfos();
    const load = this.queueLoad();
    const plan: ReplicaStatus[] = [];
    const used = new Set(active.map((p) => Number(p.metadata.labels?.["ai.centaurus.io/replica"])));
    const start = process.hrtime.bigint();
    for (let n = active.length; n < job.spec.replicas.max; n++) {
      const verdict = admit(
        queues,
        load,
        this.cluster.totalUnits(),
        this.cluster.freeUnits(),
        job.spec.queue,
        units,
      );
      if (!verdict.ok) break;
      const a = this.cluster.find(request, job.spec.placement ?? "binpack");
      if (!a) break;
      let index = 0;
      while (used.has(index)) index++;
      used.add(index);
      const name = this.newReplicaName(job, index);
      this.cluster.allocate(`${job.metadata.namespace}/${name}`, a, tags);
      const cur = load.get(job.spec.queue) ?? { used: 0, demand: 0 };
      load.set(job.spec.queue, { used: cur.used + units, demand: cur.demand + units });
      plan.push({ name, node: a.node, devices: a.devices });
    }
    this.recordDecision("grow", start);
    if (plan.length === 0) return false;
    const replicas = [...this.replicasOf(active), ...plan];
    let scaling: GPUJob;
    try {
      scaling = await this.writeStatus(
        job,
        "Scaling",
        {
          type: "Ready",
          status: "True",
          reason: "ScalingUp",
          message: `growing to ${replicas.length} replicas`,
        },
        { replicas, targetReplicas: replicas.length, currentReplicas: active.length },
      );
    } catch (err) {
      for (const r of plan) this.cluster.release(`${job.metadata.namespace}/${r.name}`);
      throw err;
    }
    await this.opts.events.record(
      job,
      "Normal",
      "ScaledUp",
      `growing from ${active.length} to ${replicas.length} replicas`,
    );
    await this.finishPlan(scaling, active);
    return true;
  }

  /** Shrinks or preempts running jobs (deleting pods frees their devices when they are gone). */
  private async evict(
    forJob: GPUJob,
    evictions: Array<{ key: string; replicas: number; preempt: boolean; reason: string }>,
  ): Promise<void> {
    for (const e of evictions) {
      const victim = this.currentJob(e.key);
      if (!victim) continue;
      const pods = this.jobPods(victim)
        .filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp)
        .sort(
          (a, b) =>
            Number(b.metadata.labels?.["ai.centaurus.io/replica"]) -
            Number(a.metadata.labels?.["ai.centaurus.io/replica"]),
        );
      const doomed = e.preempt ? pods : pods.slice(0, e.replicas);
      await this.deletePods(doomed);
      const message = `${e.preempt ? "preempted" : `shrunk by ${e.replicas} replica(s)`} for ${objectKey(forJob)} (${e.reason})`;
      await this.opts.events.record(victim, "Warning", e.preempt ? "Preempted" : "ScaledDown", message);
      const kept = pods.filter((p) => !doomed.includes(p));
      if (e.preempt) {
        await this.writeStatus(
          victim,
          "Preempted",
          { type: "Ready", status: "False", reason: "Preempted", message },
          {
            replicas: [],
            currentReplicas: 0,
            targetReplicas: 0,
          },
        );
      } else {
        await this.writeStatus(
          victim,
          "Scaling",
          { type: "Ready", status: "True", reason: "ScalingDown", message },
          {
            replicas: this.replicasOf(kept),
            currentReplicas: kept.length,
            targetReplicas: kept.length,
          },
        );
        // Running again once the shrink is done: its next reconcile sees the pods gone.
      }
    }
  }

  private replicasOf(pods: PodLike[]): ReplicaStatus[] {
    return pods
      .map((p) => ({ p, a: podAssignment(p) }))
      .filter((x): x is { p: PodLike; a: Assignment } => !!x.a)
      .map(({ p, a }) => ({ name: p.metadata.name ?? "", node: a.node, devices: a.devices }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** GPU units held by pods that are being deleted. */
  private unitsFreeingSoon(): number {
    let units = 0;
    for (const key of this.terminating) {
      const h = this.cluster.holder(key);
      // Never created, or already released: nothing to wait for.
      if (!h) this.terminating.delete(key);
      else
        units += h.assignment.share ? h.assignment.share.computePercent / 100 : h.assignment.devices.length;
    }
    return units;
  }

  private async deletePods(pods: Array<{ metadata: { name?: string; namespace?: string } }>): Promise<void> {
    for (const p of pods) this.terminating.add(`${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`);
    await Promise.all(
      pods.map((p) =>
        this.client.delete(Resources.Pod, p.metadata.name ?? "", p.metadata.namespace, {
          propagationPolicy: "Background",
        }),
      ),
    );
  }

  private async writeStatus(
    job: GPUJob,
    phase: JobPhase,
    ready: ConditionUpdate,
    extra: Partial<GPUJobStatus> = {},
  ): Promise<GPUJob> {
    const prev = job.status ?? {};
    const generation = job.metadata.generation;
    const admitted: ConditionUpdate = {
      type: "Admitted",
      status: ["Admitted", "Running", "Scaling", "Succeeded"].includes(phase) ? "True" : "False",
      reason: ["Admitted", "Running", "Scaling", "Succeeded"].includes(phase) ? "Admitted" : ready.reason,
      message: ready.message,
      observedGeneration: generation,
    };
    let conditions = setCondition(prev.conditions, { ...ready, observedGeneration: generation });
    if (phase !== "Succeeded" && phase !== "Failed") conditions = setCondition(conditions, admitted);
    const next: GPUJobStatus = {
      ...prev,
      ...extra,
      observedGeneration: generation,
      phase,
      conditions,
    };
    for (const [k, v] of Object.entries(next))
      if (v === undefined) delete (next as Record<string, unknown>)[k];
    if (JSON.stringify(next) === JSON.stringify(prev)) return job;
    const written = await applyStatus<GPUJob>(
      this.client,
      GPUJobs,
      job.metadata.name ?? "",
      job.metadata.namespace,
      next,
    );
    this.lastStatus.set(objectKey(job), { uid: written.metadata.uid, status: written.status ?? next });
    return written;
  }

  // ---------------------------------------------------------------- queues

  async reconcileQueue(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const q = this.queues.store.get(name);
    if (!q) return undefined;
    const load = this.queueLoad();
    const deserved = deservedShares(this.queueInfos(), load, this.cluster.totalUnits()).get(name) ?? 0;
    const jobs = this.jobs.store.list().filter((j) => j.spec.queue === name);
    const running = jobs.filter((j) => j.status?.phase === "Running" || j.status?.phase === "Scaling").length;
    const waitingJobs = jobs.filter((j) => this.waiting.has(objectKey(j))).length;
    const round = (n: number) => Math.round(n * 100) / 100;
    const allocated = round(load.get(name)?.used ?? 0);
    const status = {
      observedGeneration: q.metadata.generation,
      allocatedGPUs: allocated,
      deservedGPUs: round(deserved),
      runningJobs: running,
      waitingJobs,
      conditions: setCondition(q.status?.conditions, {
        type: "Ready",
        status: "True",
        reason: "Serving",
        message: `${allocated} GPUs allocated to ${running} running job(s); ${waitingJobs} waiting`,
        observedGeneration: q.metadata.generation,
      }),
    };
    const prev = q.status ?? {};
    if (
      JSON.stringify({ ...prev, conditions: undefined }) !==
        JSON.stringify({ ...status, conditions: undefined }) ||
      !prev.conditions
    ) {
      await applyStatus(this.client, GPUQueues, name, undefined, status);
    }
    return { requeueAfterMs: 15_000 };
  }
}

function describeRequest(r: ReturnType<typeof jobGpuRequest>): string {
  return r.kind === "whole"
    ? `${r.count} GPU(s) each`
    : `${r.share.computePercent}% of a GPU and ${r.share.memoryMiB} MiB each`;
}
