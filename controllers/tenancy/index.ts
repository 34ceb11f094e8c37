// The "tenancy" module: the Tenant kind, its controller, admission policies and RBAC.

import { Resources } from "../../pkg/kube/resource.ts";
import type { ControllerModule, PolicyRule } from "../module.ts";
import { addressesInstalled, crdInstalled, VPC_ADDRESS_CRD } from "./addresses.ts";
import { TenantResource, tenantCRD, tenantLedgerCRD } from "./api.ts";
import { VIRTUAL_MACHINE_CRD } from "./informers.ts";
import { ledgerInformers, ledgerKeeper } from "./ledger-keeper.ts";
import { LedgerStore } from "./ledger-store.ts";
import {
  runtimeClassBinding,
  runtimeClassPolicy,
  tenantGuardBinding,
  tenantGuardPolicy,
  tenantLabelBinding,
  tenantLabelPolicy,
} from "./policies.ts";
import { quotaWebhook } from "./quota-webhook.ts";
import { tenantController } from "./reconcile.ts";

const rw = ["get", "list", "watch", "create", "update", "patch", "delete"];

export const tenancyRBAC: PolicyRule[] = [
  {
    apiGroups: ["tenancy.centaurus.io"],
    resources: ["tenants"],
    verbs: ["get", "list", "watch", "update", "patch"],
  },
  { apiGroups: ["tenancy.centaurus.io"], resources: ["tenants/status"], verbs: ["get", "update", "patch"] },
  // The quota ledgers (written by the webhook and the keeper) and the webhook's registration.
  { apiGroups: ["tenancy.centaurus.io"], resources: ["tenantledgers"], verbs: rw },
  {
    apiGroups: ["admissionregistration.k8s.io"],
    resources: ["validatingwebhookconfigurations"],
    verbs: ["get", "list", "watch", "create", "update", "patch"],
  },
  { apiGroups: [""], resources: ["namespaces"], verbs: rw },
  { apiGroups: [""], resources: ["resourcequotas", "limitranges"], verbs: rw },
  { apiGroups: [""], resources: ["resourcequotas/status"], verbs: ["get", "update", "patch"] },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: rw },
  // The tenant-admin Role grants what the manager itself need not hold: bind/escalate let it
  // write that Role and bind it without holding every permission in it.
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
    verbs: [...rw, "bind", "escalate"],
  },
  // Naming the objects a terminating namespace waits for (their finalizers) needs to list
  // whatever kinds the namespace controller reports as remaining.
  { apiGroups: ["*"], resources: ["*"], verbs: ["list"] },
  // The addresses each tenant holds, for its status, and its VMs, for its ledger (each when
  // that pillar is installed).
  { apiGroups: ["network.centaurus.io"], resources: ["vpcaddresses"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["compute.centaurus.io"], resources: ["virtualmachines"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: ["apiextensions.k8s.io"],
    resources: ["customresourcedefinitions"],
    verbs: ["get"],
    resourceNames: [VPC_ADDRESS_CRD, VIRTUAL_MACHINE_CRD],
  },
];

export const tenancyModule: ControllerModule = {
  name: "tenancy",
  crds: [tenantCRD, tenantLedgerCRD],
  manifests: [
    { resource: Resources.ValidatingAdmissionPolicy, object: tenantGuardPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: tenantGuardBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: runtimeClassPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: runtimeClassBinding },
    { resource: Resources.ValidatingAdmissionPolicy, object: tenantLabelPolicy },
    { resource: Resources.ValidatingAdmissionPolicyBinding, object: tenantLabelBinding },
  ],
  rbac: tenancyRBAC,
  async setup(manager, client) {
    const addresses = await addressesInstalled(client);
    manager.add(tenantController(client, { addresses }));
    // The tenant-wide quota: a ledger per tenant, charged at admission by the webhook (every
    // replica serves it) and kept equal to what runs by the keeper (the leader).
    // Ledger writes go through a pool of their own (KubeClient.withOwnPool says why).
    const ledgerClient = client.withOwnPool();
    const ledgers = new LedgerStore(ledgerClient);
    const informers = ledgerInformers(manager.factory, {
      vms: await crdInstalled(client, VIRTUAL_MACHINE_CRD),
    });
    manager.add(ledgerKeeper(client, ledgers, informers, manager.log));
    manager.webhooks.register(
      quotaWebhook({
        client: ledgerClient,
        ledgers,
        tenants: manager.factory.informerFor(TenantResource),
        namespaces: informers.namespaces,
      }),
    );
  },
};
