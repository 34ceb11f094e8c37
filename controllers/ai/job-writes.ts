// The GPUJob reconciler's writes besides bindings: job status (pkg StatusWriter: skipped when
// unchanged; read back by the next reconcile even while the cache lags, through
// ReadYourWrites), pod deletion, and a live list of a job's pods before anything destructive.
//
// The status is written whole (jobStatus starts from the current one), by server-side apply
// through StatusWriter, as before. Events stay
// explicit (the reconcilers record their own, with their own reasons): the StatusWriter is
// built without a recorder, so it records none of its own.

import { ReadYourWrites } from "../../pkg/cache/read-your-writes.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { controllerOf, objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { ConditionUpdate } from "../../pkg/status/conditions.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { type GPUJob, type GPUJobStatus, GPUJobs, JOB_LABEL, type JobPhase } from "./api.ts";
import { jobStatus } from "./job-status.ts";
import { isTerminal, type PodLike } from "./objects.ts";
import type { GpuScheduler } from "./scheduler.ts";

export class JobWrites {
  private readonly statusWriter: StatusWriter;
  /** Jobs as this scheduler last wrote them, until the cache catches up (only it writes job status). */
  private readonly jobsRead: ReadYourWrites<GPUJob>;

  /** After state.attach(): reads the job informer's store. */
  constructor(
    private readonly client: KubeClient,
    readonly events: EventRecorder,
    private readonly state: GpuScheduler,
  ) {
    this.statusWriter = new StatusWriter(client);
    this.jobsRead = new ReadYourWrites(state.jobs.store);
  }

  /** The job from the cache, or as this scheduler last wrote it if the cache lags behind that write. */
  current(key: string): GPUJob | undefined {
    if (!this.state.jobs.store.get(key)) {
      // Gone from the cache: forget any own write of it (a tombstone, cleared by the get).
      this.jobsRead.deleted(key);
      this.jobsRead.get(key);
      return undefined;
    }
    return this.jobsRead.get(key);
  }

  async status(
    job: GPUJob,
    phase: JobPhase,
    ready: ConditionUpdate,
    extra: Partial<GPUJobStatus> = {},
  ): Promise<GPUJob> {
    const next = jobStatus(job, phase, ready, extra);
    const written = await this.statusWriter.write(GPUJobs, job, { ...next });
    // A job deleted meanwhile fails the write, as the apply did: the caller must not go on.
    if (!written) throw new Error(`GPUJob ${objectKey(job)} is gone`);
    if (written !== job) this.jobsRead.wrote(written);
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
