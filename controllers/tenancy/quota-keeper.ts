// Keeps one ResourceQuota per namespace so that the hards add up to at most the tenant's
// limit (the split itself is quota.ts). The API server's quota admission checks status.hard,
// which the kube-controller-manager copies from spec.hard on its own schedule, so both are
// written here, guarded by resourceVersion (a write based on a stale view of use fails and is
// retried), and every lowering lands before any raising.

import type { KubeClient } from "../../pkg/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { quotaName, TENANT_LABEL, type Tenant } from "./api.ts";
import type { BlockerFinder } from "./blockers.ts";
import { quotaKeys } from "./desired.ts";
import { formatMilli, parseMilli } from "./quantity.ts";
import {
  allocateAll,
  amount,
  hardDiffers,
  maxBig,
  planHard,
  quotaKey,
  splitFree,
  starved,
  tenantUsage,
} from "./quota.ts";

export interface ResourceQuota extends KubeObject {
  spec?: { hard?: Record<string, string> };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

/** How often the spare quota units move on when there are fewer than namespaces. */
export const ROTATE_MS = 3000;

export interface QuotaOutcome {
  synced: boolean;
  rotating?: boolean;
  hard: Record<string, string>;
  used: Record<string, string>;
}

/** What keepQuota reads: the tenant, its live namespaces, their cached quotas by "ns/name". */
export interface QuotaView {
  t: Tenant;
  namespaces: string[];
  quotas: Map<string, ResourceQuota>;
  /** Namespaces no tenant admin could write to yet (known empty). */
  fresh: ReadonlySet<string>;
}

export async function keepQuota(
  client: KubeClient,
  view: QuotaView,
  discovery: BlockerFinder,
  log: Logger,
): Promise<QuotaOutcome> {
  const { t, namespaces, quotas } = view;
  const rqName = quotaName(t.metadata.name ?? "");
  const tenantQuota = Object.fromEntries(Object.entries(t.spec.quota ?? {}).map(([k, v]) => [k, String(v)]));
  const keys = quotaKeys(t);
  if (keys.length === 0) {
    for (const ns of namespaces)
      if (quotas.has(`${ns}/${rqName}`)) await client.delete(Resources.ResourceQuota, rqName, ns);
    return { synced: true, hard: {}, used: {} };
  }
  await createMissing(client, view, rqName, tenantQuota, keys);
  let synced = true;
  const ready: Array<{ ns: string; rq: ResourceQuota }> = [];
  for (const ns of namespaces) {
    const rq = quotas.get(`${ns}/${rqName}`);
    if (rq && (await syncQuota(client, discovery, rq, keys, ns))) ready.push({ ns, rq });
    else synced = false;
  }
  const usage = tenantUsage(
    tenantQuota,
    ready.map((r) => r.rq.status?.used),
  );
  if (!synced) return { synced, ...usage };
  const { rotating, writes } = await rebalance(client, ready, tenantQuota, keys);
  if (rotating) return { synced, rotating: true, ...usage };
  if (writes.lower + writes.raise > 0) log.debug(writes, "rebalanced tenant quota");
  return { synced, ...usage };
}

/** Creates the quotas the cache does not show (an existing one is left as it is). */
async function createMissing(
  client: KubeClient,
  view: QuotaView,
  rqName: string,
  tenantQuota: Record<string, string>,
  keys: string[],
): Promise<void> {
  const { t, namespaces, quotas, fresh } = view;
  const missing = namespaces.filter((ns) => !quotas.has(`${ns}/${rqName}`));
  const initial = missing.length
    ? await initialHards(client, t, rqName, tenantQuota, missing, fresh)
    : new Map<string, Record<string, string>>();
  await Promise.all(
    missing.map(async (ns) => {
      const hard = initial.get(ns) ?? Object.fromEntries(keys.map((k) => [k, "0"]));
      try {
        await client.create(Resources.ResourceQuota, {
          metadata: {
            name: rqName,
            namespace: ns,
            labels: { [TENANT_LABEL]: t.metadata.name ?? "" },
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
}

/**
 * Brings one namespace's quota to the tenant's keys and makes sure it is counted; true when it
 * is ready to be rebalanced, false when it was written or is not counted yet.
 */
async function syncQuota(
  client: KubeClient,
  discovery: BlockerFinder,
  rq: ResourceQuota,
  keys: string[],
  ns: string,
): Promise<boolean> {
  const specKeys = Object.keys(rq.spec?.hard ?? {}).sort();
  if (specKeys.join(",") !== keys.join(",")) {
    // The tenant quota gained or lost a resource: new ones start at 0 (safe), gone ones go.
    const hard = Object.fromEntries(keys.map((k) => [k, rq.spec?.hard?.[k] ?? "0"]));
    await guarded(() => client.replace(Resources.ResourceQuota, { ...structuredClone(rq), spec: { hard } }));
    return false;
  }
  // The API server admits nothing a quota limits until status.hard and status.used both name
  // the resource ("status unknown for quota"), so the namespace counts as synced only then.
  // The quota controller fills both, except for a kind it has not discovered yet (a CRD
  // installed after it started): those counts are seeded below.
  if (!keys.every((k) => rq.status?.hard?.[k] !== undefined)) return false;
  const uncounted = keys.filter((k) => rq.status?.used?.[k] === undefined);
  if (uncounted.length === 0) return true;
  if (uncounted.some((k) => !k.startsWith("count/"))) return false;
  return !(await seedCounts(client, discovery, rq, uncounted, ns));
}

/**
 * The quota controller counts a kind only once its periodic discovery has found it (a CRD
 * installed after it started); until then admission refuses every such object with "status
 * unknown". Seed the count from the API server: the quota controller takes over when it
 * catches up. True when a count was written.
 */
async function seedCounts(
  client: KubeClient,
  discovery: BlockerFinder,
  rq: ResourceQuota,
  uncounted: string[],
  ns: string,
): Promise<boolean> {
  const used = { ...(rq.status?.used ?? {}) };
  for (const k of uncounted) {
    const n = await countObjects(client, discovery, k, ns);
    if (n !== undefined) used[k] = String(n);
  }
  if (Object.keys(used).length <= Object.keys(rq.status?.used ?? {}).length) return false;
  await guarded(() =>
    client.replace(
      Resources.ResourceQuota,
      { ...structuredClone(rq), status: { ...structuredClone(rq.status ?? {}), used } },
      "status",
    ),
  );
  return true;
}

/** Splits the tenant's quota over the counted namespaces and writes lowerings, then raisings. */
async function rebalance(
  client: KubeClient,
  ready: Array<{ ns: string; rq: ResourceQuota }>,
  tenantQuota: Record<string, string>,
  keys: string[],
): Promise<{ rotating: boolean; writes: { lower: number; raise: number } }> {
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
      return maxBig(amount(rq?.spec?.hard, k), amount(rq?.status?.hard, k));
    },
    rotation,
  );
  const lower: Array<{ rq: ResourceQuota; hard: Record<string, string> }> = [];
  const raise: Array<{ rq: ResourceQuota; hard: Record<string, string> }> = [];
  for (const { ns, rq } of ready) {
    const plan = planHard(keys, targets.get(ns) ?? {}, rq.spec?.hard, rq.status?.hard);
    if (plan.lower) lower.push({ rq, hard: plan.lower });
    if (plan.raise) raise.push({ rq, hard: plan.raise });
  }
  const written = new Map<string, ResourceQuota>();
  for (const { rq, hard } of lower) {
    written.set(rq.metadata.namespace ?? "", await writeHard(client, rq, hard));
  }
  for (const { rq, hard } of raise) {
    await writeHard(client, written.get(rq.metadata.namespace ?? "") ?? rq, hard);
  }
  return { rotating: rotate, writes: { lower: lower.length, raise: raise.length } };
}

/** spec.hard then status.hard, each guarded by the resourceVersion read (status keeps its used). */
async function writeHard(
  client: KubeClient,
  rq: ResourceQuota,
  hard: Record<string, string>,
): Promise<ResourceQuota> {
  let obj = rq;
  if (hardDiffers(obj.spec?.hard, hard)) {
    obj = await guarded(() =>
      client.replace<ResourceQuota>(Resources.ResourceQuota, { ...structuredClone(obj), spec: { hard } }),
    );
  }
  if (hardDiffers(obj.status?.hard, hard)) {
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
