// `centaurus edge tree` output (pure): the tree as this cluster sees it, each cluster with its
// connection, nodes, heartbeat age and mission counts, refused attachments with their reason.

import { countForPath } from "./aggregate.ts";
import type { EdgeCluster, Mission, SubtreeEntry } from "./api.ts";

interface Node {
  name: string;
  path: string;
  entry?: SubtreeEntry;
  ec?: EdgeCluster;
  children: Map<string, Node>;
}

function age(since: string | undefined, now: Date): string {
  if (!since) return "never";
  const s = Math.max(0, Math.round((now.getTime() - new Date(since).getTime()) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function missionCounts(missions: readonly Mission[], path: string): string {
  const c = countForPath(
    missions.map((m) => ({ clusters: m.status?.clusters })),
    path,
  );
  if (c.total === 0) return "missions 0";
  const parts = [`${c.applied} applied`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.unreachable) parts.push(`${c.unreachable} unreachable`);
  const pending = c.total - c.applied - c.failed - c.unreachable;
  if (pending) parts.push(`${pending} pending`);
  return `missions ${c.total} (${parts.join(", ")})`;
}

/** Renders the tree below this cluster from its EdgeClusters and Missions. */
export function renderTree(
  self: { name: string },
  edgeClusters: readonly EdgeCluster[],
  missions: readonly Mission[],
  now = new Date(),
): string {
  const root: Node = { name: self.name || "(this cluster)", path: ".", children: new Map() };
  for (const ec of [...edgeClusters].sort((a, b) =>
    (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
  )) {
    const name = ec.metadata.name ?? "";
    const top: Node = { name, path: name, ec, children: new Map() };
    root.children.set(name, top);
    for (const e of ec.status?.subtree ?? []) {
      if (e.path === name) {
        top.entry = e;
        continue;
      }
      let at = top;
      const segments = e.path.split("/").slice(1);
      segments.forEach((seg, i) => {
        let next = at.children.get(seg);
        if (!next) {
          next = { name: seg, path: [name, ...segments.slice(0, i + 1)].join("/"), children: new Map() };
          at.children.set(seg, next);
        }
        at = next;
      });
      at.entry = e;
    }
  }
  const lines: string[] = [`${root.name}  ${missionCounts(missions, ".")}`];
  const describe = (n: Node): string => {
    const ready = n.ec?.status?.conditions?.find((c) => c.type === "Ready");
    const connection = n.ec ? (n.ec.status?.connection ?? "Unknown") : (n.entry?.connection ?? "Unknown");
    const parts = [n.name, connection];
    if (n.ec) {
      const nodes = n.ec.status?.nodes;
      parts.push(nodes ? `nodes ${nodes.ready}/${nodes.total}` : "nodes -");
      parts.push(`heartbeat ${age(n.ec.status?.lastHeartbeat, now)}`);
    } else if (n.entry?.nodesTotal !== undefined) {
      parts.push(`nodes ${n.entry.nodesReady ?? 0}/${n.entry.nodesTotal}`);
    }
    parts.push(missionCounts(missions, n.path));
    if (ready && ready.status !== "True") parts.push(`[${ready.reason}: ${ready.message}]`);
    return parts.join("  ");
  };
  const walk = (n: Node, prefix: string): void => {
    const kids = [...n.children.values()].sort((a, b) => a.name.localeCompare(b.name));
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      lines.push(`${prefix}${last ? "└── " : "├── "}${describe(k)}`);
      walk(k, `${prefix}${last ? "    " : "│   "}`);
    });
  };
  walk(root, "");
  return `${lines.join("\n")}\n`;
}
