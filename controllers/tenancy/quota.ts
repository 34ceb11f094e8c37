// Tenant-wide quota arithmetic (pure). The API server enforces a ResourceQuota per namespace
// at admission; the tenant's limit holds across namespaces because the controller keeps
//
//     Σ over the tenant's namespaces of hard(ns)  ≤  tenant limit
//
// at every instant, with hard(ns) = used(ns) + share(ns) and the shares splitting the
// remaining headroom (never each getting all of it). Admission keeps used(ns) ≤ hard(ns), so
// the tenant's total use can never pass its limit, however many creates race. Shares are
// rebalanced as use changes; the writer lowers hards before it raises any (see reconcile.ts).

import { formatMilli, parseMilli } from "./quantity.ts";

/** Tenant-facing quota names that differ from their ResourceQuota names. */
const ALIASES: Record<string, string> = {
  virtualmachines: "count/virtualmachines.compute.centaurus.io",
  "nvidia.com/gpu": "requests.nvidia.com/gpu",
};

/** The ResourceQuota key for a tenant quota key (extended resources need "requests."). */
export function quotaKey(tenantKey: string): string {
  const alias = ALIASES[tenantKey];
  if (alias) return alias;
  const slash = tenantKey.indexOf("/");
  const domain = slash > 0 ? tenantKey.slice(0, slash) : "";
  // An extended resource (domain-qualified, e.g. example.com/fpga) may only be limited on requests.
  if (domain.includes(".") && !/^(requests|limits)\./.test(tenantKey)) return `requests.${tenantKey}`;
  return tenantKey;
}

/** Whether amounts of this resource may be split finer than whole units (cpu: millicores). */
function milliGranular(rqKey: string): boolean {
  return rqKey === "cpu" || rqKey === "requests.cpu" || rqKey === "limits.cpu";
}

export interface NamespaceQuotaState {
  namespace: string;
  /** What admission has charged (ResourceQuota status.used), milli-units. */
  used: bigint;
  /** The highest hard the API server may be enforcing now: max(spec.hard, status.hard). */
  current: bigint;
}

/**
 * New hard limits, one per namespace (same order). When use is within the limit, each gets
 * its use plus an even part of the headroom (granular to a millicore for cpu, a whole unit
 * otherwise; the remainder to the first namespaces by name) so the hards add up to at most
 * the limit. `rotation` moves which namespaces hold the remainder, so that when the headroom is
 * smaller than the number of namespaces none is starved for good. When use is already at or over the limit, no namespace is given more than it
 * has now or more than it uses: nothing new is admitted until use falls.
 */
export function allocate(
  rqKey: string,
  limit: bigint,
  states: readonly NamespaceQuotaState[],
  rotation = 0,
): bigint[] {
  const total = states.reduce((s, x) => s + (x.used > 0n ? x.used : 0n), 0n);
  if (states.length === 0) return [];
  if (total >= limit) return states.map((s) => minBig(s.used, s.current));
  const unit = milliGranular(rqKey) ? 1n : 1000n;
  const units = (limit - total) / unit;
  const n = BigInt(states.length);
  const base = units / n;
  const extra = units % n;
  const order = states.map((s, i) => ({ s, i })).sort((a, b) => (a.s.namespace < b.s.namespace ? -1 : 1));
  const out: bigint[] = new Array(states.length).fill(0n);
  order.forEach(({ s, i }, rank) => {
    const used = s.used > 0n ? s.used : 0n;
    const turn = BigInt((rank + states.length - (rotation % states.length)) % states.length);
    out[i] = used + (base + (turn < extra ? 1n : 0n)) * unit;
  });
  return out;
}

