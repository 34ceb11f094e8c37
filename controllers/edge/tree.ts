// The edge tree as one cluster sees it (pure): paths, a child's subtree flattened by path,
// and which attachments are refused because they would close a cycle or attach a cluster twice.
//
// Paths are relative to the cluster that holds them: "." is that cluster itself, "a" its
// direct child, "a/a1" a grandchild. A cluster's absolute path is the one its root sees.

import type { Connection, SubtreeEntry } from "./api.ts";

export const SELF = ".";

/** `child` seen from one level up: "." under "a" is "a", "a1" under "a" is "a/a1". */
export function prefixPath(parent: string, relative: string): string {
  if (relative === SELF || relative === "") return parent;
  if (parent === SELF || parent === "") return relative;
  return `${parent}/${relative}`;
}

/** The absolute path of a cluster below `base` (the root's absolute path is ""). */
export function absolutePath(base: string, relative: string): string {
  if (relative === SELF || relative === "") return base;
  return base ? `${base}/${relative}` : relative;
}

/** The last segment of a path: the EdgeCluster name the cluster has in its parent. */
export function leafName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? path : path.slice(i + 1);
}

export function depthOf(path: string): number {
  if (path === SELF || path === "") return 0;
  return path.split("/").length;
}

/** What a parent knows about one direct child for flattening. */
export interface ChildSnapshot {
  name: string;
  clusterID?: string;
  connection: Connection;
  labels?: Record<string, string>;
  nodesReady?: number;
  nodesTotal?: number;
}

/** A grandchild as the child's own EdgeCluster reports it (its status.subtree is relative to the child). */
export interface GrandchildReport {
  name: string;
  labels?: Record<string, string>;
  subtree?: readonly SubtreeEntry[];
}

/**
 * The child's whole subtree, paths relative to the parent: the child itself first, then every
 * descendant the child's EdgeClusters report. A grandchild with no status yet still appears,
 * Disconnected, so placement can already see it. When the child itself is Disconnected every
 * entry below it is too: nothing below can be reached through it.
 */
export function flattenSubtree(
  child: ChildSnapshot,
  grandchildren: readonly GrandchildReport[],
): SubtreeEntry[] {
  const out: SubtreeEntry[] = [
    {
      path: child.name,
      connection: child.connection,
      ...(child.clusterID ? { clusterID: child.clusterID } : {}),
      ...(child.labels && Object.keys(child.labels).length ? { labels: { ...child.labels } } : {}),
      ...(child.nodesReady !== undefined ? { nodesReady: child.nodesReady } : {}),
      ...(child.nodesTotal !== undefined ? { nodesTotal: child.nodesTotal } : {}),
    },
  ];
  const seen = new Set([child.name]);
  for (const g of [...grandchildren].sort((x, y) => x.name.localeCompare(y.name))) {
    const entries: SubtreeEntry[] = g.subtree?.length
      ? [...g.subtree]
      : [
          {
            path: g.name,
            connection: "Disconnected",
            ...(g.labels && Object.keys(g.labels).length ? { labels: { ...g.labels } } : {}),
          },
        ];
    for (const e of entries) {
      const path = prefixPath(child.name, e.path);
      if (seen.has(path)) continue;
      seen.add(path);
      out.push({
        ...e,
        ...(e.labels ? { labels: { ...e.labels } } : {}),
        path,
        connection: child.connection === "Connected" ? e.connection : "Disconnected",
      });
    }
  }
  return out;
}

/** The same entries, every one marked Disconnected (a child that stopped answering). */
export function markDisconnected(entries: readonly SubtreeEntry[]): SubtreeEntry[] {
  return entries.map((e) => ({ ...e, connection: "Disconnected" }));
}

export interface AttachmentCandidate {
  name: string;
  /** The child cluster's identity (kube-system namespace uid), once it answered. */
  clusterID?: string;
  /** Identities of everything below the child, with their paths relative to the child's parent. */
  subtree?: ReadonlyArray<{ path: string; clusterID?: string }>;
  /** For a stable winner when two EdgeClusters name the same cluster: the older one wins. */
  creationTimestamp?: string;
}

export interface AttachmentContext {
  selfID: string;
  /** Ancestors from the root down, each with its absolute path ("" is the root). */
  ancestors: ReadonlyArray<{ clusterID: string; path: string }>;
  children: readonly AttachmentCandidate[];
}

export type AttachmentVerdict =
  | { accepted: true }
  | { accepted: false; reason: "Cycle" | "AttachedTwice"; message: string };

function describeAncestor(path: string): string {
  return path === "" ? "the root" : `"${path}"`;
}

/**
 * Decides, for every direct child, whether attaching it keeps the tree a tree. Refused:
 * a child that is this cluster or one of its ancestors, or whose subtree holds one (Cycle);
 * a child attached by two EdgeClusters here (the younger is refused) or already reachable
 * through another child's subtree (AttachedTwice).
 */
