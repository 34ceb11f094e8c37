// Which clusters a mission's placement selects, and through which children it must travel
// to reach them (pure). A mission goes only to children whose subtree holds a match, never
// to every child.

import type { LabelSelector, Placement, SubtreeEntry } from "./api.ts";
import { absolutePath, leafName, SELF } from "./tree.ts";

/** Kubernetes label-selector semantics: every matchLabels pair and every expression must hold. */
export function selectorMatches(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (!has || !values.includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && values.includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export interface ClusterIdentity {
  /** The cluster's name: its EdgeCluster's name in its parent (the root's is set by hand). */
  name: string;
  /** Absolute path from the root ("" for the root). */
  path: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * A placement selects a cluster when its name or absolute path is listed, or when its
 * clusterSelector matches the cluster's labels. An empty placement selects nothing; an empty
 * selector ({}) selects every cluster, as in Kubernetes.
 */
export function placementMatches(placement: Placement, cluster: ClusterIdentity): boolean {
  const listed = placement.clusters ?? [];
  if (cluster.name && listed.includes(cluster.name)) return true;
  if (cluster.path && listed.includes(cluster.path)) return true;
  if (placement.clusterSelector && selectorMatches(placement.clusterSelector, cluster.labels)) return true;
  return false;
}

export interface ChildSubtree {
  name: string;
  /** The child's whole subtree, paths relative to this cluster (the child's own entry is `name`). */
  subtree: readonly SubtreeEntry[];
}

export interface Route {
  child: string;
  /** The clusters it selects in that child's subtree, paths relative to this cluster. */
  targets: string[];
}

/** The children whose subtree holds a selected cluster, with the selected paths. */
export function routeMission(
  placement: Placement,
  selfPath: string,
  children: readonly ChildSubtree[],
): Route[] {
  const routes: Route[] = [];
  for (const child of children) {
    const entries = child.subtree.some((e) => e.path === child.name)
      ? child.subtree
      : [{ path: child.name, connection: "Disconnected" as const }, ...child.subtree];
    const targets = entries
      .filter((e) =>
        placementMatches(placement, {
          name: leafName(e.path),
          path: absolutePath(selfPath, e.path),
          labels: e.labels ?? {},
        }),
      )
      .map((e) => e.path)
      .sort();
    if (targets.length) routes.push({ child: child.name, targets });
  }
  return routes.sort((a, b) => a.child.localeCompare(b.child));
}

/** Every path (relative to this cluster) the mission should reach: "." when this cluster matches. */
export function missionTargets(
  placement: Placement,
  self: ClusterIdentity,
  children: readonly ChildSubtree[],
): string[] {
  const out = placementMatches(placement, self) ? [SELF] : [];
  for (const r of routeMission(placement, self.path, children)) out.push(...r.targets);
  return out;
}
