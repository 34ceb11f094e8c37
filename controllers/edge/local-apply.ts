// Applying a mission in this cluster (pure decisions): whether an unchanged mission may skip
// its re-apply, what the inventory becomes after an apply, and this cluster's status entry.

import { canonicalJSON } from "../../pkg/kube/object.ts";
import {
  type ClusterMissionStatus,
  type InventoryEntry,
  MISSION_LABEL,
  type Mission,
  type MissionObject,
} from "./api.ts";
import { objectRef, refKey, resolveObjects, staleInventory } from "./realign.ts";

/** How often an unchanged mission is re-applied here anyway. */
export const RESYNC_MS = 60_000;

/** What was applied for a mission: the mission's uid and its resolved objects. */
export function applyFingerprint(mission: Mission, clusterNames: readonly string[]): string {
  return canonicalJSON({
    uid: mission.metadata.uid,
    objects: resolveObjects(mission.spec, mission.metadata.name ?? "", clusterNames),
  });
}

export interface SkipInput {
  last: { fingerprint: string; at: number } | undefined;
  fingerprint: string;
  now: number;
  /** One of its objects was changed or deleted by someone else since the last apply. */
  drifted: boolean;
  previous: ClusterMissionStatus | undefined;
}

/**
 * Skip the apply when the very same objects were applied within the last minute, none of them
 * has been touched since, and the status says Applied: status flowing up re-runs a mission's
 * reconcile often, and re-applying each time would only add round trips.
 */
export function canSkipApply(i: SkipInput): boolean {
  return (
    i.last?.fingerprint === i.fingerprint &&
    i.now - i.last.at < RESYNC_MS &&
    !i.drifted &&
    i.previous?.state === "Applied"
  );
}

export interface InventoryPlan {
  /** Objects applied before that the mission no longer holds: delete them. */
  remove: InventoryEntry[];
  /** The new inventory: what was applied, plus what it still holds but failed to apply. */
  inventory: InventoryEntry[];
}

export function planInventory(
  previous: readonly InventoryEntry[],
  applied: readonly InventoryEntry[],
  objects: readonly MissionObject[],
): InventoryPlan {
  const keep = new Set([...applied, ...objects.map(objectRef)].map(refKey));
  const remove = staleInventory(previous, applied).filter((r) => !keep.has(refKey(r)));
  const inventory = [...applied];
  for (const p of previous)
    if (keep.has(refKey(p)) && !inventory.some((i) => refKey(i) === refKey(p))) inventory.push(p);
  return { remove, inventory };
}

/** This cluster's entry in the mission's status after an apply. */
export function localEntry(failures: readonly string[], appliedCount: number): ClusterMissionStatus {
  if (failures.length)
    return { path: ".", state: "Failed", reason: "ApplyFailed", message: failures.join("; ") };
  return {
    path: ".",
    state: "Applied",
    reason: "Applied",
    message: `${appliedCount} object${appliedCount === 1 ? "" : "s"} applied`,
  };
}

/** A 4xx answer is the object's fault (invalid, forbidden, namespace missing): reported, not retried. */
export function isObjectFault(code: number): boolean {
  return code >= 400 && code < 500 && code !== 429;
}

/**
 * An object a mission applied here whose mission is gone: it carries the mission's label and
 * a Mission owner reference of that name, and none to the live mission (`liveUid`, undefined
 * when no Mission of that name exists). Derived from the objects themselves, so a restart
 * loses nothing; the garbage collector is the backstop for kinds no informer here watches.
 */
export function isOrphan(
  obj: {
    metadata: {
      labels?: Record<string, string>;
      ownerReferences?: ReadonlyArray<{ kind: string; name: string; uid: string }>;
    };
  },
  missionName: string,
  liveUid: string | undefined,
): boolean {
  if (obj.metadata.labels?.[MISSION_LABEL] !== missionName) return false;
  const owners = (obj.metadata.ownerReferences ?? []).filter(
    (o) => o.kind === "Mission" && o.name === missionName,
  );
  return owners.length > 0 && !owners.some((o) => o.uid === liveUid);
}
