// Desired state against actual state (pure): which Missions a child must get, keep or lose,
// which objects this cluster must apply and which it must remove. Realignment after a child
// comes back is this same diff: nothing is replayed, the difference is written.

import { canonicalJSON } from "../../pkg/kube/object.ts";
import type { InventoryEntry, Mission, MissionObject, MissionSpec } from "./api.ts";
import { MISSION_LABEL, PROPAGATED_BY_LABEL } from "./api.ts";

export function sameSpec(a: MissionSpec | undefined, b: MissionSpec | undefined): boolean {
  return canonicalJSON(a) === canonicalJSON(b);
}

export interface ChildMissionPlan {
  /** Missions to (re)write in the child: missing there, or with another spec. */
  apply: string[];
  /** Missions this cluster put there earlier that it no longer wants there. */
  remove: string[];
}

/**
 * `desired`: this cluster's missions that route to the child. `actual`: the child's Missions.
 * Only Missions labelled as propagated by this cluster are ever removed: a Mission someone
 * created in the child directly is the child's own business.
 */
export function planChildMissions(
  desired: ReadonlyArray<Pick<Mission, "metadata" | "spec">>,
  actual: ReadonlyArray<Pick<Mission, "metadata" | "spec">>,
  parentID: string,
): ChildMissionPlan {
  const actualByName = new Map(actual.map((m) => [m.metadata.name ?? "", m]));
  const desiredNames = new Set(desired.map((m) => m.metadata.name ?? ""));
  const apply: string[] = [];
  for (const m of desired) {
    const name = m.metadata.name ?? "";
    const there = actualByName.get(name);
    if (
      !there ||
      there.metadata.deletionTimestamp ||
      there.metadata.labels?.[PROPAGATED_BY_LABEL] !== parentID ||
      !sameSpec(there.spec, m.spec)
    ) {
      apply.push(name);
    }
  }
  const remove = actual
    .filter(
      (m) =>
        m.metadata.labels?.[PROPAGATED_BY_LABEL] === parentID && !desiredNames.has(m.metadata.name ?? ""),
    )
    .map((m) => m.metadata.name ?? "");
  return { apply: apply.sort(), remove: remove.sort() };
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
  const base: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target)
      ? { ...(structuredClone(target) as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

export function objectRef(obj: MissionObject): InventoryEntry {
  return {
    apiVersion: obj.apiVersion ?? "",
    kind: obj.kind ?? "",
    ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
    name: obj.metadata?.name ?? "",
  };
}

export function refKey(r: InventoryEntry): string {
  return `${r.apiVersion}|${r.kind}|${r.namespace ?? ""}|${r.name}`;
}

/**
 * The objects this cluster applies for a mission: the mission's objects with the overrides
 * for this cluster (by name or absolute path) merged on, labelled with the mission's name.
 */
export function resolveObjects(
  spec: MissionSpec,
  missionName: string,
  clusterNames: readonly string[],
): MissionObject[] {
  const overrides = (spec.overrides ?? []).filter((o) => clusterNames.includes(o.cluster));
  return spec.objects.map((obj) => {
    let out = structuredClone(obj) as MissionObject;
    const key = refKey(objectRef(obj));
    for (const o of overrides) {
      for (const patch of o.objects) {
        const patchRef = objectRef({
          ...patch,
          apiVersion: patch.apiVersion ?? obj.apiVersion,
          kind: patch.kind ?? obj.kind,
        });
        if (refKey(patchRef) === key) out = mergePatch(out, patch) as MissionObject;
      }
    }
    out.metadata = {
      ...out.metadata,
      labels: { ...(out.metadata?.labels ?? {}), [MISSION_LABEL]: missionName },
    };
    return out;
  });
}

/** Entries of the previous inventory that the mission no longer holds: to be deleted. */
export function staleInventory(
  previous: readonly InventoryEntry[],
  desired: readonly InventoryEntry[],
): InventoryEntry[] {
  const keep = new Set(desired.map(refKey));
  return previous.filter((r) => !keep.has(refKey(r)));
}

/** Problems with a mission's objects that no retry can fix (reported as Failed). */
export function validateObjects(objects: readonly MissionObject[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  objects.forEach((o, i) => {
    if (!o.apiVersion || !o.kind) problems.push(`objects[${i}] needs apiVersion and kind`);
    if (!o.metadata?.name) problems.push(`objects[${i}] needs metadata.name`);
    const key = refKey(objectRef(o));
    if (seen.has(key)) problems.push(`objects[${i}] (${o.kind} ${o.metadata?.name}) appears twice`);
    seen.add(key);
  });
  return problems;
}
