// The EdgeCluster reconciler (thin): reads the kubeconfig Secret, keeps the child's connection,
// probes it when a heartbeat is due, keeps the tree a tree, tells the child who it is, removes
// what the child should no longer hold, flattens its subtree and writes Ready. Each decision
// lives in its own module (liveness, tree, identity, realign, edge-status).

import type { Request, Result } from "../../pkg/controller/controller.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { Secret } from "../../pkg/kube/core.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { canonicalJSON } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { addFinalizer } from "../../pkg/status/finalizers.ts";
import { adapterFor } from "./adapter.ts";
import { countForPath } from "./aggregate.ts";
import { EDGE_NAMESPACE, type EdgeCluster, type EdgeClusterStatus, EdgeClusters, Missions } from "./api.ts";
import type { ChildConnection } from "./connections.ts";
import { DETACH_FINALIZER, type EdgeContext } from "./context.ts";
import { detach } from "./detach.ts";
import {
  edgeClusterStatus,
  edgeReady,
  readyEvent,
  readyReason,
  unusableKubeconfigStatus,
} from "./edge-status.ts";
import { childIdentity, type SelfIdentity } from "./identity.ts";
import {
  type HeartbeatTiming,
  heartbeatTiming,
  isConnected,
  nextProbeInMs,
  probeDue,
  probeTimeoutMs,
} from "./liveness.ts";
import { planChildMissions } from "./realign.ts";
import {
  type AttachmentVerdict,
  flattenSubtree,
  grandchildReports,
  knownSubtree,
  validateAttachments,
} from "./tree.ts";

/** Through the one status writer: the whole status by apply, so fields it drops (an unusable
 * kubeconfig removes nodes, capacity and missions) are removed. The Ready event is recorded
 * by the callers (readyEvent), since a heartbeat's status change must not record one. */
async function writeEdgeStatus(ctx: EdgeContext, ec: EdgeCluster, status: EdgeClusterStatus): Promise<void> {
  await ctx.statusWriter.write(EdgeClusters, ec, status);
}

/** The missions see it through their watch on EdgeClusters (deleted, or Ready says why). */
async function dropConnection(ctx: EdgeContext, name: string): Promise<void> {
  await ctx.connections.drop(name);
}

/** The kubeconfig is unusable: the connection goes, Ready says why. */
async function fail(ctx: EdgeContext, ec: EdgeCluster, reason: string, message: string): Promise<Result> {
  await dropConnection(ctx, ec.metadata.name ?? "");
  if (readyReason(ec) !== reason) {
    await ctx.events.record(ec, "Warning", reason, message);
  }
  await writeEdgeStatus(ctx, ec, unusableKubeconfigStatus(ec, reason, message));
  return { requeueAfterMs: heartbeatTiming(ec.spec).periodMs };
}

/**
 * The child's connection. The kubeconfig is read again only when a heartbeat is due (or the
 * reference changed), not on every event from the child, so a Secret that changes or goes is
 * seen within a period.
 */
async function connect(
  ctx: EdgeContext,
  ec: EdgeCluster,
  periodMs: number,
): Promise<ChildConnection | Result> {
  const name = ec.metadata.name ?? "";
  const ref = ec.spec.kubeconfigSecretRef;
  const key = ref.key || "kubeconfig";
  const secretRef = `${ref.namespace}/${ref.name}/${key}`;
  const conn = ctx.connections.get(name);
  if (conn && conn.secretRef === secretRef && !probeDue(conn.lastProbeAt, periodMs, Date.now())) return conn;
  let secret: Secret;
  try {
    secret = await ctx.client.get<Secret>(Resources.Secret, ref.name, ref.namespace);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return fail(
      ctx,
      ec,
      "SecretNotFound",
      `Secret ${ref.namespace}/${ref.name} holding the kubeconfig does not exist`,
    );
  }
  const encoded = secret.data?.[key];
  if (!encoded)
    return fail(ctx, ec, "KubeconfigInvalid", `Secret ${ref.namespace}/${ref.name} has no key "${key}"`);
  try {
    const fresh = await ctx.connections.connect(
      name,
      Buffer.from(encoded, "base64").toString("utf8"),
      await ctx.ownID(),
    );
    fresh.secretRef = secretRef;
    return fresh;
  } catch (err) {
    return fail(
      ctx,
      ec,
      "KubeconfigInvalid",
      `Secret ${ref.namespace}/${ref.name} key "${key}" is not a usable kubeconfig: ${(err as Error).message}`,
    );
  }
}

/** The heartbeat: a probe when one is due; then whether the child counts as Connected. */
async function heartbeat(ec: EdgeCluster, conn: ChildConnection, timing: HeartbeatTiming): Promise<void> {
  const now = Date.now();
  if (probeDue(conn.lastProbeAt, timing.periodMs, now)) {
    conn.lastProbeAt = now;
    try {
      conn.probe = await adapterFor(ec.spec.distro).probe(
        conn.client,
        AbortSignal.timeout(probeTimeoutMs(timing)),
      );
      conn.lastHeartbeat = new Date();
      conn.lastError = undefined;
    } catch (err) {
      conn.lastError = err instanceof Error ? err.message : String(err);
    }
  }
  conn.connected = isConnected({
    lastError: conn.lastError,
    lastHeartbeat: conn.lastHeartbeat,
    recordedHeartbeat: ec.status?.lastHeartbeat,
    now,
    timeoutMs: timing.timeoutMs,
  });
}

