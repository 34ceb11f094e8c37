// The GPUJob reconciler: reads the job and its pods, asks lifecycle.ts for the next step and
// admission.ts for placements, and writes the result (status, pods, bindings via the gang
// runner). One job at a time: admission, preemption and growth decide over the whole cluster.

import { objectKey } from "../../pkg/kube/object.ts";
import { type ConditionUpdate, metaTime } from "../../pkg/status/conditions.ts";
import { runningJobs, unitsFreeingSoon } from "./accounting.ts";
import { evictionVictims, mayGrowNow, newReplicaName, planAdmission, planGrowth } from "./admission.ts";
import type { GPUJob, GPUJobStatus, JobPhase, ReplicaStatus } from "./api.ts";
import type { Eviction } from "./fairshare.ts";
import type { GangRunner } from "./gang.ts";
import { replicasOf, waitingPhase } from "./job-status.ts";
import type { JobWrites } from "./job-writes.ts";
import { nextStep } from "./lifecycle.ts";
import { isTerminal, type PodLike } from "./objects.ts";
import { type Assignment, describe } from "./placement.ts";
import type { GpuScheduler } from "./scheduler.ts";
import { InvalidJobError, validateJob } from "./validation.ts";

const WAIT_REQUEUE_MS = 10_000;

type Result = { requeueAfterMs?: number } | undefined;

export class GpuJobReconciler {
  constructor(
    private readonly state: GpuScheduler,
    private readonly writes: JobWrites,
    private readonly gang: GangRunner,
  ) {}

  async reconcile(key: string): Promise<Result> {
    const s = this.state;
    s.bootstrap();
    const job = this.writes.current(key);
    s.parked.delete(key);
    s.growable.delete(key);
    s.invalid.delete(key);
    if (!job || job.metadata.deletionTimestamp) {
      s.waiting.delete(key);
      // Reservations for replicas that were never created go with the job.
      for (const h of s.cluster.allHolders()) if (h.job === key && !h.uid) s.cluster.release(h.key);
      return undefined;
    }
    const step = nextStep(job, s.jobPods(job), () =>
      validateJob(job, s.queues.store.get(job.spec.queue), {
        totalUnits: s.cluster.totalUnits(),
        maxDevicesPerNode: s.cluster.maxDevicesPerNode(),
        maxDeviceMemoryMiB: s.cluster.maxDeviceMemoryMiB(),
      }),
    );
    if (["finished", "fail", "succeed", "invalid"].includes(step.kind)) s.waiting.delete(key);
    switch (step.kind) {
      case "finished":
      case "wait":
        return undefined;
      case "fail": {
        await this.writes.deletePods(step.active);
        const message = `pod ${step.failedPod} failed`;
        await this.writes.status(job, "Failed", {
          type: "Ready",
          status: "False",
          reason: "PodFailed",
          message,
        });
        await this.writes.events.record(job, "Warning", "PodFailed", message);
        return undefined;
      }
      case "succeed": {
        const message = `all ${step.succeeded} replicas succeeded`;
        const ready = { type: "Ready", status: "True" as const, reason: "Succeeded", message };
        await this.writes.status(job, "Succeeded", ready, { currentReplicas: 0 });
        return undefined;
      }
      case "complete-plan":
        return after(await this.gang.finish(job, step.active));
      case "invalid":
        // Validation that needs the cluster: a clear reason, never a silent wait. A node or
        // queue change wakes the job (watches); retrying alone cannot help.
        s.invalid.set(key, step.invalid.reason);
        throw new InvalidJobError(step.invalid.reason, step.invalid.message);
      case "restart-leftovers":
        await this.writes.deletePods(await this.writes.livePods(job));
        return { requeueAfterMs: 1000 };
      case "admit":
        return this.admit(job);
      case "running":
        return this.running(job, step.active, step.belowMin, step.mayGrow);
    }
  }

