// A Tenant's deletion: remove every namespace (and the cluster roles), report what is still
// waited for, and let the Tenant go once the API server shows no namespace left.

import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { type Condition, setCondition } from "../../pkg/status/conditions.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import { removeFinalizer } from "../../pkg/status/finalizers.ts";
import { TENANT_FINALIZER, TENANT_LABEL, type Tenant, TenantResource, type TenantStatus } from "./api.ts";
import { type BlockerFinder, heldByFinalizers, waitingForLine } from "./blockers.ts";
import type { NamespaceObject, OwnedLookup } from "./owned-objects.ts";
import { writeStatus } from "./status.ts";

export async function terminate(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  blockers: BlockerFinder,
  events: EventRecorder,
  pollMs: number,
): Promise<{ requeueAfterMs: number } | undefined> {
  if (!t.metadata.finalizers?.includes(TENANT_FINALIZER)) return;
  await deleteOwned(client, owned);
  // The cache may lag: confirm with the API server before letting the Tenant go.
  const remaining = (
    await client.list<NamespaceObject>(Resources.Namespace, {
      labelSelector: `${TENANT_LABEL}=${t.metadata.name}`,
    })
  ).items;
  if (remaining.length === 0) {
    await removeFinalizer(client, TenantResource, structuredClone(t) as Tenant, TENANT_FINALIZER);
    return;
  }
  const waitingFor = await describeRemaining(remaining, blockers);
  await reportWaiting(client, t, events, waitingFor, remaining.length);
  return { requeueAfterMs: pollMs };
}

async function deleteOwned(client: KubeClient, owned: OwnedLookup): Promise<void> {
  const namespaces = owned(Resources.Namespace) as NamespaceObject[];
  for (const ns of namespaces) {
    if (!ns.metadata.deletionTimestamp) await client.delete(Resources.Namespace, ns.metadata.name ?? "");
  }
  for (const rt of [Resources.ClusterRoleBinding, Resources.ClusterRole]) {
    for (const o of owned(rt)) await client.delete(rt, o.metadata.name ?? "");
  }
}

/** One line per namespace still there, by name, naming the objects whose finalizers hold it. */
async function describeRemaining(remaining: NamespaceObject[], blockers: BlockerFinder): Promise<string[]> {
  const waitingFor: string[] = [];
  for (const ns of remaining.sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))) {
    const held = heldByFinalizers(ns) ? await blockers.find(ns) : [];
    waitingFor.push(waitingForLine(ns, held));
  }
  return waitingFor;
}

async function reportWaiting(
  client: KubeClient,
  t: Tenant,
  events: EventRecorder,
  waitingFor: string[],
  count: number,
): Promise<void> {
  const conditions: Condition[] = setCondition(t.status?.conditions, {
    type: "Ready",
    status: "False",
    reason: "Terminating",
    message: `deleting ${count} namespace(s)`,
    observedGeneration: t.metadata.generation,
  });
  const status: TenantStatus = { ...(t.status ?? {}), phase: "Terminating", waitingFor, conditions };
  const before = JSON.stringify(t.status?.waitingFor ?? []);
  await writeStatus(client, t, status);
  if (before !== JSON.stringify(waitingFor) && waitingFor.some((w) => w.includes("finalizer"))) {
    await events.record(t, "Normal", "DeletionWaiting", waitingFor.join("; "));
  }
}
