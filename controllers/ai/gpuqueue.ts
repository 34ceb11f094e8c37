// The GPUQueue reconciler: shows what a queue holds, deserves, runs and keeps waiting.

import type { KubeClient } from "../../pkg/kube/client.ts";
import { objectKey } from "../../pkg/kube/object.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { GPUQueues } from "./api.ts";
import { deservedShares } from "./fairshare.ts";
import { QUEUE_INDEX } from "./informers.ts";
import { queueStatus } from "./job-status.ts";
import type { GpuScheduler } from "./scheduler.ts";

/** Queue figures change with every allocation, which no watch on the queue sees: look again. */
const QUEUE_RESYNC_MS = 15_000;

export class GpuQueueReconciler {
  private readonly statusWriter: StatusWriter;

  constructor(
    client: KubeClient,
    private readonly state: GpuScheduler,
  ) {
    this.statusWriter = new StatusWriter(client);
  }

  async reconcile(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const s = this.state;
    const q = s.queues.store.get(name);
    if (!q) return undefined;
    const load = s.queueLoad();
    const deserved = deservedShares(s.queueInfos(), load, s.cluster.totalUnits()).get(name) ?? 0;
    const jobs = s.jobs.store.byIndex(QUEUE_INDEX, name);
    const status = queueStatus(q, load.get(name)?.used ?? 0, deserved, jobs, (j) =>
      s.waiting.has(objectKey(j)),
    );
    // Written whole by apply (StatusWriter). The condition's message only restates the
    // figures, so "unchanged" means what it meant before.
    await this.statusWriter.write(GPUQueues, q, { ...status });
    return { requeueAfterMs: QUEUE_RESYNC_MS };
  }
}