  /** Writes what an invalid job shows (ErrorPolicy.report): a False Ready condition and an event. */
  async report(key: string, err: InvalidJobError): Promise<void> {
    const job = this.writes.current(key);
    if (!job) return;
    const ready = { type: "Ready", status: "False" as const, reason: err.reason, message: err.message };
    const written = await this.writes.status(job, waitingPhase(job), ready);
    if (written !== job) await this.writes.events.record(job, "Warning", err.reason, err.message);
  }

  private async running(
    job: GPUJob,
    active: PodLike[],
    belowMin: boolean,
    mayGrow: boolean,
  ): Promise<Result> {
    const min = job.spec.replicas.min;
    // A gang broken below its minimum (a replica deleted) is restarted as a whole.
    if (belowMin && (await this.writes.livePods(job)).length < min) {
      await this.writes.deletePods(await this.writes.livePods(job));
      const message = `only ${active.length} of the minimum ${min} replicas are left; restarting the gang`;
      await this.writes.status(
        job,
        "Pending",
        { type: "Ready", status: "False", reason: "GangBroken", message },
        { replicas: [], currentReplicas: 0 },
      );
      return { requeueAfterMs: 1000 };
    }
    if (mayGrow) {
      if (this.state.waiting.size === 0 && (await this.grow(job, active))) return undefined;
      this.state.growable.add(objectKey(job));
    }
    await this.writes.status(
      job,
      "Running",
      { type: "Ready", status: "True", reason: "Running", message: `${active.length} replicas running` },
      { currentReplicas: active.length, targetReplicas: active.length, replicas: replicasOf(active) },
    );
    return undefined;
  }

  private async admit(job: GPUJob): Promise<Result> {
    const s = this.state;
    const key = objectKey(job);
    const freeing = unitsFreeingSoon(s.cluster, s.terminating);
    for (const k of freeing.stale) s.terminating.delete(k);
    const start = process.hrtime.bigint();
    const decision = planAdmission({
      job,
      cluster: s.cluster,
      queues: s.queueInfos(),
      load: s.queueLoad(),
      ranked: s.rankedWaiting(),
      freeingSoon: freeing.units,
      running: () => runningJobs(s.cluster.allHolders(), s.terminating, (k) => s.jobs.store.get(k)),
      replicaName: (i) => newReplicaName(job, i),
    });
    if (decision.kind === "placed") s.recordDecision("gang", start);
    const waitFor = async (reason: string, message: string, requeueAfterMs: number) => {
      await this.writes.status(job, waitingPhase(job), { type: "Ready", status: "False", reason, message });
      return { requeueAfterMs };
    };
    switch (decision.kind) {
      case "behind":
        s.waiting.add(key);
        return waitFor(
          "QueuedBehindHigherPriority",
          `waiting behind ${decision.ahead.key} (priority ${decision.ahead.priority})`,
          WAIT_REQUEUE_MS,
        );
      case "wait-for-preemption":
        s.waiting.add(key);
        return waitFor(
          "WaitingForPreemption",
          `waiting for ${decision.freeingSoon} GPU(s) being released`,
          2000,
        );
      case "evict": {
        await this.evict(job, decision.evictions);
        s.waiting.add(key);
        const what = decision.evictions.map(
          (e) => `${e.preempt ? "preempting" : `shrinking by ${e.replicas}`} ${e.key}`,
        );
        return waitFor("WaitingForPreemption", `making room: ${what.join("; ")}`, 2000);
      }
      case "wait":
        (decision.parked ? s.parked : s.waiting).add(key);
        return waitFor(decision.reason, decision.message, WAIT_REQUEUE_MS);
      case "placed":
        s.waiting.delete(key);
        return this.recordPlan(job, decision.placed);
    }
  }

