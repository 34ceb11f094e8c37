// The Tenant reconciler (thin): reads the tenant and what it owns from the cache, asks the
// pure modules (desired.ts, quota.ts, status.ts) what should be, and has the writers
// (owned-objects.ts, quota-keeper.ts, termination.ts) write the difference.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { labelIndex } from "../../pkg/cache/store.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { mapByLabel } from "../../pkg/controller/mappers.ts";
import { anyOf, createdOnly, deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { setCondition } from "../../pkg/status/conditions.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { addFinalizer } from "../../pkg/status/finalizers.ts";
import { IP_ADDRESSES_KEY, VPCAddressResource } from "./addresses.ts";
import { LimitRangeResource, TENANT_FINALIZER, TENANT_LABEL, type Tenant, TenantResource } from "./api.ts";
import { BlockerFinder } from "./blockers.ts";
import { TENANT_ADMIN_ROLE } from "./desired.ts";
import {
  keepClusterObjects,
  keepNamespacedObjects,
  keepNamespaces,
  type OwnedLookup,
  ownedByName,
} from "./owned-objects.ts";
import { usageSummary } from "./quantity.ts";
import { keepQuota, type QuotaOutcome, type ResourceQuota, ROTATE_MS } from "./quota-keeper.ts";
import { activeReadiness, writeStatus } from "./status.ts";
import { terminate } from "./termination.ts";

export type { ResourceQuota } from "./quota-keeper.ts";

const TENANT_INDEX = "tenant";

/** Kinds the controller keeps per tenant, all labelled with the tenant (informers select on it). */
const OWNED: ResourceType[] = [
  Resources.Namespace,
  Resources.ResourceQuota,
  Resources.Role,
  Resources.RoleBinding,
  Resources.NetworkPolicy,
  LimitRangeResource,
  Resources.ClusterRole,
  Resources.ClusterRoleBinding,
];

/**
 * Every kind a tenant owns is watched with this one set of options, the owns watches included
 * (shared informers are fixed by their first caller: an owns watch without the index would
 * make the reconciler's lookup fail).
 */
const TENANT_OWNED_INFORMER = {
  labelSelector: TENANT_LABEL,
  indexers: { [TENANT_INDEX]: labelIndex(TENANT_LABEL) },
};

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
    watches: opts.addresses
      ? [
          watch({
            resource: VPCAddressResource,
            informer: TENANT_OWNED_INFORMER,
            map: mapByLabel(TENANT_LABEL, { namespaced: false }),
            predicate: anyOf(createdOnly, deletedOnly),
          }),
        ]
      : [],
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
      return await converge(client, t, owned, events, blockers, ctx.log, held);
    },
  });
}

async function converge(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  events: EventRecorder,
  discovery: BlockerFinder,
  log: Logger,
  addressesHeld: number | undefined,
): Promise<{ requeueAfterMs: number } | undefined> {
  // 1. Namespaces: create/label the wanted ones, delete those taken off the list.
  const ns = await keepNamespaces(client, t, owned, events);

  // 2. The tenant-wide quota, before the admins' RoleBinding: a namespace nobody but the
  // controller could write to yet is known to be empty, so its quota may start with a share.
  const rbs = ownedByName(owned, Resources.RoleBinding);
  const fresh = new Set(ns.live.filter((n) => !rbs.has(`${n}/${TENANT_ADMIN_ROLE}`)));
  const quotas = ownedByName<ResourceQuota>(owned, Resources.ResourceQuota);
  const quota = await keepQuota(client, { t, namespaces: ns.live, quotas, fresh }, discovery, log);

  // 3. Per-namespace RBAC, isolation and defaults; the cluster-scoped reader role.
  await keepNamespacedObjects(client, t, ns.live, owned);
  await keepClusterObjects(client, t, owned);

  // 4. Status.
  const used =
    addressesHeld === undefined ? quota.used : { ...quota.used, [IP_ADDRESSES_KEY]: String(addressesHeld) };
  return await reportActive(client, t, events, ns, { ...quota, used });
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
  if (ready && quota.rotating) return { requeueAfterMs: ROTATE_MS };
  return ready ? undefined : { requeueAfterMs: problems.length ? 30_000 : 1000 };
}
