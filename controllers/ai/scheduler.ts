// The GPU scheduler's shared state: the in-memory GpuCluster index that the pod and node
// informers keep (what each bound pod holds; reservations for bindings in flight), the sets of
// jobs and pods waiting for GPUs, and which of them a pod or node change may unblock (the
// watches' mappers). No API calls: the reconcilers (gpujob.ts, gpu-pod.ts, gpuqueue.ts) and
// the binder (binder.ts) do those.
//
// Where the truth lives: every allocation is on a pod (spec.nodeName + the devices
// annotation, set atomically by the binding) or, for a gang being bound, in the job's
// status.replicas (written before its first pod is bound). The index is only rebuilt from
// those, so a restarted operator allocates no device twice and finishes (or rolls back) a
// gang it was binding when it stopped.

import { Histogram, type Registry } from "prom-client";
import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { accountPod, queueDominantShares, queueInfos, queueLoad } from "./accounting.ts";
import { jobTags, planAssignment } from "./admission.ts";
import { type GPUJob, GPUJobs, type GPUQueue, GPUQueues, JOB_LABEL, QUEUE_LABEL } from "./api.ts";
import { rankWaiting, type WaitingJob } from "./fairshare.ts";
import { JOB_INDEX, JOB_INFORMER, NODE_INFORMER, POD_INFORMER } from "./informers.ts";
import {
  capacityChanged,
  gpuNodeInfo,
  isTerminal,
  type NodeLike,
  type PodLike,
  podAssignment,
  podKey,
} from "./objects.ts";
import { GpuCluster, type HolderTags } from "./placement.ts";
import { CAPACITY_REASONS } from "./validation.ts";

const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

export class GpuScheduler {
  readonly cluster = new GpuCluster();
  /** Decision latencies in seconds (pure placement, no API calls), newest last, bounded. */
  readonly decisions: number[] = [];
  pods!: Informer<PodLike>;
  nodes!: Informer<NodeLike>;
  jobs!: Informer<GPUJob>;
  queues!: Informer<GPUQueue>;
  /** Jobs waiting for GPUs (admission failed for capacity), woken when a GPU frees. */
  readonly waiting = new Set<string>();
  /** Jobs waiting for something else (queue maximum, namespace quota): woken too, but they do not hold back elastic growth. */
  readonly parked = new Set<string>();
  /** Running elastic jobs below their max: woken to grow when a GPU frees. */
  readonly growable = new Set<string>();
  /**
   * Jobs whose spec this cluster cannot run (a terminal error), by reason: woken by a queue
   * change (their watch), and by a node change only when the reason is the nodes' capacity.
   */
  readonly invalid = new Map<string, string>();
  /** Bare pods that found no room: retried when a GPU frees. */
  readonly unplaced = new Set<string>();
  /** Pods being deleted (evicted, rolled back): their GPUs are about to be free. */
  readonly terminating = new Set<string>();
  /**
   * What the event being handled did to the index (set by the accounting handlers, which run
   * before the controllers' watch handlers on the same event): the pod whose release freed
   * GPUs, or the node that was added or changed. The watches' mappers read it (their predicate).
   */
  private event: { freedPod?: string; changedNode?: string } = {};
  /** Nodes known only from bound pods so far. */
  private readonly placeholders = new Set<string>();
  private readonly decisionHistogram?: Histogram<"kind">;
  private bootstrapped = false;

  constructor(
    private readonly log: Logger,
    registry?: Registry,
  ) {
    if (registry) {
      this.decisionHistogram = new Histogram({
        name: "centaurus_gpu_scheduler_decision_seconds",
        help: "Time to choose a node and devices for a pod or a gang, excluding API calls",
        labelNames: ["kind"],
        buckets: DECISION_BUCKETS,
        registers: [registry],
      });
    }
  }

  /** Wires the informers and the index's handlers (before the manager starts them). */
  attach(factory: SharedInformerFactory): void {
    this.pods = factory.informerFor(Resources.Pod, POD_INFORMER);
    this.nodes = factory.informerFor(Resources.Node, NODE_INFORMER);
    this.jobs = factory.informerFor(GPUJobs, JOB_INFORMER);
    this.queues = factory.informerFor(GPUQueues);
    // Accounting only (no queue is touched here): the controllers' watches run after these
    // handlers, so their mappers see the index already updated.
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_o, n) => this.onNode(n),
      onDelete: (n) => {
        this.event = {};
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
    this.event = {};
    const name = n.metadata.name ?? "";
    const wasPlaceholder = this.placeholders.delete(name);
    const info = gpuNodeInfo(n);
    if (!info) {
      this.cluster.removeNode(name);
      return;
    }
    const before = this.cluster.nodeInfo(name);
    this.cluster.upsertNode(info);
    // Heartbeats and utilisation updates change nothing a waiting job waits for: only a new
    // node, or one whose devices or schedulability changed, may unblock one.
    if (wasPlaceholder || !before || capacityChanged(before, info)) this.event.changedNode = name;
  }

