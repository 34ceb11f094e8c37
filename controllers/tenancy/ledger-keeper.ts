// The ledger keeper (thin): per tenant, creates the TenantLedger (charging what already runs)
// and keeps it equal to what lives: charges of pods that finished or went and VMs that went
// are dropped, a charge whose create failed after admission is dropped after a grace, and
// anything that runs uncharged is charged. The decisions are ledger.ts's reconcileCharges.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer } from "../../pkg/cache/informer.ts";
import { NAMESPACE_INDEX } from "../../pkg/cache/store.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { anyOf, createdOnly, deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { addressesWatch, VPCAddressResource } from "./addresses.ts";
import { TENANT_LABEL, type Tenant, TenantLedgerResource, TenantResource } from "./api.ts";
import { LEDGER_POD_INFORMER, TENANT_INDEX, TENANT_OWNED_INFORMER, VirtualMachineKind } from "./informers.ts";
import {
  addressUse,
  type Charge,
  encodeCharge,
  encodeUse,
  type Holder,
  type Observed,
  podHolds,
  podUse,
  reconcileCharges,
  type TenantLedger,
  unaccounted,
  vmUse,
} from "./ledger.ts";
import type { LedgerStore } from "./ledger-store.ts";

/** How long a charge may wait for its object to reach the cache before the API server is asked. */
export const CHARGE_GRACE_MS = 10_000;
/** How long a deleted uid is remembered (longer than any grace). */
const GONE_TTL_MS = 10 * 60_000;

/** The caches the keeper (and the webhook) read, made once from the manager's factory. */
export interface LedgerInformers {
  namespaces: Informer<KubeObject>;
  pods: Informer<Pod>;
  vms?: Informer<KubeObject>;
  addresses?: Informer<KubeObject>;
}

/**
 * vms, addresses: charge VirtualMachines and VPCAddress claims too (each only when that
 * pillar's kinds are installed).
 */
export function ledgerInformers(
  factory: SharedInformerFactory,
  opts: { vms?: boolean; addresses?: boolean },
): LedgerInformers {
  return {
    namespaces: factory.informerFor(Resources.Namespace, TENANT_OWNED_INFORMER),
    pods: factory.informerFor<Pod>(Resources.Pod, LEDGER_POD_INFORMER as never),
    ...(opts.vms ? { vms: factory.informerFor(VirtualMachineKind) } : {}),
    ...(opts.addresses ? { addresses: factory.informerFor(VPCAddressResource, TENANT_OWNED_INFORMER) } : {}),
  };
}

export function ledgerKeeper(
  client: KubeClient,
  ledgers: LedgerStore,
  inf: LedgerInformers,
  logger?: Logger,
): Controller {
  // Uids seen deleted (a finished pod leaves LEDGER_POD_INFORMER's selection: deleted too).
  const gone = new Map<string, number>();
  const remember = { onDelete: (o: KubeObject) => o.metadata.uid && gone.set(o.metadata.uid, Date.now()) };
  inf.pods.addEventHandler(remember);
  inf.vms?.addEventHandler(remember);
  inf.addresses?.addEventHandler(remember);
  // Pods and VMs map to the tenant of their namespace.
  const byNamespace = (o: KubeObject) => [
    o.metadata.namespace
      ? inf.namespaces.store.get(o.metadata.namespace)?.metadata.labels?.[TENANT_LABEL]
      : undefined,
  ];
  const holderWatch = (resource: ResourceType, informer?: object) =>
    watch({
      resource,
      ...(informer ? { informer } : {}),
      map: byNamespace,
      predicate: anyOf(createdOnly, deletedOnly),
      delayMs: 200,
    });
  return new Controller({
    name: "tenant-ledger",
    for: TenantResource,
    owns: [{ resource: TenantLedgerResource, informer: TENANT_OWNED_INFORMER, predicate: deletedOnly }],
    watches: [
      holderWatch(Resources.Pod, LEDGER_POD_INFORMER),
      ...(inf.vms ? [holderWatch(VirtualMachineKind)] : []),
      // Address claims carry the tenant's label (written by the operator from the namespace).
      ...(inf.addresses ? [addressesWatch(200)] : []),
    ],
    concurrency: 4,
    logger,
    reconcile: async (req, ctx) => {
      const t = ctx.cache.informerFor(TenantResource).store.get(req.name) as Tenant | undefined;
      if (!t || t.metadata.deletionTimestamp) return undefined;
      const now = Date.now();
      for (const [uid, at] of gone) if (now - at > GONE_TTL_MS) gone.delete(uid);
      const seen = observe(inf, req.name, gone);
      const ledger = await ledgers.read(req.name);
      if (!ledger) {
        await ledgers.create(newLedger(t, seen.live, now));
        return undefined;
      }
      const stale = unaccounted(ledger.spec.charges ?? {}, seen, now, CHARGE_GRACE_MS);
      const stillThere = await holdersStillThere(client, stale);
      let pending = 0;
      await ledgers.update(req.name, (l) => {
        const r = reconcileCharges(l.spec.charges ?? {}, seen, Date.now(), CHARGE_GRACE_MS, stillThere);
        pending = r.pending;
        return r.changed ? { ...l, spec: { charges: r.charges } } : undefined;
      });
      return pending > 0 ? { requeueAfterMs: CHARGE_GRACE_MS } : undefined;
    },
  });
}