/** The tree stays a tree: this child's verdict among all of this cluster's children. */
function admit(ctx: EdgeContext, name: string, self: SelfIdentity, selfID: string): AttachmentVerdict {
  const verdicts = validateAttachments({
    selfID,
    ancestors: self.ancestors,
    children: ctx
      .edgeClusterStore()
      .list()
      .map((other) => {
        const c = ctx.connections.get(other.metadata.name ?? "");
        return {
          name: other.metadata.name ?? "",
          clusterID: c?.probe?.clusterID ?? other.status?.clusterID,
          subtree: c?.subtree.length ? c.subtree : (other.status?.subtree ?? []),
          creationTimestamp: other.metadata.creationTimestamp,
        };
      }),
  });
  return verdicts.get(name) ?? { accepted: true };
}

/**
 * Tells the child who it is (name, path, labels, ancestors): it decides its own matches. Then
 * realignment: Missions this cluster put into the child that it no longer has (deleted while
 * the child was away) go; the mission controller handles the rest.
 */
async function tellChild(
  ctx: EdgeContext,
  ec: EdgeCluster,
  conn: ChildConnection,
  self: SelfIdentity,
  selfID: string,
  wasConnected: boolean,
): Promise<void> {
  const identity = childIdentity(conn.name, ec.spec.labels, self, selfID);
  const text = canonicalJSON(identity);
  if (conn.identityWritten !== text || !wasConnected) {
    try {
      await apply(conn.client, Resources.Namespace, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: EDGE_NAMESPACE },
      });
      await apply(conn.client, Resources.ConfigMap, identity);
      conn.identityWritten = text;
    } catch (err) {
      conn.lastError = `writing the identity ConfigMap: ${(err as Error).message}`;
    }
  }
  if (!conn.synced()) return;
  const missions = ctx.missionStore();
  const plan = planChildMissions(missions.list(), conn.missions.store.list(), selfID);
  for (const name of plan.remove) {
    if (missions.get(name)) continue; // still here: its own reconcile decides
    await conn.client.delete(Missions, name).catch((err: unknown) => {
      conn.lastError = `removing mission ${name}: ${(err as Error).message}`;
    });
  }
}

/** The child's subtree, flattened by path (the last known one when its watches cannot be read). */
function subtreeOf(ec: EdgeCluster, conn: ChildConnection): void {
  if (conn.connected && conn.accepted && conn.synced()) {
    conn.subtree = flattenSubtree(
      {
        name: conn.name,
        clusterID: conn.probe?.clusterID,
        connection: "Connected",
        labels: ec.spec.labels,
        nodesReady: conn.probe?.nodes.ready,
        nodesTotal: conn.probe?.nodes.total,
      },
      grandchildReports(conn.edgeClusters.store.list()),
    );
    return;
  }
  conn.subtree = knownSubtree({
    name: conn.name,
    labels: ec.spec.labels,
    connected: conn.connected,
    accepted: conn.accepted,
    current: conn.subtree,
    recorded: ec.status?.subtree ?? [],
  });
}

async function reconcileAttached(ctx: EdgeContext, ec: EdgeCluster): Promise<Result> {
  const name = ec.metadata.name ?? "";
  const timing = heartbeatTiming(ec.spec);
  const conn = await connect(ctx, ec, timing.periodMs);
  if (!("client" in conn)) return conn;
  const wasConnected = conn.connected;
  await heartbeat(ec, conn, timing);
  const selfID = await ctx.ownID();
  const self = ctx.identity();
  const verdict = admit(ctx, name, self, selfID);
  const wasAccepted = conn.accepted;
  conn.accepted = verdict.accepted;
  if (conn.connected && conn.accepted && (!wasConnected || !conn.watching)) await conn.restartWatches();
  // The missions re-run when the status written below says so (connection, Ready reason).
  if (conn.connected !== wasConnected || conn.accepted !== wasAccepted) {
    ctx.log.info(
      { edgeCluster: name, connected: conn.connected, accepted: conn.accepted },
      "child changed state",
    );
  }
  if (conn.connected && conn.accepted) await tellChild(ctx, ec, conn, self, selfID, wasConnected);
  subtreeOf(ec, conn);
  const ready = edgeReady({
    verdict,
    connected: conn.connected,
    lastError: conn.lastError,
    everAnswered: conn.lastHeartbeat !== undefined || ec.status?.lastHeartbeat !== undefined,
    timing,
    secretRef: ec.spec.kubeconfigSecretRef,
  });
  const event = readyEvent(readyReason(ec), ready);
  if (event) await ctx.events.record(ec, event.type, event.reason, event.message);
  const missions = ctx
    .missionStore()
    .list()
    .map((m) => ({ clusters: m.status?.clusters }));
  const status = edgeClusterStatus({
    ec,
    connection: conn.connected ? "Connected" : "Disconnected",
    probe: conn.probe,
    lastHeartbeat: conn.lastHeartbeat,
    subtree: conn.subtree,
    missions: countForPath(missions, name),
    ready,
  });
  await writeEdgeStatus(ctx, ec, status);
  return { requeueAfterMs: nextProbeInMs(conn.lastProbeAt, timing.periodMs, Date.now()) };
}

export async function reconcileEdgeCluster(ctx: EdgeContext, req: Request): Promise<Result | undefined> {
  const ec = ctx.edgeClusterStore().get(req.key);
  if (!ec) {
    await dropConnection(ctx, req.name);
    return undefined;
  }
  if (ec.metadata.deletionTimestamp) {
    if (ec.metadata.finalizers?.includes(DETACH_FINALIZER)) await detach(ctx, ec);
    await dropConnection(ctx, req.name);
    return undefined;
  }
  if (!ec.metadata.finalizers?.includes(DETACH_FINALIZER)) {
    await addFinalizer(ctx.client, EdgeClusters, ec, DETACH_FINALIZER);
  }
  return reconcileAttached(ctx, ec);
}
