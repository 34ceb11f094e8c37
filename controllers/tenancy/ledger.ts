// The tenant ledger (pure): what each admitted object uses, and whether the next one fits.
//
// One TenantLedger object per tenant holds a charge per live object (keyed by its uid). The
// admission webhook adds a charge before the API server stores the object, with a write
// guarded by the ledger's resourceVersion, so two creates can never both spend the same
// headroom; the ledger keeper removes the charges of objects that are gone or finished. So
//
//     Σ charges  ≤  hard           (every charge was checked against all the others), and
//     Σ charges  =  what lives     (up to a charge whose create failed, dropped after a grace),
//
// which is exact both ways: never exceeded, and usable in full from any namespace.

import type { Container, Pod } from "../../pkg/kube/core.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { GPU_COMPUTE_ANNOTATION, GPU_MEMORY_ANNOTATION } from "../shared/gpu-share.ts";
import { formatMilli, humanQuantity, parseMilli } from "./quantity.ts";

/** The keys the ledger counts (tenant-facing names; spec.quota may limit any of them). */
export const LEDGER_KEYS = [
  "cpu",
  "memory",
  "limits.cpu",
  "limits.memory",
  "pods",
  "virtualmachines",
  "nvidia.com/gpu",
  "ai.centaurus.io/gpu-compute",
  "ai.centaurus.io/gpu-memory",
  "ip-addresses",
] as const;
export type LedgerKey = (typeof LEDGER_KEYS)[number];

/** ResourceQuota spellings a tenant may use for the same keys. */
const ALIASES: Record<string, LedgerKey> = {
  "requests.cpu": "cpu",
  "requests.memory": "memory",
  "requests.nvidia.com/gpu": "nvidia.com/gpu",
  "count/virtualmachines.compute.centaurus.io": "virtualmachines",
};

/** The ledger key for a spec.quota key, or undefined when the ledger does not count it. */
export function ledgerKey(key: string): LedgerKey | undefined {
  if ((LEDGER_KEYS as readonly string[]).includes(key)) return key as LedgerKey;
  return ALIASES[key];
}

/** Every key spec.quota accepts (for the CRD's validation message and the docs). */
export const QUOTA_KEYS: readonly string[] = [...LEDGER_KEYS, ...Object.keys(ALIASES)];

/** Milli-amounts per ledger key; absent means 0. */
export type Use = Partial<Record<LedgerKey, bigint>>;

/** One charge (quantities as text). */
export interface Charge {
  /** "<resource>/<namespace>/<name>", for people and for the keeper's GET. */
  ref: string;
  /** When admission charged it (RFC 3339). */
  at: string;
  use: Record<string, string>;
}

/**
 * The ledger object. Each charge is stored as one line of text,
 * "<ref> <at> <key>=<amount>,...", not as an object: the API server validates every object
 * field of a custom resource on every write, and a ledger of a thousand objects made each
 * admission several times slower than a thousand strings do.
 */
export interface TenantLedger extends KubeObject {
  spec: { charges?: Record<string, string> };
}

