// The bare-pod reconciler: a pod with our scheduler name that no GPUJob owns is a gang of one.
// Placement is decided on the index at once; the binding runs in the background through the
// binder (bounded), so the next decision need not wait for the API.

import { controllerOf } from "../../pkg/kube/object.ts";
import type { Logger } from "../../pkg/log.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import { SCHEDULER_NAME } from "./api.ts";
import type { Binder } from "./binder.ts";
import { isTerminal, podGpuRequest, podPolicy } from "./objects.ts";
import type { GpuScheduler } from "./scheduler.ts";

/** How long after a failed background binding the pod is tried again. */
export const BIND_RETRY_MS = 1000;

export class GpuPodReconciler {
  /** Pods whose background binding failed: their next binding runs in the reconcile, so a failure backs off. */
  private readonly retrying = new Set<string>();

  constructor(
    private readonly state: GpuScheduler,
    private readonly binder: Binder,
    private readonly events: EventRecorder,
    private readonly log: Logger,
    /** Asks for the pod again after a delay (the binder is an external source for the queue). */
    private readonly retryLater: (key: string, delayMs: number) => void,
  ) {}

  async reconcile(key: string): Promise<void> {
    const s = this.state;
    s.bootstrap();
    s.unplaced.delete(key);
    const pod = s.pods.store.get(key);
    if (!pod || pod.metadata.deletionTimestamp || pod.spec?.nodeName || isTerminal(pod)) return;
    if (controllerOf(pod)?.kind === "GPUJob") return;
    if (s.cluster.holder(key)) return; // a binding is in flight
    const request = podGpuRequest(pod) ?? { kind: "whole" as const, count: 0 };
    if (request.kind === "whole" && request.count === 0) {
      const message = `${SCHEDULER_NAME} places only pods that request ${"nvidia.com/gpu"} or a GPU share; use the default scheduler for this pod`;
      await this.events.record(pod, "Warning", "NoGPURequest", message);
      return;
    }
    const start = process.hrtime.bigint();
    const a = s.cluster.find(request, podPolicy(pod));
    if (a) s.cluster.allocate(key, a, s.tagsOf(pod));
    s.recordDecision("pod", start);
    if (!a) {
      s.unplaced.add(key);
      const what =
        request.kind === "whole" ? `${request.count} GPU(s)` : `${request.share.computePercent}% of a GPU`;
      await this.events.record(pod, "Warning", "FailedScheduling", `no GPU node has room for ${what}`);
      return;
    }
    if (this.retrying.delete(key)) {
      // A retry: bind here, so that another failure backs off through the queue's rate limiter.
      await this.binder.bind(pod, a);
      return;
    }
    await this.binder.bindInBackground(pod, a, (err) => {
      // The reservation is released; try the pod again (a transient API error must not
      // leave it unscheduled, nor crash the process as an unhandled rejection).
      this.retrying.add(key);
      this.retryLater(key, BIND_RETRY_MS);
      this.log.warn(
        { pod: key, err: String(err) },
        "binding failed; retrying: if it keeps failing, check the pod's events and that the operator may create pods/binding (RBAC)",
      );
    });
  }
}
