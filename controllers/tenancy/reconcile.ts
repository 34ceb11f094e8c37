// The Tenant reconciler (thin): reads the tenant and what it owns from the cache, asks the
// pure modules (desired.ts, quota.ts) what should be, and writes the difference.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { labelIndex } from "../../pkg/cache/store.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { apply, applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { type Condition, setCondition } from "../../pkg/status/conditions.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { addFinalizer, removeFinalizer } from "../../pkg/status/finalizers.ts";
import {
  LimitRangeResource,
  quotaName,
  SHORT_NAME_LABEL,
  TENANT_FINALIZER,
  TENANT_LABEL,
  type Tenant,
  TenantResource,
  type TenantStatus,
} from "./api.ts";
import { BlockerFinder } from "./blockers.ts";
import {
  covers,
  DEFAULTS_LIMIT_RANGE,
  desiredClusterObjects,
  desiredNamespacedObjects,
  desiredNamespaces,
  ISOLATION_POLICY,
  quotaKeys,
  TENANT_ADMIN_ROLE,
} from "./desired.ts";
import { formatMilli, parseMilli } from "./quantity.ts";
import { allocateAll, amount, maxBig, quotaKey, splitFree, starved, tenantUsage } from "./quota.ts";

export interface ResourceQuota extends KubeObject {
  spec?: { hard?: Record<string, string> };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

interface NamespaceObject extends KubeObject {
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

const TENANT_INDEX = "tenant";
/** How often the spare quota units move on when there are fewer than namespaces. */
const ROTATE_MS = 3000;

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

/** Every kind a tenant owns is watched with this one set of options (declared once: shared informers). */
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
}

export function tenantController(client: KubeClient, opts: TenancyOptions = {}): Controller {
  const events = new EventRecorder(client, "centaurus.io/tenancy", "tenancy", opts.logger);
  const blockers = new BlockerFinder(client);
  return new Controller({
    name: "tenant",
    for: TenantResource,
    owns: OWNED.map((resource) => ({ resource, informer: TENANT_OWNED_INFORMER })),
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
      return await converge(client, t, owned, events, blockers, ctx.log);
    },
  });
}

type OwnedLookup = (rt: ResourceType) => KubeObject[];