/** The tenant's live pods and VMs, and what was seen to go (from the caches). */
function observe(inf: LedgerInformers, tenant: string, gone: ReadonlyMap<string, number>): Observed {
  const live = new Map<string, Holder>();
  for (const ns of inf.namespaces.store.byIndex(TENANT_INDEX, tenant)) {
    const name = ns.metadata.name ?? "";
    for (const p of inf.pods.store.byIndex(NAMESPACE_INDEX, name)) {
      if (!p.metadata.uid || !podHolds(p)) continue;
      live.set(p.metadata.uid, {
        uid: p.metadata.uid,
        ref: `pods/${name}/${p.metadata.name}`,
        use: podUse(p),
      });
    }
    for (const vm of inf.vms?.store.byIndex(NAMESPACE_INDEX, name) ?? []) {
      if (!vm.metadata.uid) continue;
      live.set(vm.metadata.uid, {
        uid: vm.metadata.uid,
        ref: `virtualmachines/${name}/${vm.metadata.name}`,
        use: vmUse(),
      });
    }
  }
  for (const a of inf.addresses?.store.byIndex(TENANT_INDEX, tenant) ?? []) {
    if (!a.metadata.uid) continue;
    live.set(a.metadata.uid, {
      uid: a.metadata.uid,
      ref: `vpcaddresses//${a.metadata.name}`,
      use: addressUse(),
    });
  }
  return { live, gone: new Set(gone.keys()) };
}

function newLedger(t: Tenant, live: ReadonlyMap<string, Holder>, now: number): TenantLedger {
  const charges: Record<string, string> = {};
  const at = new Date(now).toISOString();
  for (const [uid, h] of live) charges[uid] = encodeCharge({ ref: h.ref, at, use: encodeUse(h.use) });
  return {
    apiVersion: "tenancy.centaurus.io/v1alpha1",
    kind: "TenantLedger",
    metadata: {
      name: t.metadata.name,
      labels: { [TENANT_LABEL]: t.metadata.name ?? "" },
      ownerReferences: [
        controllerReference({ ...t, apiVersion: "tenancy.centaurus.io/v1alpha1", kind: "Tenant" }),
      ],
    },
    spec: { charges },
  };
}

/** The kinds a charge's ref may name, by resource. */
const HOLDER_KINDS: Record<string, ResourceType> = {
  pods: Resources.Pod,
  virtualmachines: VirtualMachineKind,
  vpcaddresses: VPCAddressResource,
};

/** The uids among `stale` whose object the API server still has, unfinished (a lagging cache). */
async function holdersStillThere(
  client: KubeClient,
  stale: ReadonlyArray<[string, Charge]>,
): Promise<Set<string>> {
  const there = new Set<string>();
  await Promise.all(
    stale.map(async ([uid, c]) => {
      const [resource, namespace, name] = c.ref.split("/");
      const rt = HOLDER_KINDS[resource ?? ""];
      if (!rt || !name || (rt.namespaced && !namespace)) return;
      try {
        const o = await client.get<Pod>(rt, name, rt.namespaced ? namespace : undefined);
        if (o.metadata.uid === uid && (resource !== "pods" || podHolds(o))) there.add(uid);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }),
  );
  return there;
}
