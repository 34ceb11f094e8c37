// The one way a reconciler writes status: compare with what the object already says (no
// request when nothing changed, so a steady state costs nothing), otherwise write the whole
// status to the status subresource by server-side apply (so a field the controller no longer
// sends is removed, as its owner, which a merge patch would leave behind), and, given an event
// recorder, record an event when the Ready condition's reason changes (what `kubectl
// describe` users read to learn why).

import { applyStatus } from "../kube/apply.ts";
import type { KubeClient } from "../kube/client.ts";
import { isNotFound } from "../kube/errors.ts";
import { canonicalJSON, type KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";
import type { EventRecorder } from "./events.ts";

/** A status as written: any fields, conditions shaped as metav1.Condition (status "True" | "False" | "Unknown"). */
type Status = Record<string, unknown> & {
  conditions?: ReadonlyArray<{
    type: string;
    status: string;
    reason?: string;
    message?: string;
    lastTransitionTime?: string;
  }>;
};

/** Status without the conditions' lastTransitionTime, which says when, not what. */
function comparable(status: Status | undefined): string {
  if (!status) return canonicalJSON({});
  const conditions = status.conditions?.map(({ lastTransitionTime: _t, ...c }) => c);
  return canonicalJSON({ ...status, ...(conditions ? { conditions } : {}) });
}

/** True when `next`, written whole, would change what the status says. */
export function statusDiffers(current: Status | undefined, next: Status): boolean {
  return comparable(current) !== comparable(next);
}

const ready = (s: Status | undefined) => s?.conditions?.find((c) => c.type === "Ready");

export class StatusWriter {
  constructor(
    private readonly client: KubeClient,
    private readonly events?: EventRecorder,
  ) {}

  /**
   * Writes `status` whole. Returns the object the API server answered with, `current` when
   * nothing had to change, or undefined when the object is gone.
   */
  async write<T extends KubeObject & { status?: object }>(
    rt: ResourceType<T>,
    current: T,
    next: NonNullable<T["status"]>,
  ): Promise<T | undefined> {
    const before = current.status as Status | undefined;
    const status = next as Status;
    if (!statusDiffers(before, status)) return current;
    const { name = "", namespace } = current.metadata;
    let written: T;
    try {
      written = await applyStatus<T>(this.client, rt, name, namespace, status);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const was = ready(before);
    const now = ready(status);
    if (this.events && now && (now.reason !== was?.reason || now.status !== was?.status)) {
      await this.events.record(
        written,
        now.status === "True" ? "Normal" : "Warning",
        now.reason ?? (now.status === "True" ? "Ready" : "NotReady"),
        now.message ?? "",
      );
    }
    return written;
  }
}
