// Detaching a child (I/O): an EdgeCluster being deleted removes from the child what this
// cluster put there (its Missions, whose objects the child's garbage collector then removes,
// and the identity ConfigMap). A child that cannot be reached keeps them: the deletion is not
// held up by a cluster that may never come back; a Warning event says so.

import type { ConfigMap, Secret } from "../../pkg/kube/core.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { removeFinalizer } from "../../pkg/status/finalizers.ts";
import {
  EDGE_NAMESPACE,
  type EdgeCluster,
  EdgeClusters,
  IDENTITY_CONFIGMAP,
  type Mission,
  Missions,
  PROPAGATED_BY_LABEL,
} from "./api.ts";
import { DETACH_FINALIZER, type EdgeContext } from "./context.ts";
import { writtenBy } from "./identity.ts";

async function removeCopies(ctx: EdgeContext, ec: EdgeCluster, selfID: string): Promise<number> {
  const name = ec.metadata.name ?? "";
  const ref = ec.spec.kubeconfigSecretRef;
  let conn = ctx.connections.get(name);
  if (!conn) {
    const secret = await ctx.client.get<Secret>(Resources.Secret, ref.name, ref.namespace);
    const encoded = secret.data?.[ref.key || "kubeconfig"];
    if (!encoded) throw new Error(`Secret ${ref.namespace}/${ref.name} has no kubeconfig`);
    conn = await ctx.connections.connect(name, Buffer.from(encoded, "base64").toString("utf8"), selfID);
  }
  conn.accepted = false;
  let removed = 0;
  // Twice: a mission reconcile that was already writing into the child may have re-created one.
  for (let pass = 0; pass < 2; pass++) {
    const copies = await conn.client.list<Mission>(Missions, {
      labelSelector: `${PROPAGATED_BY_LABEL}=${selfID}`,
      signal: AbortSignal.timeout(5000),
    });
    for (const m of copies.items) {
      if (await conn.client.delete(Missions, m.metadata.name ?? "")) removed++;
    }
  }
  const identity = await conn.client
    .get<ConfigMap>(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE)
    .catch(() => undefined);
  if (writtenBy(identity, selfID)) {
    await conn.client.delete(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE);
  }
  return removed;
}

export async function detach(ctx: EdgeContext, ec: EdgeCluster): Promise<void> {
  const selfID = await ctx.ownID();
  try {
    const removed = await removeCopies(ctx, ec, selfID);
    await ctx.events.record(ec, "Normal", "Detached", `removed ${removed} mission(s) from the child`);
  } catch (err) {
    await ctx.events.record(
      ec,
      "Warning",
      "DetachedWithoutCleanup",
      `the child could not be cleaned up (${(err as Error).message}): missions this cluster put there stay until removed by hand`,
    );
  }
  await removeFinalizer(ctx.client, EdgeClusters, ec, DETACH_FINALIZER);
}
