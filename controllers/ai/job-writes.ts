// The GPUJob reconciler's writes besides bindings: job status (through the status
// subresource, skipped when unchanged, read back by the next reconcile even while the cache
// lags), pod deletion, and a live list of a job's pods before anything destructive.

import { applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { controllerOf, objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { ConditionUpdate } from "../../pkg/status/conditions.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import { type GPUJob, type GPUJobStatus, GPUJobs, JOB_LABEL, type JobPhase } from "./api.ts";
import { jobStatus } from "./job-status.ts";
import { isTerminal, type PodLike } from "./objects.ts";
import type { GpuScheduler } from "./scheduler.ts";

export class JobWrites {
  /** The status this scheduler last wrote per job (read-your-writes; only it writes job status). */
  private readonly lastStatus = new Map<string, { uid?: string; status: GPUJobStatus }>();

  constructor(
    private readonly client: KubeClient,
    readonly events: EventRecorder,
    private readonly state: GpuScheduler,
  ) {}

  /** The job from the cache, with the status this scheduler last wrote if the cache lags behind it. */
  current(key: string): GPUJob | undefined {
    const cached = this.state.jobs.store.get(key);
    if (!cached) {
      this.lastStatus.delete(key);
      return undefined;
    }
    const mine = this.lastStatus.get(key);
    return mine && mine.uid === cached.metadata.uid ? { ...cached, status: mine.status } : cached;
  }

  async status(
    job: GPUJob,
    phase: JobPhase,
    ready: ConditionUpdate,
    extra: Partial<GPUJobStatus> = {},
  ): Promise<GPUJob> {
    const next = jobStatus(job, phase, ready, extra);
    if (JSON.stringify(next) === JSON.stringify(job.status ?? {})) return job;
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

  /** The job's pods as the API server has them now (before anything destructive; the cache may lag). */
  async livePods(job: GPUJob): Promise<PodLike[]> {
    const list = await this.client.list(Resources.Pod, {
      namespace: job.metadata.namespace,
      labelSelector: `${JOB_LABEL}=${job.metadata.name}`,
    });
    return list.items.filter(
      (p) => controllerOf(p)?.uid === job.metadata.uid && !isTerminal(p) && !p.metadata.deletionTimestamp,
    );
  }

  async deletePods(pods: Array<{ metadata: { name?: string; namespace?: string } }>): Promise<void> {
    for (const p of pods)
      this.state.terminating.add(`${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`);
    await Promise.all(
      pods.map((p) =>
        this.client.delete(Resources.Pod, p.metadata.name ?? "", p.metadata.namespace, {
          propagationPolicy: "Background",
        }),
      ),
    );
  }
}
