// The GPUQueue reconciler: shows what a queue holds, deserves, runs and keeps waiting.

import { applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { objectKey } from "../../pkg/kube/object.ts";
import { GPUQueues } from "./api.ts";
import { deservedShares } from "./fairshare.ts";
import { queueStatus, queueStatusChanged } from "./job-status.ts";
import type { GpuScheduler } from "./scheduler.ts";

/** Queue figures change with every allocation, which no watch on the queue sees: look again. */
const QUEUE_RESYNC_MS = 15_000;

export class GpuQueueReconciler {
  constructor(
    private readonly client: KubeClient,
    private readonly state: GpuScheduler,
  ) {}

  async reconcile(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const s = this.state;
    const q = s.queues.store.get(name);
    if (!q) return undefined;
    const load = s.queueLoad();
    const deserved = deservedShares(s.queueInfos(), load, s.cluster.totalUnits()).get(name) ?? 0;
    const jobs = s.jobs.store.list().filter((j) => j.spec.queue === name);
    const status = queueStatus(q, load.get(name)?.used ?? 0, deserved, jobs, (j) =>
      s.waiting.has(objectKey(j)),
    );
    if (queueStatusChanged(q.status, status))
      await applyStatus(this.client, GPUQueues, name, undefined, status);
    return { requeueAfterMs: QUEUE_RESYNC_MS };
  }
}
