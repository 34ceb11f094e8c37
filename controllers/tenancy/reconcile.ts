// The Tenant reconciler (thin): reads the tenant and what it owns from the cache, asks the
// pure modules (desired.ts, ledger.ts, status.ts) what should be, and has the writers
// (owned-objects.ts, termination.ts) write the difference. The quota itself is the ledger's
// (quota-webhook.ts charges it, ledger-keeper.ts keeps it); this reports its sums.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { setCondition } from "../../pkg/status/conditions.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { addFinalizer } from "../../pkg/status/finalizers.ts";
import { addressesWatch, IP_ADDRESSES_KEY, VPCAddressResource } from "./addresses.ts";
import {
  LimitRangeResource,
  quotaName,
  TENANT_FINALIZER,
  type Tenant,
  TenantLedgerResource,
  TenantResource,
} from "./api.ts";
import { BlockerFinder } from "./blockers.ts";
import { TENANT_INDEX, TENANT_OWNED_INFORMER } from "./informers.ts";
import { hardOf, ledgerUsage, type TenantLedger, totalUse } from "./ledger.ts";
import {
  keepClusterObjects,
  keepNamespacedObjects,
  keepNamespaces,
  type OwnedLookup,
} from "./owned-objects.ts";
import { usageSummary } from "./quantity.ts";
import { activeReadiness, writeStatus } from "./status.ts";
import { terminate } from "./termination.ts";

/** Kinds the controller keeps per tenant, all labelled with the tenant (informers select on it). */
const OWNED: ResourceType[] = [
  Resources.Namespace,
  // Only to delete the per-namespace quotas of releases before the ledger.
  Resources.ResourceQuota,
  TenantLedgerResource,
  Resources.Role,
  Resources.RoleBinding,
  Resources.NetworkPolicy,
  LimitRangeResource,
  Resources.ClusterRole,
  Resources.ClusterRoleBinding,
];

function tenantInformer(factory: SharedInformerFactory, rt: ResourceType): Informer<KubeObject> {
  return factory.informerFor(rt, TENANT_OWNED_INFORMER);
}

export interface TenancyOptions {
  concurrency?: number;
  logger?: Logger;
  /** How often a terminating tenant re-checks what it waits for. */
  terminatingPollMs?: number;
  /** Count the VPCAddresses each tenant holds (only when the network kinds are installed). */
  addresses?: boolean;
}

export function tenantController(client: KubeClient, opts: TenancyOptions = {}): Controller {
  const events = new EventRecorder(client, "centaurus.io/tenancy", "tenancy", opts.logger);
  const blockers = new BlockerFinder(client);
  return new Controller({
    name: "tenant",
    for: TenantResource,
    owns: OWNED.map((resource) => ({ resource, informer: TENANT_OWNED_INFORMER })),
    watches: opts.addresses ? [addressesWatch()] : [],
    concurrency: opts.concurrency ?? 8,
    logger: opts.logger,
    reconcile: async (req, ctx) => {
      const tenant = ctx.cache.informerFor(TenantResource).store.get(req.key) as Tenant | undefined;
      if (!tenant) return;
      const owned = (rt: ResourceType) => tenantInformer(ctx.cache, rt).store.byIndex(TENANT_INDEX, req.name);
      if (tenant.metadata.deletionTimestamp) {
        return await terminate(client, tenant, owned, blockers, events, opts.terminatingPollMs ?? 2000);
      }
      let t = tenant;
      if (!t.metadata.finalizers?.includes(TENANT_FINALIZER)) {
        t = await addFinalizer(client, TenantResource, structuredClone(tenant) as Tenant, TENANT_FINALIZER);
      }
      const held = opts.addresses ? owned(VPCAddressResource).length : undefined;
      return await converge(client, t, owned, events, held);
    },
  });
}

export interface QuotaOutcome {
  /** Whether the ledger exists (until then admission refuses the tenant's creates). */
  synced: boolean;
  hard: Record<string, string>;
  used: Record<string, string>;
}

async function converge(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  events: EventRecorder,
  addressesHeld: number | undefined,
): Promise<{ requeueAfterMs: number } | undefined> {
  // 1. Namespaces: create/label the wanted ones, delete those taken off the list.
  const ns = await keepNamespaces(client, t, owned, events);

  // 2. Per-namespace RBAC, isolation and defaults; the cluster-scoped reader role.
  await keepNamespacedObjects(client, t, ns.live, owned);
  await keepClusterObjects(client, t, owned);
  for (const rq of owned(Resources.ResourceQuota)) {
    if (rq.metadata.name === quotaName(t.metadata.name ?? "") && rq.metadata.namespace) {
      await client.delete(Resources.ResourceQuota, rq.metadata.name, rq.metadata.namespace);
    }
  }

  // 3. Status: the ledger's sums against the tenant's limits.
  const ledger = owned(TenantLedgerResource)[0] as TenantLedger | undefined;
  const usage = ledgerUsage(hardOf(t.spec.quota), totalUse(ledger?.spec.charges));
  const used =
    addressesHeld === undefined ? usage.used : { ...usage.used, [IP_ADDRESSES_KEY]: String(addressesHeld) };
  return await reportActive(client, t, events, ns, { synced: !!ledger, hard: usage.hard, used });
}

async function reportActive(
  client: KubeClient,
  t: Tenant,
  events: EventRecorder,
  ns: { wanted: Set<string>; missing: string[]; problems: string[] },
  quota: QuotaOutcome,
): Promise<{ requeueAfterMs: number } | undefined> {
  const { problems } = ns;
  const { ready, reason, message } = activeReadiness(problems, ns.missing, ns.wanted.size, quota.synced);
  await writeStatus(client, t, {
    phase: "Active",
    namespaces: [...ns.wanted].sort(),
    hard: quota.hard,
    used: quota.used,
    usage: usageSummary(quota.used, quota.hard),
    conditions: setCondition(t.status?.conditions, {
      type: "Ready",
      status: ready ? "True" : "False",
      reason,
      message,
      observedGeneration: t.metadata.generation,
    }),
    observedGeneration: t.metadata.generation,
  });
  if (problems.length && t.status?.conditions?.[0]?.reason !== "NamespaceConflict") {
    await events.record(t, "Warning", "NamespaceConflict", problems.join("; "));
  }
  return ready ? undefined : { requeueAfterMs: problems.length ? 30_000 : 1000 };
}