/** hard maps per namespace for the whole tenant quota (tenant keys → quantities). */
export function allocateAll(
  tenantQuota: Record<string, string>,
  namespaces: readonly string[],
  usedOf: (ns: string, rqKey: string) => bigint,
  currentOf: (ns: string, rqKey: string) => bigint,
  rotation = 0,
): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>(namespaces.map((ns) => [ns, {}]));
  for (const [key, value] of Object.entries(tenantQuota)) {
    const rqKey = quotaKey(key);
    const limit = parseMilli(value);
    const states = namespaces.map((ns) => ({
      namespace: ns,
      used: usedOf(ns, rqKey),
      current: currentOf(ns, rqKey),
    }));
    const hards = allocate(rqKey, limit, states, rotation);
    namespaces.forEach((ns, i) => {
      const hard = out.get(ns);
      if (hard) hard[rqKey] = formatMilli(hards[i] ?? 0n);
    });
  }
  return out;
}

/** Milli-amount of `key` in a quantity map, 0 when absent or unparsable. */
export function amount(map: Record<string, string> | undefined, key: string): bigint {
  const v = map?.[key];
  if (v === undefined) return 0n;
  try {
    return parseMilli(v);
  } catch {
    return 0n;
  }
}

/** Tenant status: used against hard per tenant quota key, summed over namespaces. */
export function tenantUsage(
  tenantQuota: Record<string, string>,
  usedPerNamespace: ReadonlyArray<Record<string, string> | undefined>,
): { hard: Record<string, string>; used: Record<string, string> } {
  const hard: Record<string, string> = {};
  const used: Record<string, string> = {};
  for (const [key, value] of Object.entries(tenantQuota)) {
    hard[key] = formatMilli(parseMilli(value));
    const rqKey = quotaKey(key);
    used[key] = formatMilli(usedPerNamespace.reduce((s, u) => s + amount(u, rqKey), 0n));
  }
  return { hard, used };
}

export function minBig(a: bigint, b: bigint): bigint {
  return b < a ? b : a;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return b > a ? b : a;
}

/** An even split of `free` (≤ 0: nothing) between namespaces, remainder to the first by name. */
export function splitFree(rqKey: string, free: bigint, namespaces: readonly string[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (namespaces.length === 0 || free <= 0n) return out;
  const hards = allocate(
    rqKey,
    free,
    namespaces.map((namespace) => ({ namespace, used: 0n, current: 0n })),
  );
  for (const [i, ns] of namespaces.entries()) out.set(ns, hards[i] ?? 0n);
  return out;
}

/**
 * Whether some namespace gets no part of the headroom (less headroom than namespaces, in the
 * resource's units): then the remainder must rotate so every namespace gets a turn.
 */
export function starved(rqKey: string, limit: bigint, used: readonly bigint[]): boolean {
  const total = used.reduce((a, u) => a + (u > 0n ? u : 0n), 0n);
  if (total >= limit || used.length === 0) return false;
  const unit = rqKey === "cpu" || rqKey === "requests.cpu" || rqKey === "limits.cpu" ? 1n : 1000n;
  return (limit - total) / unit < BigInt(used.length);
}

/** How one namespace's quota moves to its target (pure): `lower` never raises, `raise` is the target. */
export function planHard(
  keys: readonly string[],
  target: Record<string, string>,
  specHard: Record<string, string> | undefined,
  statusHard: Record<string, string> | undefined,
): { lower?: Record<string, string>; raise?: Record<string, string> } {
  let down = false;
  let up = false;
  const lowered: Record<string, string> = {};
  for (const k of keys) {
    const want = amount(target, k);
    const spec = amount(specHard, k);
    const stat = amount(statusHard, k);
    if (want < spec || want < stat) down = true;
    if (want > spec || want > stat) up = true;
    // The lowering pass never raises any resource.
    lowered[k] = want < spec ? (target[k] ?? "0") : (specHard?.[k] ?? "0");
  }
  return { ...(down ? { lower: lowered } : {}), ...(up || down ? { raise: target } : {}) };
}

/** Whether any key of `hard` differs in amount from `current` (pure). */
export function hardDiffers(
  current: Record<string, string> | undefined,
  hard: Record<string, string>,
): boolean {
  return Object.keys(hard).some((k) => amount(current ?? {}, k) !== amount(hard, k));
}