async function converge(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  events: EventRecorder,
  discovery: BlockerFinder,
  log: Logger,
): Promise<{ requeueAfterMs: number } | undefined> {
  const name = t.metadata.name ?? "";
  const problems: string[] = [];
  const byName = <T extends KubeObject>(rt: ResourceType) =>
    new Map(
      owned(rt).map((o) => [
        o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? ""),
        o as T,
      ]),
    );

  // 1. Namespaces: create/label the wanted ones, delete those taken off the list.
  const existingNs = byName<NamespaceObject>(Resources.Namespace);
  const wanted = desiredNamespaces(t);
  const wantedNames = new Set(wanted.map((n) => n.metadata.name ?? ""));
  await Promise.all(
    wanted.map(async (ns) => {
      const nsName = ns.metadata.name ?? "";
      const current = existingNs.get(nsName);
      if (current && covers(current.metadata, ns.metadata) && sameRuntimeLabels(current, ns)) return;
      if (!current) {
        // Someone else's namespace with this name is not taken over.
        try {
          const other = await client.get<NamespaceObject>(Resources.Namespace, nsName);
          if (other.metadata.labels?.[TENANT_LABEL] !== name) {
            problems.push(`namespace ${nsName} exists and does not belong to tenant ${name}`);
            return;
          }
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      await apply(client, Resources.Namespace, ns);
    }),
  );
  for (const [nsName, ns] of existingNs) {
    if (
      !wantedNames.has(nsName) &&
      ns.metadata.labels?.[SHORT_NAME_LABEL] &&
      !ns.metadata.deletionTimestamp
    ) {
      await client.delete(Resources.Namespace, nsName);
      await events.record(
        t,
        "Normal",
        "NamespaceRemoved",
        `namespace ${nsName} is no longer listed: deleting it`,
      );
    }
  }
  const liveNamespaces = [...wantedNames].filter((n) => {
    const ns = existingNs.get(n);
    return ns && !ns.metadata.deletionTimestamp;
  });

  // 2. The tenant-wide quota, before the admins' RoleBinding: a namespace nobody but the
  // controller could write to yet is known to be empty, so its quota may start with a share.
  const rbs = byName(Resources.RoleBinding);
  const fresh = new Set(liveNamespaces.filter((ns) => !rbs.has(`${ns}/${TENANT_ADMIN_ROLE}`)));
  const quota = await keepQuota(
    client,
    t,
    liveNamespaces,
    byName<ResourceQuota>(Resources.ResourceQuota),
    discovery,
    fresh,
    log,
  );

  // 3. Per-namespace RBAC, isolation and defaults; the cluster-scoped reader role.
  const current = {
    role: byName(Resources.Role),
    roleBinding: byName(Resources.RoleBinding),
    networkPolicy: byName(Resources.NetworkPolicy),
    limitRange: byName(LimitRangeResource),
  };
  const types = {
    role: Resources.Role,
    roleBinding: Resources.RoleBinding,
    networkPolicy: Resources.NetworkPolicy,
    limitRange: LimitRangeResource,
  } as const;
  const names = {
    role: TENANT_ADMIN_ROLE,
    roleBinding: TENANT_ADMIN_ROLE,
    networkPolicy: ISOLATION_POLICY,
    limitRange: DEFAULTS_LIMIT_RANGE,
  } as const;
  await Promise.all(
    liveNamespaces.map(async (ns) => {
      const desired = desiredNamespacedObjects(t, ns);
      for (const kind of Object.keys(types) as Array<keyof typeof types>) {
        const want = desired[kind];
        const have = current[kind].get(`${ns}/${names[kind]}`);
        if (!want) {
          if (have) await client.delete(types[kind], names[kind], ns);
          continue;
        }
        const { metadata: _m, ...wantBody } = want;
        if (have && covers(have, wantBody) && covers(have.metadata.labels, want.metadata.labels)) continue;
        await apply(client, types[kind], want);
      }
    }),
  );
  const cluster = desiredClusterObjects(t);
  const crName = cluster.clusterRole.metadata.name ?? "";
  const haveCr = byName(Resources.ClusterRole).get(crName);
  if (!haveCr || !covers(haveCr, { rules: (cluster.clusterRole as KubeObject & { rules: unknown }).rules }))
    await apply(client, Resources.ClusterRole, cluster.clusterRole);
  const haveCrb = byName(Resources.ClusterRoleBinding).get(crName);
  const { metadata: _crbMeta, ...crbBody } = cluster.clusterRoleBinding;
  if (!haveCrb || !covers(haveCrb, crbBody))
    await apply(client, Resources.ClusterRoleBinding, cluster.clusterRoleBinding);

  // 4. Status.
  const missing = [...wantedNames].filter((n) => !existingNs.has(n));
  const ready = problems.length === 0 && missing.length === 0 && quota.synced;
  const reason = problems.length
    ? "NamespaceConflict"
    : missing.length
      ? "Provisioning"
      : quota.synced
        ? "Provisioned"
        : "QuotaSyncing";
  const message = problems.length
    ? problems.join("; ")
    : missing.length
      ? `creating namespaces ${missing.join(", ")}`
      : quota.synced
        ? `${wantedNames.size} namespaces ready`
        : "waiting for the quota controller to report use in every namespace";
  const status: TenantStatus = {
    phase: "Active",
    namespaces: [...wantedNames].sort(),
    hard: quota.hard,
    used: quota.used,
    conditions: setCondition(t.status?.conditions, {
      type: "Ready",
      status: ready ? "True" : "False",
      reason,
      message,
      observedGeneration: t.metadata.generation,
    }),
    observedGeneration: t.metadata.generation,
  };
  await writeStatus(client, t, status);
  if (problems.length && t.status?.conditions?.[0]?.reason !== "NamespaceConflict") {
    await events.record(t, "Warning", "NamespaceConflict", problems.join("; "));
  }
  if (ready && quota.rotating) return { requeueAfterMs: ROTATE_MS };
  return ready ? undefined : { requeueAfterMs: problems.length ? 30_000 : 1000 };
}

function sameRuntimeLabels(a: KubeObject, b: KubeObject): boolean {
  const pick = (o: KubeObject) =>
    Object.keys(o.metadata.labels ?? {})
      .filter((k) => k.startsWith("runtimeclass.") || k.endsWith("runtime-classes-restricted"))
      .sort()
      .join(",");
  return pick(a) === pick(b);
}

async function writeStatus(client: KubeClient, t: Tenant, status: TenantStatus): Promise<void> {
  const strip = (s: TenantStatus | undefined) =>
    JSON.stringify({ ...s, conditions: s?.conditions?.map(({ lastTransitionTime: _x, ...c }) => c) });
  if (strip(t.status) === strip(status)) return;
  try {
    await applyStatus(client, TenantResource, t.metadata.name ?? "", undefined, status);
  } catch (err) {
    // Deleted since the cache saw it: nothing left to report on.
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Keeps one ResourceQuota per namespace so that the hards add up to at most the tenant's
 * limit (see quota.ts). The API server's quota admission checks status.hard, which the
 * kube-controller-manager copies from spec.hard on its own schedule, so both are written
 * here, guarded by resourceVersion (a write based on a stale view of use fails and is
 * retried), and every lowering lands before any raising.
 */
async function keepQuota(
  client: KubeClient,
  t: Tenant,
  namespaces: string[],
  quotas: Map<string, ResourceQuota>,
  discovery: BlockerFinder,
  fresh: ReadonlySet<string>,
  log: Logger,
): Promise<{
  synced: boolean;
  rotating?: boolean;
  hard: Record<string, string>;
  used: Record<string, string>;
}> {
  const tenant = t.metadata.name ?? "";
  const rqName = quotaName(tenant);
  const tenantQuota = Object.fromEntries(Object.entries(t.spec.quota ?? {}).map(([k, v]) => [k, String(v)]));
  const keys = quotaKeys(t);
  if (keys.length === 0) {
    for (const ns of namespaces)
      if (quotas.has(`${ns}/${rqName}`)) await client.delete(Resources.ResourceQuota, rqName, ns);
    return { synced: true, hard: {}, used: {} };
  }
  let synced = true;
  const ready: Array<{ ns: string; rq: ResourceQuota }> = [];
  const missing = namespaces.filter((ns) => !quotas.has(`${ns}/${rqName}`));
  const initial = missing.length
    ? await initialHards(client, t, rqName, tenantQuota, missing, fresh)
    : new Map();
  await Promise.all(
    missing.map(async (ns) => {
      const hard = initial.get(ns) ?? Object.fromEntries(keys.map((k) => [k, "0"]));
      try {
        await client.create(Resources.ResourceQuota, {
          metadata: {
            name: rqName,
            namespace: ns,
            labels: { [TENANT_LABEL]: tenant },
            ownerReferences: [
              controllerReference({ ...t, apiVersion: "tenancy.centaurus.io/v1alpha1", kind: "Tenant" }),
            ],
          },
          spec: { hard },
        } as ResourceQuota);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }),
  );
  for (const ns of namespaces) {
    const rq = quotas.get(`${ns}/${rqName}`);
    if (!rq) {
      synced = false;
      continue;
    }
    const specKeys = Object.keys(rq.spec?.hard ?? {}).sort();
    if (specKeys.join(",") !== keys.join(",")) {
      // The tenant quota gained or lost a resource: new ones start at 0 (safe), gone ones go.
      const hard = Object.fromEntries(keys.map((k) => [k, rq.spec?.hard?.[k] ?? "0"]));
      await guarded(() =>
        client.replace(Resources.ResourceQuota, { ...structuredClone(rq), spec: { hard } }),
      );
      synced = false;
      continue;
    }
    // The quota controller has counted the namespace once it reports status.hard (a kind it
    // cannot count, e.g. a CRD not installed yet, has no used entry: nothing of it exists).
    if (!keys.every((k) => rq.status?.hard?.[k] !== undefined)) {
      synced = false;
      continue;
    }
    const uncounted = keys.filter((k) => k.startsWith("count/") && rq.status?.used?.[k] === undefined);
    if (uncounted.length > 0) {
      // The quota controller counts a kind only once its periodic discovery has found it (a
      // CRD installed after it started); until then admission refuses every such object with
      // "status unknown". Seed the count from the API server: the quota controller takes over
      // when it catches up.
      const used = { ...(rq.status?.used ?? {}) };
      for (const k of uncounted) {
        const n = await countObjects(client, discovery, k, ns);
        if (n !== undefined) used[k] = String(n);
      }
      if (Object.keys(used).length > Object.keys(rq.status?.used ?? {}).length) {
        await guarded(() =>
          client.replace(
            Resources.ResourceQuota,
            { ...structuredClone(rq), status: { ...structuredClone(rq.status ?? {}), used } },
            "status",
          ),
        );
        synced = false;
        continue;
      }
    }
    ready.push({ ns, rq });
  }
  const usage = tenantUsage(
    tenantQuota,
    ready.map((r) => r.rq.status?.used),
  );
  if (!synced) return { synced, ...usage };

  const byNs = new Map(ready.map((r) => [r.ns, r.rq]));
  // Less headroom than namespaces: hand the spare units round every few seconds.
  const rotate = Object.entries(tenantQuota).some(([k, v]) =>
    starved(
      quotaKey(k),
      parseMilli(v),
      ready.map((r) => amount(r.rq.status?.used, quotaKey(k))),
    ),
  );
  const rotation = rotate ? Math.floor(Date.now() / ROTATE_MS) : 0;
  const targets = allocateAll(
    tenantQuota,
    ready.map((r) => r.ns),
    (ns, k) => amount(byNs.get(ns)?.status?.used, k),
    (ns, k) => {
      const rq = byNs.get(ns);
      const a = amount(rq?.spec?.hard, k);
      const b = amount(rq?.status?.hard, k);
      return maxBig(a, b);
    },
    rotation,
  );
  const lower: Array<{ rq: ResourceQuota; hard: Record<string, string> }> = [];
  const raise: Array<{ rq: ResourceQuota; hard: Record<string, string> }> = [];
  for (const { ns, rq } of ready) {
    const target = targets.get(ns) ?? {};
    let down = false;
    let up = false;
    const lowered: Record<string, string> = {};
    for (const k of keys) {
      const want = amount(target, k);
      const spec = amount(rq.spec?.hard, k);
      const stat = amount(rq.status?.hard, k);
      if (want < spec || want < stat) down = true;
      if (want > spec || want > stat) up = true;
      // The lowering pass never raises any resource.
      lowered[k] = want < spec ? (target[k] ?? "0") : (rq.spec?.hard?.[k] ?? "0");
    }
    if (down) lower.push({ rq, hard: lowered });
    if (up || down) raise.push({ rq, hard: target });
  }
  const written = new Map<string, ResourceQuota>();
  for (const { rq, hard } of lower) {
    written.set(rq.metadata.namespace ?? "", await writeHard(client, rq, hard));
  }
  for (const { rq, hard } of raise) {
    await writeHard(client, written.get(rq.metadata.namespace ?? "") ?? rq, hard);
  }
  if (rotate) return { synced, rotating: true, ...usage };
  if (lower.length + raise.length > 0)
    log.debug({ lower: lower.length, raise: raise.length }, "rebalanced tenant quota");
  return { synced, ...usage };
}

/** spec.hard then status.hard, each guarded by the resourceVersion read (status keeps its used). */
async function writeHard(
  client: KubeClient,
  rq: ResourceQuota,
  hard: Record<string, string>,
): Promise<ResourceQuota> {
  let obj = rq;
  const spec = obj.spec?.hard ?? {};
  if (Object.keys(hard).some((k) => amount(spec, k) !== amount(hard, k))) {
    obj = await guarded(() =>
      client.replace<ResourceQuota>(Resources.ResourceQuota, { ...structuredClone(obj), spec: { hard } }),
    );
  }
  const statusHard = obj.status?.hard ?? {};
  if (Object.keys(hard).some((k) => amount(statusHard, k) !== amount(hard, k))) {
    obj = await guarded(() =>
      client.replace<ResourceQuota>(
        Resources.ResourceQuota,
        { ...structuredClone(obj), status: { ...structuredClone(obj.status ?? {}), hard } },
        "status",
      ),
    );
  }
  return obj;
}

class StaleQuotaError extends Error {}

/** A conflict means admission (or the quota controller) moved use on: retry from a fresh view. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isConflict(err)) throw new StaleQuotaError("resource quota changed while rebalancing: retrying");
    throw err;
  }
}

/** Deletion: remove every namespace (and the cluster roles), report what is still waited for. */
async function terminate(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  blockers: BlockerFinder,
  events: EventRecorder,
  pollMs: number,
): Promise<{ requeueAfterMs: number } | undefined> {
  if (!t.metadata.finalizers?.includes(TENANT_FINALIZER)) return;
  const namespaces = owned(Resources.Namespace) as NamespaceObject[];
  for (const ns of namespaces) {
    if (!ns.metadata.deletionTimestamp) await client.delete(Resources.Namespace, ns.metadata.name ?? "");
  }
  for (const rt of [Resources.ClusterRoleBinding, Resources.ClusterRole]) {
    for (const o of owned(rt)) await client.delete(rt, o.metadata.name ?? "");
  }
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
  const waitingFor: string[] = [];
  for (const ns of remaining.sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))) {
    const nsName = ns.metadata.name ?? "";
    const conds = (ns.status?.conditions ?? []).filter(
      (c) => c.status === "True" && c.type !== "NamespaceDeletionDiscoveryFailure",
    );
    const detail = conds.map((c) => c.message).filter(Boolean);
    const held = conds.some((c) => c.type === "NamespaceFinalizersRemaining") ? await blockers.find(ns) : [];
    waitingFor.push(
      `namespace ${nsName}${held.length ? `: waiting for ${held.join(", ")}` : detail.length ? `: ${detail.join("; ")}` : ": deleting its content"}`,
    );
  }
  const conditions: Condition[] = setCondition(t.status?.conditions, {
    type: "Ready",
    status: "False",
    reason: "Terminating",
    message: `deleting ${remaining.length} namespace(s)`,
    observedGeneration: t.metadata.generation,
  });
  const status: TenantStatus = { ...(t.status ?? {}), phase: "Terminating", waitingFor, conditions };
  const before = JSON.stringify(t.status?.waitingFor ?? []);
  await writeStatus(client, t, status);
  if (before !== JSON.stringify(waitingFor) && waitingFor.some((w) => w.includes("finalizer"))) {
    await events.record(t, "Normal", "DeletionWaiting", waitingFor.join("; "));
  }
  return { requeueAfterMs: pollMs };
}

/** How many objects of a "count/<plural>.<group>" quota key the namespace holds (undefined: not served). */
async function countObjects(
  client: KubeClient,
  discovery: BlockerFinder,
  key: string,
  ns: string,
): Promise<number | undefined> {
  const ref = key.slice("count/".length);
  const dot = ref.indexOf(".");
  const plural = dot < 0 ? ref : ref.slice(0, dot);
  const group = dot < 0 ? "" : ref.slice(dot + 1);
  try {
    const version = await discovery.versionOf(group);
    const list = await client.list(
      { group, version, plural, kind: plural, namespaced: true },
      { namespace: ns, limit: 500 },
    );
    return list.items.length;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Hard limits for quotas about to be created. A fresh namespace (no tenant admin could write
 * to it yet, so it is empty) starts with an even part of what the tenant's existing quotas
 * do not hold — read from the API server, not the cache, so a raise the cache has not seen
 * yet is counted; any other starts at 0 and gets its share once the quota controller has
 * counted what it holds.
 */
async function initialHards(
  client: KubeClient,
  t: Tenant,
  rqName: string,
  tenantQuota: Record<string, string>,
  missing: string[],
  fresh: ReadonlySet<string>,
): Promise<Map<string, Record<string, string>>> {
  const existing = (
    await client.list<ResourceQuota>(Resources.ResourceQuota, {
      labelSelector: `${TENANT_LABEL}=${t.metadata.name}`,
    })
  ).items.filter((rq) => rq.metadata.name === rqName);
  const newcomers = missing.filter(
    (ns) => fresh.has(ns) && !existing.some((rq) => rq.metadata.namespace === ns),
  );
  const out = new Map<string, Record<string, string>>();
  for (const ns of missing) out.set(ns, {});
  for (const [key, value] of Object.entries(tenantQuota)) {
    const rqKey = quotaKey(key);
    const held = existing.reduce(
      (sum, rq) => sum + maxBig(amount(rq.spec?.hard, rqKey), amount(rq.status?.hard, rqKey)),
      0n,
    );
    const shares = splitFree(rqKey, parseMilli(value) - held, newcomers);
    for (const ns of missing) {
      const hard = out.get(ns);
      if (hard) hard[rqKey] = formatMilli(shares.get(ns) ?? 0n);
    }
  }
  return out;
}
