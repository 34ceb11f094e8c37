// Carrying out a recorded gang plan (job status.replicas): reserve, create the missing pods,
// bind them all through the binder, and roll the whole plan back if that cannot be done.

import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isAlreadyExists, isForbidden, isQuotaUncounted } from "../../pkg/kube/errors.ts";
import { objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { jobTags, planAssignment } from "./admission.ts";
import type { GPUJob, ReplicaStatus } from "./api.ts";
import type { Binder } from "./binder.ts";
import { replicasOf } from "./job-status.ts";
import type { JobWrites } from "./job-writes.ts";
import { type PodLike, replicaPod } from "./objects.ts";
import { OverCommitError } from "./placement.ts";
import type { GpuScheduler } from "./scheduler.ts";

export class GangRunner {
  constructor(
    private readonly client: KubeClient,
    private readonly state: GpuScheduler,
    private readonly binder: Binder,
    private readonly writes: JobWrites,
  ) {}

  /** Creates and binds every planned replica; returns when to look again (undefined: the plan is done). */
  async finish(job: GPUJob, active: PodLike[]): Promise<number | undefined> {
    const plan = job.status?.replicas ?? [];
    const byName = new Map(active.map((p) => [p.metadata.name ?? "", p]));
    // Reserve (idempotent when already held) every planned assignment not yet on a bound pod.
    for (const r of plan) {
      if (byName.get(r.name)?.spec?.nodeName) continue;
      try {
        this.state.cluster.allocate(
          `${job.metadata.namespace}/${r.name}`,
          planAssignment(job, r),
          jobTags(job, objectKey(job)),
        );
      } catch (err) {
        if (!(err instanceof OverCommitError)) throw err;
        const message = `the recorded placement of ${r.name} is no longer free: ${err.message}`;
        await this.rollback(job, plan, byName, "GangRolledBack", message);
        return 1000;
      }
    }
    // Create missing pods (namespace ResourceQuota applies here).
    const refused = await this.createMissing(job, plan, byName);
    if (refused) {
      await this.rollback(job, plan, byName, "QuotaExceeded", refused);
      this.state.parked.add(objectKey(job));
      return 30_000;
    }
    // Bind every replica not bound yet, all at once; a failed binding rolls the gang back.
    const results = await Promise.allSettled(
      plan.map(async (r) => {
        const p = byName.get(r.name);
        if (!p || p.spec?.nodeName) return true;
        return this.binder.bind(p, planAssignment(job, r));
      }),
    );
    const failed = results.filter((x) => x.status === "rejected" || x.value === false).length;
    if (failed > 0) {
      const firstErr = results.find((x) => x.status === "rejected") as PromiseRejectedResult | undefined;
      const message = `${failed} of ${plan.length} bindings failed${firstErr ? `: ${String(firstErr.reason)}` : ""}`;
      await this.rollback(job, plan, byName, "GangRolledBack", message);
      return 1000;
    }
    const replicas = replicasOf(active)
      .filter((r) => !plan.some((p) => p.name === r.name))
      .concat(plan);
    await this.writes.status(
      job,
      "Running",
      { type: "Ready", status: "True", reason: "Running", message: `${replicas.length} replicas running` },
      { replicas, currentReplicas: replicas.length, targetReplicas: replicas.length },
    );
    await this.writes.events.record(job, "Normal", "Started", `${replicas.length} replicas bound`);
    return undefined;
  }

  /** Creates the plan's missing pods; returns a message when the namespace quota refused one. */
  private async createMissing(
    job: GPUJob,
    plan: ReplicaStatus[],
    byName: Map<string, PodLike>,
  ): Promise<string | undefined> {
    for (const [i, r] of plan.entries()) {
      if (byName.has(r.name)) continue;
      const index = Number(r.name.split("-").at(-2) ?? i);
      try {
        const pod = replicaPod(job, r.name, Number.isFinite(index) ? index : i);
        byName.set(r.name, await this.client.create(Resources.Pod, pod));
      } catch (err) {
        if (isAlreadyExists(err)) {
          byName.set(r.name, await this.client.get(Resources.Pod, r.name, job.metadata.namespace));
          continue;
        }
        // A quota not counted yet is transient: the error retries the gang, it is not refused.
        if (isForbidden(err) && !isQuotaUncounted(err)) {
          const msg = err instanceof ApiError ? err.message : String(err);
          return `the namespace quota refused replica ${r.name}: ${msg}`;
        }
        throw err;
      }
    }
    return undefined;
  }

  /**
   * A failed scale-up removes only its new replicas; a failed admission removes the gang
   * (every pod of the job the API server has, plus any this call created).
   */
  private async rollback(
    job: GPUJob,
    plan: ReplicaStatus[],
    byName: Map<string, PodLike>,
    reason: string,
    message: string,
  ): Promise<void> {
    const planned = new Set(plan.map((r) => r.name));
    for (const r of plan) {
      if (!byName.get(r.name)?.spec?.nodeName)
        this.state.cluster.release(`${job.metadata.namespace}/${r.name}`);
    }
    const scaling = job.status?.phase === "Scaling";
    const present = [...byName.values()];
    const doomed = scaling
      ? present.filter((p) => planned.has(p.metadata.name ?? "") && !p.spec?.nodeName)
      : [
          ...new Map(
            [...present, ...(await this.writes.livePods(job))].map((p) => [p.metadata.name, p]),
          ).values(),
        ];
    const created = [...planned]
      .filter((n) => !byName.has(n))
      .map((n) => ({ metadata: { name: n, namespace: job.metadata.namespace } }));
    await this.writes.deletePods([...doomed, ...created]);
    await this.writes.events.record(job, "Warning", reason, message);
    if (scaling) {
      const kept = present.filter((p) => p.spec?.nodeName);
      await this.writes.status(
        job,
        "Running",
        { type: "Ready", status: "True", reason: "Running", message },
        { replicas: replicasOf(kept), currentReplicas: kept.length, targetReplicas: kept.length },
      );
    } else {
      await this.writes.status(
        job,
        "Pending",
        { type: "Ready", status: "False", reason, message },
        { replicas: [], currentReplicas: 0, targetReplicas: 0 },
      );
    }
  }
}
