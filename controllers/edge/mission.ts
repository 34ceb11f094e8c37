// The Mission reconciler (thin): applies the mission here when this cluster is selected,
// copies it into the children whose subtree holds a selected cluster (and removes it from the
// others), and aggregates the children's status, keyed by path. Decisions: placement,
// local-apply, propagation, realign, aggregate, mission-status.

import type { Request, Result } from "../../pkg/controller/controller.ts";
import { apply } from "../../pkg/kube/apply.ts";
import { setCondition } from "../../pkg/status/conditions.ts";
import { aggregateMissionStatus, type ChildMissionReport, summarize } from "./aggregate.ts";
import { type ClusterMissionStatus, type Mission, type MissionStatus, Missions } from "./api.ts";
import type { ChildConnection } from "./connections.ts";
import type { EdgeContext } from "./context.ts";
import type { LocalApplier } from "./local-applier.ts";
import { RESYNC_MS } from "./local-apply.ts";
import { missionEvents, missionReady } from "./mission-status.ts";
import { placementMatches, type Route, routeMission } from "./placement.ts";
import {
  childCopy,
  copyReports,
  disconnectedReport,
  propagatedBy,
  propagationFailed,
} from "./propagation.ts";
import { planChildMissions } from "./realign.ts";

/**
 * Gone here (or being deleted): what it left here goes now (found in the caches; the garbage
 * collector is the backstop), and its copies in the children go now, or at realignment for a
 * child that is away.
 */
async function reconcileGone(
  ctx: EdgeContext,
  local: LocalApplier,
  req: Request,
  gone: boolean,
): Promise<void> {
  local.forget(req.name);
  if (gone) await local.removeOrphans(req.name);
  const selfID = await ctx.ownID();
  for (const conn of ctx.connections.values()) {
    if (!conn.connected || !conn.synced()) continue;
    if (propagatedBy(conn.missions.store.get(req.name), selfID)) {
      await conn.client.delete(Missions, req.name).catch(() => undefined);
    }
  }
}

/** The children the mission may travel through: accepted, and not being detached. */
function acceptedChildren(ctx: EdgeContext): ChildConnection[] {
  return ctx.connections.values().filter((c) => {
    const ec = ctx.edgeClusterStore().get(c.name);
    return c.accepted && ec !== undefined && !ec.metadata.deletionTimestamp;
  });
}

/** One child: its report, after writing or removing the copy as the route says. */
async function propagate(
  ctx: EdgeContext,
  conn: ChildConnection,
  mission: Mission,
  route: Route | undefined,
  selfID: string,
): Promise<{ report?: ChildMissionReport; failed?: boolean }> {
  const name = mission.metadata.name ?? "";
  if (!conn.connected) {
    if (!route) return {};
    const lastHeartbeat = ctx.edgeClusterStore().get(conn.name)?.status?.lastHeartbeat;
    return { report: disconnectedReport(conn.name, route.targets, lastHeartbeat) };
  }
  const copy = conn.missions.store.get(name);
  if (!route) {
    if (copy) await conn.client.delete(Missions, name).catch(() => undefined);
    return {};
  }
  const report: ChildMissionReport = { child: conn.name, connected: true, targets: route.targets };
  if (planChildMissions([mission], copy ? [copy] : [], selfID).apply.length) {
    try {
      await apply(conn.client, Missions, childCopy(mission, selfID));
    } catch (err) {
      return { report: propagationFailed(report, err as Error), failed: true };
    }
  } else if (copy && copyReports(copy, mission)) {
    report.reported = copy.status?.clusters ?? [];
  }
  return { report };
}

async function writeMissionStatus(
  ctx: EdgeContext,
  mission: Mission,
  clusters: ClusterMissionStatus[],
  inventory: MissionStatus["inventory"],
): Promise<void> {
  // Events for what changed (not awaited: best-effort, and kept off the path a mission travels).
  for (const e of missionEvents(mission.status?.clusters ?? [], clusters)) {
    void ctx.events.record(mission, e.type, e.reason, e.message);
  }
  const summary = summarize(clusters);
  const generation = mission.metadata.generation;
  const status: MissionStatus = {
    observedGeneration: generation,
    clusters,
    summary,
    inventory,
    conditions: setCondition(mission.status?.conditions, {
      ...missionReady(summary),
      observedGeneration: generation,
    }),
  };
  await ctx.statusWriter.write(Missions, mission, { ...status });
}

export async function reconcileMission(
  ctx: EdgeContext,
  local: LocalApplier,
  req: Request,
): Promise<Result | undefined> {
  const selfID = await ctx.ownID();
  const mission = ctx.missionStore().get(req.key);
  if (!mission || mission.metadata.deletionTimestamp) {
    await reconcileGone(ctx, local, req, !mission);
    return undefined;
  }
  const self = ctx.identity();
  // Here and below at once: the children get the mission while this cluster applies it,
  // so each level adds one write, not two, to the time a mission takes to reach the leaves.
  const here = placementMatches(mission.spec.placement, self)
    ? local.applyIfNeeded(mission, self)
    : local.remove(mission);
  // Below: only through children whose subtree holds a selected cluster.
  const accepted = acceptedChildren(ctx);
  const routes = routeMission(
    mission.spec.placement,
    self.path,
    accepted.map((c) => ({
      name: c.name,
      subtree: c.subtree.length ? c.subtree : (ctx.edgeClusterStore().get(c.name)?.status?.subtree ?? []),
    })),
  );
  const [{ entry, inventory }, ...children] = await Promise.all([
    here,
    ...accepted.map((c) =>
      propagate(
        ctx,
        c,
        mission,
        routes.find((r) => r.child === c.name),
        selfID,
      ),
    ),
  ]);
  const reports = children.flatMap((c) => (c.report ? [c.report] : []));
  await writeMissionStatus(ctx, mission, aggregateMissionStatus(entry, reports), inventory);
  // A periodic look as a backstop for anything a watch missed; a failed write is retried soon.
  return { requeueAfterMs: children.some((c) => c.failed) ? 1000 : RESYNC_MS };
}
