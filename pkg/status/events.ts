// Events (events.k8s.io/v1) that users see in `kubectl describe` and `kubectl events`.
// Repeats of the same event within ten minutes update one Event's series instead of
// creating a new object each time, as the kubelet's recorder does.

import { randomBytes } from "node:crypto";
import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../kube/object.ts";
import { Resources } from "../kube/resource.ts";
import type { Logger } from "../log.ts";
import { microTime } from "./conditions.ts";

export type EventType = "Normal" | "Warning";

const SERIES_WINDOW_MS = 10 * 60_000;

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(
    private readonly client: KubeClient,
    /** e.g. "centaurus.io/tenancy" */
    private readonly controller: string,
    private readonly instance: string,
    private readonly log?: Logger,
  ) {}

  /**
   * Records an event about `regarding`. Never throws: an event that cannot be written is
   * logged, as events are best-effort and must not fail a reconcile.
   */
  async record(
    regarding: KubeObject,
    type: EventType,
    reason: string,
    note: string,
    action = reason,
  ): Promise<void> {
    const { name = "", namespace, uid } = regarding.metadata;
    const ns = namespace ?? "default";
    const key = [uid ?? name, type, reason, note].join("\u0000");
    const now = Date.now();
    const seen = this.recent.get(key);
    try {
      if (seen && now - seen.at < SERIES_WINDOW_MS) {
        seen.count++;
        seen.at = now;
        await this.client.patch(Resources.Event, seen.name, seen.namespace, "merge", {
          series: { count: seen.count, lastObservedTime: microTime() },
        });
        return;
      }
      const eventName = `${name}.${randomBytes(8).toString("hex")}`;
      await this.client.create(Resources.Event, {
        metadata: { name: eventName, namespace: ns },
        eventTime: microTime(),
        reportingController: this.controller,
        reportingInstance: this.instance,
        action,
        reason,
        note: note.slice(0, 1024),
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name,
          namespace,
          uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      });
      this.recent.set(key, { name: eventName, namespace: ns, count: 1, at: now });
      if (this.recent.size > 5000) this.recent.delete(this.recent.keys().next().value as string);
    } catch (err) {
      this.recent.delete(key);
      this.log?.warn(
        { err: String(err), reason },
        "could not record an event (status still says why): check that the operator may create events.k8s.io events (RBAC)",
      );
    }
  }
}