export function encodeCharge(c: Charge): string {
  const use = Object.entries(c.use)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${c.ref} ${c.at} ${use}`;
}

export function decodeCharge(text: string): Charge {
  const [ref = "", at = "", use = ""] = text.split(" ");
  const amounts: Record<string, string> = {};
  for (const pair of use.split(",")) {
    const eq = pair.indexOf("=");
    if (eq > 0) amounts[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { ref, at, use: amounts };
}

const GPU = "nvidia.com/gpu";
const MIB = 1024n * 1024n;

function add(into: Use, key: LedgerKey, milli: bigint): void {
  if (milli !== 0n) into[key] = (into[key] ?? 0n) + milli;
}

/** The larger of two amounts (Math.max does not take bigints). */
function larger(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

function quantity(q: string | undefined): bigint {
  if (q === undefined) return 0n;
  try {
    return parseMilli(q);
  } catch {
    return 0n;
  }
}

/**
 * What a pod uses, the way the API server's quota counts it: per resource, the larger of the
 * containers' sum (sidecars included) and the largest init container, plus the pod overhead.
 * Whole GPUs also count as whole devices of compute; a share counts its compute and memory.
 */
export function podUse(pod: Pod): Use {
  const spec = pod.spec ?? { containers: [] };
  const containers = (spec.containers ?? []) as Container[];
  const inits = ((spec as { initContainers?: Container[] }).initContainers ?? []) as Array<
    Container & { restartPolicy?: string }
  >;
  const sidecars = inits.filter((c) => c.restartPolicy === "Always");
  const plain = inits.filter((c) => c.restartPolicy !== "Always");
  const use: Use = { pods: 1000n };
  const resource = (kind: "requests" | "limits", name: string): bigint => {
    const of = (c: Container) => quantity(c.resources?.[kind]?.[name] ?? c.resources?.requests?.[name]);
    const running = [...containers, ...sidecars].reduce((s, c) => s + of(c), 0n);
    const init = plain.reduce((m, c) => larger(m, of(c)), 0n);
    const overhead = quantity((spec as { overhead?: Record<string, string> }).overhead?.[name]);
    return larger(running, init) + overhead;
  };
  add(use, "cpu", resource("requests", "cpu"));
  add(use, "memory", resource("requests", "memory"));
  add(use, "limits.cpu", resource("limits", "cpu"));
  add(use, "limits.memory", resource("limits", "memory"));
  const gpus = resource("requests", GPU);
  add(use, GPU, gpus);
  const annotations = pod.metadata.annotations ?? {};
  const percent = BigInt(Math.max(0, Math.ceil(Number(annotations[GPU_COMPUTE_ANNOTATION] ?? 0) || 0)));
  const mib = BigInt(Math.max(0, Math.ceil(Number(annotations[GPU_MEMORY_ANNOTATION] ?? 0) || 0)));
  add(use, "ai.centaurus.io/gpu-compute", gpus + percent * 10n);
  add(use, "ai.centaurus.io/gpu-memory", mib * MIB * 1000n);
  return use;
}

/** What a VirtualMachine uses itself (its launcher pod is charged as a pod). */
export function vmUse(): Use {
  return { virtualmachines: 1000n };
}

/** What a VPCAddress claim (one address of a pod's or VM's interface) uses. */
export function addressUse(): Use {
  return { "ip-addresses": 1000n };
}

/** Whether a pod still holds what it was charged (a finished pod holds nothing). */
export function podHolds(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed";
}

export function encodeUse(use: Use): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of LEDGER_KEYS) if (use[k]) out[k] = formatMilli(use[k] ?? 0n);
  return out;
}

export function decodeUse(text: Record<string, string> | undefined): Use {
  const out: Use = {};
  for (const [k, v] of Object.entries(text ?? {})) {
    const key = ledgerKey(k);
    if (key) add(out, key, quantity(v));
  }
  return out;
}

/** The sum of every charge. */
export function totalUse(charges: Readonly<Record<string, string>> | undefined): Use {
  const out: Use = {};
  for (const text of Object.values(charges ?? {})) {
    for (const [k, v] of Object.entries(decodeUse(decodeCharge(text).use))) add(out, k as LedgerKey, v);
  }
  return out;
}

/** The sum of two uses. */
export function plus(a: Use, b: Use): Use {
  const out: Use = { ...a };
  for (const [k, v] of Object.entries(b)) add(out, k as LedgerKey, v);
  return out;
}

/** spec.quota as milli-amounts per ledger key (keys the ledger does not count are left out). */
export function hardOf(quota: Record<string, string | number> | undefined): Use {
  const out: Use = {};
  for (const [k, v] of Object.entries(quota ?? {})) {
    const key = ledgerKey(k);
    if (key) out[key] = quantity(String(v));
  }
  return out;
}

export interface Exhausted {
  key: LedgerKey;
  requested: bigint;
  used: bigint;
  hard: bigint;
}

/** The limited keys that `request` would take past their hard limit (empty: it fits). */
export function exhausted(hard: Use, used: Use, request: Use): Exhausted[] {
  const out: Exhausted[] = [];
  for (const key of LEDGER_KEYS) {
    const limit = hard[key];
    const requested = request[key] ?? 0n;
    if (limit === undefined || requested === 0n) continue;
    const u = used[key] ?? 0n;
    if (u + requested > limit) out.push({ key, requested, used: u, hard: limit });
  }
  return out;
}

/**
 * The refusal, in the API server's own quota wording (so clients that recognise
 * "exceeded quota" keep working), naming the tenant and what is exhausted.
 */
export function refusal(tenant: string, quotaName: string, over: readonly Exhausted[]): string {
  const list = (f: (e: Exhausted) => bigint) => over.map((e) => `${e.key}=${formatMilli(f(e))}`).join(",");
  const left = over.map(
    (e) => `${humanQuantity(e.key, e.hard - e.used > 0n ? e.hard - e.used : 0n)} ${e.key}`,
  );
  return (
    `exceeded quota: ${quotaName}, requested: ${list((e) => e.requested)}, ` +
    `used: ${list((e) => e.used)}, limited: ${list((e) => e.hard)}; ` +
    `tenant ${tenant} has ${left.join(" and ")} left in all its namespaces together`
  );
}

/** Tenant status: used (every key in use or limited) and hard, as text. */
export function ledgerUsage(
  hard: Use,
  used: Use,
): { hard: Record<string, string>; used: Record<string, string> } {
  const h: Record<string, string> = {};
  const u: Record<string, string> = {};
  for (const key of LEDGER_KEYS) {
    if (hard[key] !== undefined) h[key] = formatMilli(hard[key] ?? 0n);
    if (hard[key] !== undefined || used[key]) u[key] = formatMilli(used[key] ?? 0n);
  }
  return { hard: h, used: u };
}

/** Object in the ledger: what the keeper reads of a live pod or VM. */
export interface Holder {
  uid: string;
  ref: string;
  use: Use;
}

/** What the keeper knows of the tenant's objects, from its caches. */
export interface Observed {
  /** Pods (not finished), VMs and address claims, by uid. */
  live: ReadonlyMap<string, Holder>;
  /** Uids seen deleted or finished: their charges go at once. */
  gone: ReadonlySet<string>;
}

/**
 * What the keeper changes (pure): charges of objects seen gone are dropped; live holders
 * without a charge are charged (adopted: made before the ledger existed, or while no webhook
 * guarded them); a charge of an object the caches do not know stays while younger than
 * `graceMs` (its object may not have reached the cache yet) and after that only if
 * `stillThere` says the API server holds it (otherwise its create failed after admission).
 */
export function reconcileCharges(
  charges: Readonly<Record<string, string>>,
  seen: Observed,
  now: number,
  graceMs: number,
  stillThere: ReadonlySet<string>,
): { charges: Record<string, string>; changed: boolean; pending: number } {
  const out: Record<string, string> = {};
  let changed = false;
  let pending = 0;
  for (const [uid, c] of Object.entries(charges)) {
    if (seen.gone.has(uid) && !seen.live.has(uid)) changed = true;
    else if (seen.live.has(uid) || stillThere.has(uid)) out[uid] = c;
    else if (now - Date.parse(decodeCharge(c).at) < graceMs) {
      out[uid] = c;
      pending++;
    } else changed = true;
  }
  for (const [uid, h] of seen.live) {
    if (out[uid]) continue;
    out[uid] = encodeCharge({ ref: h.ref, at: new Date(now).toISOString(), use: encodeUse(h.use) });
    changed = true;
  }
  return { charges: out, changed, pending };
}

/** Charges the caches cannot account for after the grace: the keeper asks the API server about each. */
export function unaccounted(
  charges: Readonly<Record<string, string>>,
  seen: Observed,
  now: number,
  graceMs: number,
): Array<[string, Charge]> {
  return Object.entries(charges)
    .filter(([uid]) => !seen.live.has(uid) && !seen.gone.has(uid))
    .map(([uid, text]): [string, Charge] => [uid, decodeCharge(text)])
    .filter(([, c]) => now - Date.parse(c.at) >= graceMs);
}