export function validateAttachments(ctx: AttachmentContext): Map<string, AttachmentVerdict> {
  const verdicts = new Map<string, AttachmentVerdict>();
  const ancestorByID = new Map(ctx.ancestors.map((a) => [a.clusterID, a.path]));
  const ordered = [...ctx.children].sort(
    (x, y) =>
      (x.creationTimestamp ?? "").localeCompare(y.creationTimestamp ?? "") || x.name.localeCompare(y.name),
  );
  const firstByID = new Map<string, string>();
  for (const child of ordered) {
    const id = child.clusterID;
    const loop = (child.subtree ?? []).find(
      (e) => e.clusterID !== undefined && (e.clusterID === ctx.selfID || ancestorByID.has(e.clusterID)),
    );
    if (loop) {
      verdicts.set(child.name, {
        accepted: false,
        reason: "Cycle",
        message: `the subtree of EdgeCluster ${child.name} reaches back to this cluster or an ancestor (at ${loop.path}): attaching it would close a cycle`,
      });
      continue;
    }
    if (!id) {
      // Not probed yet: nothing to compare; decided again once it answers.
      verdicts.set(child.name, { accepted: true });
      continue;
    }
    if (id === ctx.selfID) {
      verdicts.set(child.name, {
        accepted: false,
        reason: "Cycle",
        message: `EdgeCluster ${child.name} points at this cluster itself (cluster id ${id}): a cluster cannot be its own child`,
      });
      continue;
    }
    const ancestorPath = ancestorByID.get(id);
    if (ancestorPath !== undefined) {
      verdicts.set(child.name, {
        accepted: false,
        reason: "Cycle",
        message: `EdgeCluster ${child.name} points at ${describeAncestor(ancestorPath)}, an ancestor of this cluster: attaching it would close a cycle`,
      });
      continue;
    }
    const first = firstByID.get(id);
    if (first !== undefined) {
      verdicts.set(child.name, {
        accepted: false,
        reason: "AttachedTwice",
        message: `EdgeCluster ${child.name} points at the same cluster (id ${id}) as EdgeCluster ${first}: a cluster can be attached once`,
      });
      continue;
    }
    const elsewhere = ordered.find(
      (other) =>
        other.name !== child.name &&
        (other.subtree ?? []).some((e) => e.clusterID === id && e.path !== other.name),
    );
    if (elsewhere) {
      const at = (elsewhere.subtree ?? []).find((e) => e.clusterID === id)?.path ?? elsewhere.name;
      verdicts.set(child.name, {
        accepted: false,
        reason: "AttachedTwice",
        message: `EdgeCluster ${child.name} points at a cluster already attached at ${at}: a cluster can be attached once`,
      });
      continue;
    }
    firstByID.set(id, child.name);
    verdicts.set(child.name, { accepted: true });
  }
  return verdicts;
}

/** Ready reasons of a refused attachment: such a grandchild is not part of the subtree. */
const REJECTED_REASONS = new Set(["Cycle", "AttachedTwice"]);

/** The child's own EdgeClusters as grandchild reports, leaving out the ones the child refused. */
export function grandchildReports(
  edgeClusters: ReadonlyArray<{
    metadata: { name?: string };
    spec: { labels?: Record<string, string> };
    status?: {
      subtree?: SubtreeEntry[];
      conditions?: ReadonlyArray<{ type: string; status: string; reason: string }>;
    };
  }>,
): GrandchildReport[] {
  return edgeClusters
    .filter((g) => {
      const ready = g.status?.conditions?.find((c) => c.type === "Ready");
      return !(ready?.status === "False" && REJECTED_REASONS.has(ready.reason));
    })
    .map((g) => ({ name: g.metadata.name ?? "", labels: g.spec.labels, subtree: g.status?.subtree }));
}

export interface KnownSubtreeInput {
  name: string;
  labels?: Record<string, string>;
  connected: boolean;
  accepted: boolean;
  /** What this process flattened last (empty when nothing yet). */
  current: readonly SubtreeEntry[];
  /** What the EdgeCluster's status records (from before a restart). */
  recorded: readonly SubtreeEntry[];
}

/**
 * The subtree to report when the child's watches cannot be read now: nothing for a refused
 * child; the last known one while connected; the last known one (else the child alone)
 * marked Disconnected otherwise.
 */
export function knownSubtree(i: KnownSubtreeInput): SubtreeEntry[] {
  if (!i.accepted) return [];
  const known = i.current.length ? [...i.current] : [...i.recorded];
  if (i.connected) return known;
  return markDisconnected(
    known.length
      ? known
      : [{ path: i.name, connection: "Disconnected", ...(i.labels ? { labels: i.labels } : {}) }],
  );
}