  /** The plan goes to the API server before any pod is bound: a restart finds it there. */
  private async recordPlan(job: GPUJob, placed: Map<string, Assignment>): Promise<Result> {
    const replicas: ReplicaStatus[] = [...placed].map(([k, a]) => ({
      name: k.slice(k.indexOf("/") + 1),
      node: a.node,
      devices: a.devices,
    }));
    const admitted = await this.writePlan(
      job,
      "Admitted",
      { type: "Ready", status: "False", reason: "Admitted", message: `binding ${replicas.length} replicas` },
      { replicas, targetReplicas: replicas.length, currentReplicas: 0, admittedAt: metaTime() },
      [...placed.keys()],
    );
    const where = [...placed.values()].map(describe).join(", ");
    await this.writes.events.record(
      job,
      "Normal",
      "Admitted",
      `placed ${replicas.length} replicas: ${where}`,
    );
    return after(await this.gang.finish(admitted, []));
  }

  /** Elastic growth towards max while GPUs are free and the queue's share allows. */
  private async grow(job: GPUJob, cachedActive: PodLike[]): Promise<boolean> {
    const s = this.state;
    if (!mayGrowNow(job, s.cluster)) return false;
    // Count replicas from the API server, not a cache that may not show the newest ones yet.
    const active = await this.writes.livePods(job);
    if (active.length !== cachedActive.length) return false;
    const start = process.hrtime.bigint();
    const plan = planGrowth(job, active, s.cluster, s.queueInfos(), s.queueLoad(), (i) =>
      newReplicaName(job, i),
    );
    s.recordDecision("grow", start);
    if (plan.length === 0) return false;
    const replicas = [...replicasOf(active), ...plan];
    const scaling = await this.writePlan(
      job,
      "Scaling",
      {
        type: "Ready",
        status: "True",
        reason: "ScalingUp",
        message: `growing to ${replicas.length} replicas`,
      },
      { replicas, targetReplicas: replicas.length, currentReplicas: active.length },
      plan.map((r) => `${job.metadata.namespace}/${r.name}`),
    );
    const message = `growing from ${active.length} to ${replicas.length} replicas`;
    await this.writes.events.record(job, "Normal", "ScaledUp", message);
    await this.gang.finish(scaling, active);
    return true;
  }

  /** Records a plan in the job's status; if that fails, the plan's reservations are released. */
  private async writePlan(
    job: GPUJob,
    phase: JobPhase,
    ready: ConditionUpdate,
    extra: Partial<GPUJobStatus>,
    reserved: string[],
  ): Promise<GPUJob> {
    try {
      return await this.writes.status(job, phase, ready, extra);
    } catch (err) {
      for (const k of reserved) this.state.cluster.release(k);
      throw err;
    }
  }

  /** Shrinks or preempts running jobs (deleting pods frees their devices when they are gone). */
  private async evict(forJob: GPUJob, evictions: Eviction[]): Promise<void> {
    for (const e of evictions) {
      const victim = this.writes.current(e.key);
      if (!victim) continue;
      const pods = this.state.jobPods(victim).filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp);
      const doomed = evictionVictims(pods, e);
      await this.writes.deletePods(doomed);
      const message = `${e.preempt ? "preempted" : `shrunk by ${e.replicas} replica(s)`} for ${objectKey(forJob)} (${e.reason})`;
      await this.writes.events.record(victim, "Warning", e.preempt ? "Preempted" : "ScaledDown", message);
      const kept = pods.filter((p) => !doomed.includes(p));
      if (e.preempt) {
        await this.writes.status(
          victim,
          "Preempted",
          { type: "Ready", status: "False", reason: "Preempted", message },
          { replicas: [], currentReplicas: 0, targetReplicas: 0 },
        );
      } else {
        // Running again once the shrink is done: its next reconcile sees the pods gone.
        await this.writes.status(
          victim,
          "Scaling",
          { type: "Ready", status: "True", reason: "ScalingDown", message },
          { replicas: replicasOf(kept), currentReplicas: kept.length, targetReplicas: kept.length },
        );
      }
    }
  }
}

function after(ms: number | undefined): Result {
  return ms === undefined ? undefined : { requeueAfterMs: ms };
}
