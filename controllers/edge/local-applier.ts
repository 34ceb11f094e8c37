// Applying missions in this cluster (I/O): server-side apply of a mission's objects, owned by
// the Mission; removal of what it dropped; drift watches on every kind a mission applied
// (label edge.centaurus.io/mission), whose changes re-run that mission; and removal of what a
// deleted mission left, found in those watches' caches (level-triggered: nothing is kept
// from a delete event). The decisions are in local-apply.ts.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isNotFound } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { apiVersionOf, type ResourceType, resourceId } from "../../pkg/kube/resource.ts";
import {
  API_VERSION,
  type ClusterMissionStatus,
  type InventoryEntry,
  MISSION_LABEL,
  type Mission,
  type MissionObject,
} from "./api.ts";
import type { Discovery } from "./discovery.ts";
import { namesOf, type SelfIdentity } from "./identity.ts";
import {
  applyFingerprint,
  canSkipApply,
  isObjectFault,
  isOrphan,
  localEntry,
  planInventory,
} from "./local-apply.ts";
import { objectRef, resolveObjects, validateObjects } from "./realign.ts";

export interface LocalResult {
  entry: ClusterMissionStatus | undefined;
  inventory: InventoryEntry[];
}

export class LocalApplier {
  private readonly driftWatched = new Map<string, ResourceType>();
  /** Per mission: what was last applied here (a fingerprint), so an unchanged mission is not re-applied. */
  private readonly appliedHere = new Map<string, { fingerprint: string; at: number }>();
  /** Missions one of whose objects someone else changed or deleted since the last apply. */
  private readonly drifted = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly discovery: Discovery,
    private readonly cache: () => SharedInformerFactory,
    /** The live mission's uid by name (undefined when there is none). */
    private readonly liveUid: (name: string) => string | undefined,
    /** Re-runs a mission (an external source: these informers are made at run time, per kind). */
    private readonly enqueue: (name: string) => void,
  ) {}

  private ensureDriftWatch(rt: ResourceType): void {
    const id = resourceId(rt);
    if (this.driftWatched.has(id)) return;
    this.driftWatched.set(id, rt);
    const changed = (o: KubeObject) => {
      const name = o.metadata.labels?.[MISSION_LABEL];
      if (!name) return;
      this.drifted.add(name);
      this.enqueue(name);
    };
    const orphaned = (o: KubeObject) => {
      const name = o.metadata.labels?.[MISSION_LABEL];
      if (name && isOrphan(o, name, this.liveUid(name))) this.enqueue(name);
    };
    this.cache()
      .informerFor(rt, { labelSelector: MISSION_LABEL })
      .addEventHandler({ onAdd: orphaned, onUpdate: (_o, n) => changed(n), onDelete: changed });
  }

  /** Forgets a mission that is gone or being deleted here. */
  forget(name: string): void {
    this.appliedHere.delete(name);
    this.drifted.delete(name);
  }

  /**
   * Removes what a deleted mission left here at once (the garbage collector, through the owner
   * references, can lag by tens of seconds: its discovery resync, an API server restart).
   */
  async removeOrphans(name: string): Promise<void> {
    const liveUid = this.liveUid(name);
    for (const rt of this.driftWatched.values()) {
      const store = this.cache().informerFor(rt, { labelSelector: MISSION_LABEL }).store;
      for (const obj of store.list()) {
        if (!isOrphan(obj, name, liveUid)) continue;
        const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
        try {
          await this.client.delete(rt, obj.metadata.name ?? "", namespace, {
            preconditionUid: obj.metadata.uid,
          });
        } catch (err) {
          if (!isNotFound(err) && !(err instanceof ApiError && err.code === 409)) throw err;
        }
      }
    }
  }

  /** Applies the mission here unless the very same objects were applied recently and untouched since. */
  async applyIfNeeded(mission: Mission, self: SelfIdentity): Promise<LocalResult> {
    const name = mission.metadata.name ?? "";
    const fingerprint = applyFingerprint(mission, namesOf(self));
    const previous = mission.status?.clusters?.find((c) => c.path === ".");
    const skip = canSkipApply({
      last: this.appliedHere.get(name),
      fingerprint,
      now: Date.now(),
      drifted: this.drifted.has(name),
      previous,
    });
    if (skip) return { entry: previous, inventory: mission.status?.inventory ?? [] };
    // Cleared before applying: a change made while applying marks it again.
    this.drifted.delete(name);
    const result = await this.apply(mission, self);
    if (result.entry.state === "Applied") this.appliedHere.set(name, { fingerprint, at: Date.now() });
    else this.appliedHere.delete(name);
    return result;
  }

  /** The mission no longer selects this cluster: what it applied here goes. */
  async remove(mission: Mission): Promise<LocalResult> {
    this.appliedHere.delete(mission.metadata.name ?? "");
    for (const ref of mission.status?.inventory ?? []) await this.deleteObject(ref);
    return { entry: undefined, inventory: [] };
  }

  private async applyOne(
    obj: MissionObject,
    owner: ReturnType<typeof controllerReference>,
  ): Promise<InventoryEntry | string> {
    const ref = objectRef(obj);
    const rt = await this.discovery.resourceFor(ref.apiVersion, ref.kind);
    if (!rt) return `${ref.kind} ${ref.name}: this cluster does not serve ${ref.apiVersion} ${ref.kind}`;
    this.ensureDriftWatch(rt);
    const body: KubeObject = {
      ...obj,
      apiVersion: apiVersionOf(rt),
      kind: rt.kind,
      metadata: {
        ...obj.metadata,
        ...(rt.namespaced ? { namespace: obj.metadata.namespace ?? "default" } : { namespace: undefined }),
        ownerReferences: [owner],
      },
    };
    try {
      await apply(this.client, rt, body);
      return { ...ref, ...(rt.namespaced ? { namespace: body.metadata.namespace } : {}) };
    } catch (err) {
      if (err instanceof ApiError && isObjectFault(err.code)) {
        return `${ref.kind} ${ref.name}: ${err.status.message ?? err.message}`;
      }
      throw err;
    }
  }

  /** Applies the mission's objects here; returns this cluster's status entry and inventory. */
  private async apply(
    mission: Mission,
    self: SelfIdentity,
  ): Promise<{ entry: ClusterMissionStatus; inventory: InventoryEntry[] }> {
    const name = mission.metadata.name ?? "";
    const previous = mission.status?.inventory ?? [];
    const problems = validateObjects(mission.spec.objects);
    if (problems.length) {
      return {
        entry: { path: ".", state: "Failed", reason: "InvalidObjects", message: problems.join("; ") },
        inventory: previous,
      };
    }
    const objects = resolveObjects(mission.spec, name, namesOf(self));
    const owner = controllerReference({ ...mission, apiVersion: API_VERSION, kind: "Mission" });
    const failures: string[] = [];
    const applied: InventoryEntry[] = [];
    for (const obj of objects) {
      const result = await this.applyOne(obj, owner);
      if (typeof result === "string") failures.push(result);
      else applied.push(result);
    }
    // What the mission no longer holds goes (what it still holds but failed to apply stays).
    const plan = planInventory(previous, applied, objects);
    for (const stale of plan.remove) await this.deleteObject(stale);
    return { entry: localEntry(failures, applied.length), inventory: plan.inventory };
  }

  private async deleteObject(ref: InventoryEntry): Promise<void> {
    const rt = await this.discovery.resourceFor(ref.apiVersion, ref.kind);
    if (!rt) return;
    await this.client.delete(rt, ref.name, rt.namespaced ? ref.namespace : undefined);
  }
}
