// Which clusters a mission's placement selects, and through which children it must travel
// to reach them (pure). A mission goes only to children whose subtree holds a match, never
// to every child.

import { selectorMatches } from "../../pkg/kube/label-selector.ts";
import type { Placement, SubtreeEntry } from "./api.ts";
import { absolutePath, leafName, SELF } from "./tree.ts";

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
 * selector ({}) selects every cluster, as in Kubernetes; an absent clusterSelector selects
 * nothing by label (only the listed clusters).
 */
export function placementMatches(placement: Placement, cluster: ClusterIdentity): boolean {
  const listed = placement.clusters ?? [];
  if (cluster.name && listed.includes(cluster.name)) return true;
  if (cluster.path && listed.includes(cluster.path)) return true;
  // Absent selector: no cluster is selected by label (edge's reading, not Kubernetes' "everything").
  if (placement.clusterSelector === undefined) return false;
  return selectorMatches(placement.clusterSelector, cluster.labels);
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