  tagsOf(p: PodLike): HolderTags {
    const job = p.metadata.labels?.[JOB_LABEL];
    const jobKey = job ? `${p.metadata.namespace}/${job}` : undefined;
    const priority = jobKey ? (this.jobs.store.get(jobKey)?.spec.priority ?? 0) : 0;
    return { job: jobKey, queue: p.metadata.labels?.[QUEUE_LABEL], priority, uid: p.metadata.uid };
  }

  /** Accounts what the API server says a pod holds. */
  private onPod(p: PodLike): void {
    const key = podKey(p);
    this.event = {};
    if (isTerminal(p)) {
      this.onPodGone(p);
      return;
    }
    if (p.metadata.deletionTimestamp) this.terminating.add(key);
    const a = podAssignment(p);
    if (!a) return;
    const err = accountPod(this.cluster, this.placeholders, key, p.metadata.uid, a, this.tagsOf(p));
    if (err) this.log.error({ pod: key, err }, "a bound pod's devices overlap another allocation");
  }

  private onPodGone(p: PodLike): void {
    this.event = {};
    this.terminating.delete(podKey(p));
    if (this.cluster.release(podKey(p), p.metadata.uid)) this.event.freedPod = podKey(p);
  }

  // ------------------------------------------------ what a change may unblock (watch mappers)

  /** Jobs a freed GPU may unblock: waiting (in the order they get GPUs), parked, growable. */
  private jobsToWake(): string[] {
    return [...this.rankedWaiting().map((w) => w.key), ...this.parked, ...this.growable];
  }

  /** Mapper for pod events: when the pod's release freed GPUs, the jobs that may now start or grow. */
  jobsUnblockedByPod(p: PodLike): string[] {
    return this.event.freedPod === podKey(p) ? this.jobsToWake() : [];
  }

  /** Mapper for node events: a new or changed node may unblock those and the jobs it was too small for. */
  jobsUnblockedByNode(n: NodeLike): string[] {
    if (this.event.changedNode !== n.metadata.name) return [];
    const tooSmall = [...this.invalid].filter(([, reason]) => CAPACITY_REASONS.has(reason)).map(([k]) => k);
    return [...this.jobsToWake(), ...tooSmall];
  }

  /** Mapper for pod and node events: the bare pods that found no room, when GPUs freed or a node changed. */
  podsUnblocked(o: PodLike | NodeLike): string[] {
    const freed =
      o.kind === "Node" ? this.event.changedNode === o.metadata.name : this.event.freedPod === podKey(o);
    return freed ? [...this.unplaced] : [];
  }

  // ------------------------------------------------ reads for the decisions

  jobPods(job: GPUJob): PodLike[] {
    return this.pods.store.byIndex(JOB_INDEX, objectKey(job));
  }

  queueInfos() {
    return queueInfos(this.queues.store.list());
  }

  queueLoad() {
    const waiting = [...this.waiting].map((k) => this.jobs.store.get(k)).filter((j): j is GPUJob => !!j);
    return queueLoad(this.cluster.allHolders(), waiting);
  }

  /** Jobs waiting for GPUs, in the order they should get them. */
  rankedWaiting(): WaitingJob[] {
    const jobs = [...this.waiting]
      .map((key) => this.jobs.store.get(key))
      .filter((j): j is GPUJob => !!j)
      .map((j) => ({
        key: objectKey(j),
        priority: j.spec.priority ?? 0,
        queue: j.spec.queue,
        createdAt: Date.parse(j.metadata.creationTimestamp ?? "") || 0,
      }));
    const shares = queueDominantShares(
      this.cluster.allHolders(),
      this.cluster.totalUnits(),
      this.nodes.store.list(),
      (k) => this.jobs.store.get(k),
      this.queueInfos(),
    );
    return rankWaiting(jobs, shares);
  }

  recordDecision(kind: string, startNs: bigint): void {
    const s = Number(process.hrtime.bigint() - startNs) / 1e9;
    this.decisions.push(s);
    if (this.decisions.length > 200_000) this.decisions.splice(0, 100_000);
    this.decisionHistogram?.observe({ kind }, s);
  }

  /**
   * Once, before the first decision after start: reserve the devices of every gang that was
   * being bound (status.replicas written, some pods not bound yet), so no other decision takes
   * them before the gang's own reconcile completes or rolls it back.
   */
  bootstrap(): void {
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
          this.cluster.allocate(key, planAssignment(job, r), jobTags(job, jobKey));
        } catch (err) {
          // Handled: the gang is rolled back and planned again, nothing for a user to do.
          this.log.info(
            { job: jobKey, err: String(err) },
            "a recorded gang plan conflicts; it will be rolled back",
          );
        }
      }
    }
  }
}
