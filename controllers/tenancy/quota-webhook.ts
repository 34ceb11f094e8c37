// The tenant quota at admission: a validating webhook the operator serves. Every pod and
// VirtualMachine created in a tenant's namespace is charged to the tenant's ledger before the
// API server stores it, or refused when it would pass a limit (ledger.ts says why that is
// exact). failurePolicy Fail: while no operator answers, creates in tenant namespaces are
// refused, never let through uncounted.

import type { Informer } from "../../pkg/cache/informer.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { AdmissionRequest, AdmissionVerdict, Webhook } from "../../pkg/webhook/server.ts";
import { quotaName, TENANT_LABEL, type Tenant } from "./api.ts";
import {
  addressUse,
  type Charge,
  encodeCharge,
  encodeUse,
  exhausted,
  hardOf,
  plus,
  podUse,
  refusal,
  totalUse,
  type Use,
  vmUse,
} from "./ledger.ts";
import type { LedgerStore } from "./ledger-store.ts";

export const QUOTA_WEBHOOK = "quota.tenancy.centaurus.io";

export interface QuotaWebhookDeps {
  client: KubeClient;
  ledgers: LedgerStore;
  tenants: Informer<Tenant>;
  namespaces: Informer<KubeObject>;
}

/** A refusal raised inside a ledger change (it ends the change without a write). */
class Refused extends Error {}

/** Sums of charges objects this process has seen (weak: they go with the ledgers). */
const sums = new WeakMap<object, Use>();

export function quotaWebhook(deps: QuotaWebhookDeps): Webhook {
  return {
    name: QUOTA_WEBHOOK,
    rules: [
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["pods"],
        operations: ["CREATE"],
        scope: "Namespaced",
      },
      {
        apiGroups: ["compute.centaurus.io"],
        apiVersions: ["*"],
        resources: ["virtualmachines"],
        operations: ["CREATE"],
        scope: "Namespaced",
      },
      // Address claims are cluster-scoped (the namespace selector does not apply to them) and
      // written by the operator only, labelled with the tenant of the pod's namespace.
      {
        apiGroups: ["network.centaurus.io"],
        apiVersions: ["*"],
        resources: ["vpcaddresses"],
        operations: ["CREATE"],
        scope: "Cluster",
      },
    ],
    namespaceSelector: { matchExpressions: [{ key: TENANT_LABEL, operator: "Exists" }] },
    failurePolicy: "Fail",
    sideEffects: "NoneOnDryRun",
    timeoutSeconds: 10,
    handle: (req) => admit(deps, req),
  };
}

async function tenantOf(deps: QuotaWebhookDeps, req: AdmissionRequest): Promise<string | undefined> {
  const namespace = req.namespace;
  if (!namespace) return req.object?.metadata.labels?.[TENANT_LABEL];
  const cached = deps.namespaces.store.get(namespace);
  if (cached) return cached.metadata.labels?.[TENANT_LABEL];
  // Not in the cache yet (just created): the API server knows.
  const ns = await deps.client.get(Resources.Namespace, namespace);
  return ns.metadata.labels?.[TENANT_LABEL];
}

/** What the object uses, by its kind. */
function useOf(req: AdmissionRequest): Use | undefined {
  const obj = req.object;
  if (!obj) return undefined;
  if (req.resource.resource === "pods") return podUse(obj as Pod);
  if (req.resource.resource === "virtualmachines") return vmUse();
  if (req.resource.resource === "vpcaddresses") return addressUse();
  return undefined;
}

async function admit(deps: QuotaWebhookDeps, req: AdmissionRequest): Promise<AdmissionVerdict> {
  const namespace = req.namespace ?? "";
  const use = useOf(req);
  if (req.operation !== "CREATE" || !use || !req.object) return { allowed: true };
  // An address claim of no tenant is not ours to count.
  if (!req.namespace && !req.object.metadata.labels?.[TENANT_LABEL]) return { allowed: true };
  if (!deps.tenants.hasSynced() || !deps.namespaces.hasSynced()) {
    return {
      allowed: false,
      code: 503,
      message: "the operator is starting and cannot count tenant quota yet; retry",
    };
  }
  const tenant = await tenantOf(deps, req);
  if (!tenant) return { allowed: true };
  const t = deps.tenants.store.get(tenant);
  if (!t) {
    return {
      allowed: false,
      message: `namespace ${namespace} is labelled for tenant ${tenant}, which does not exist; a cluster admin must fix the label`,
    };
  }
  const hard = hardOf(t.spec.quota);
  const uid = req.object.metadata.uid ?? "";
  const name = req.object.metadata.name ?? req.name ?? "";
  const charge: Charge = {
    ref: `${req.resource.resource}/${namespace}/${name}`,
    at: new Date().toISOString(),
    use: encodeUse(use),
  };
  // The sum of the charges, remembered per charges object: in a batch each change sees the
  // one before it, so the sum is carried forward instead of recounted from a thousand lines.
  const usedBy = (charges: Readonly<Record<string, string>> | undefined) => {
    const known = charges ? sums.get(charges) : undefined;
    if (known) return known;
    const total = totalUse(charges);
    if (charges) sums.set(charges, total);
    return total;
  };
  const decide = (charges: Readonly<Record<string, string>> | undefined) => {
    const used = usedBy(charges);
    const over = exhausted(hard, used, use);
    if (over.length) throw new Refused(refusal(tenant, quotaName(tenant), over));
    return used;
  };
  try {
    if (req.dryRun) {
      const ledger = await deps.ledgers.read(tenant);
      if (!ledger) return notReady(tenant);
      decide(ledger.spec.charges);
      return { allowed: true };
    }
    const written = await deps.ledgers.update(tenant, (ledger) => {
      const charges = ledger.spec.charges ?? {};
      // The API server may call again for the same object (a retried request): charged once.
      if (uid && charges[uid]) return undefined;
      const used = decide(charges);
      const next = { ...charges, [uid || `${charge.ref}@${charge.at}`]: encodeCharge(charge) };
      sums.set(next, plus(used, use));
      return { ...ledger, spec: { ...ledger.spec, charges: next } };
    });
    if (!written) return notReady(tenant);
    return { allowed: true };
  } catch (err) {
    if (err instanceof Refused) return { allowed: false, message: err.message };
    throw err;
  }
}

function notReady(tenant: string): AdmissionVerdict {
  return {
    allowed: false,
    code: 503,
    message: `tenant ${tenant}'s quota ledger does not exist yet (the operator creates it while provisioning the tenant); retry in a moment`,
  };
}
