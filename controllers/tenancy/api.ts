// The Tenant kind (tenancy.centaurus.io/v1alpha1, cluster-scoped): types and schema in one place.

import { CONDITIONS_SCHEMA, type CRDSpec, type JSONSchema, resourceTypeOf } from "../../pkg/kube/crd.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import { QUOTA_KEYS, type TenantLedger } from "./ledger.ts";

export const GROUP = "tenancy.centaurus.io";
/** On namespaces and on everything a tenant owns. */
export { TENANT_LABEL } from "../shared/tenant.ts";
/** On a tenant's namespaces: the short name inside the tenant ("default", "web", ...). */
export const SHORT_NAME_LABEL = "tenancy.centaurus.io/namespace";
/** On namespaces whose tenant restricts runtime classes; the allowed ones are labelled below. */
export const RUNTIME_RESTRICTED_LABEL = "tenancy.centaurus.io/runtime-classes-restricted";
/** `runtimeclass.tenancy.centaurus.io/<name>: allowed` on the namespace for each allowed class. */
export const RUNTIME_CLASS_LABEL_PREFIX = "runtimeclass.tenancy.centaurus.io/";
export const TENANT_FINALIZER = "tenancy.centaurus.io/cleanup";
export const DEFAULT_NAMESPACE = "default";
export const QUOTA_SUFFIX = "quota";

export interface Subject {
  kind: "User" | "Group";
  name: string;
}

/** Pod Security Admission levels a Tenant may ask for (enforced on each of its namespaces). */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";
export const DEFAULT_POD_SECURITY: PodSecurityLevel = "baseline";

export interface TenantSpec {
  admins?: Subject[];
  /** Create and manage workloads, VMs and GPU jobs in every namespace of the tenant; no RBAC. */
  members?: Subject[];
  /** Read-only in every namespace of the tenant (Secrets excepted). */
  viewers?: Subject[];
  /** The Pod Security Admission level enforced on the tenant's namespaces (default baseline). */
  podSecurity?: PodSecurityLevel;
  namespaces?: string[];
  /** Tenant-wide hard limits (ledger.ts LEDGER_KEYS): cpu, memory, pods, virtualmachines, GPUs, GPU shares. */
  quota?: Record<string, string | number>;
  allowedRuntimeClasses?: string[];
  network?: { vpcCIDR?: string; subnetCIDR?: string };
}

export type TenantPhase = "Active" | "Terminating";

export interface TenantStatus {
  phase?: TenantPhase;
  namespaces?: string[];
  hard?: Record<string, string>;
  used?: Record<string, string>;
  /** used/hard per quota key in human units, one line for `kubectl get tenants`. */
  usage?: string;
  /** While terminating: what deletion still waits for. */
  waitingFor?: string[];
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface Tenant extends KubeObject {
  spec: TenantSpec;
  status?: TenantStatus;
}

const dnsLabel = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/**
 * A short namespace name has no hyphen: "<tenant>-<short>" then splits at its last hyphen into
 * exactly one (tenant, short), so two tenants can never ask for the same namespace.
 */
const shortNamePattern = "^[a-z0-9]+$";
const subjectList = (description: string): JSONSchema => ({
  type: "array",
  description,
  items: {
    type: "object",
    required: ["kind", "name"],
    properties: {
      kind: { type: "string", enum: ["User", "Group"] },
      name: { type: "string", minLength: 1 },
    },
  },
});
const quantityMap: JSONSchema = {
  type: "object",
  additionalProperties: {
    "x-kubernetes-int-or-string": true,
    anyOf: [{ type: "integer" }, { type: "string" }],
    pattern:
      "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
  },
};
const stringMap: JSONSchema = { type: "object", additionalProperties: { type: "string" } };

export const tenantCRD: CRDSpec = {
  group: GROUP,
  kind: "Tenant",
  plural: "tenants",
  shortNames: ["tn"],
  namespaced: false,
  validations: [
    {
      rule: `size(self.metadata.name) <= 30 && self.metadata.name.matches('${dnsLabel}')`,
      message: "a tenant name is a DNS label of at most 30 characters (its namespaces are <tenant>-<name>)",
    },
  ],
  spec: {
    type: "object",
    properties: {
      admins: subjectList("RBAC subjects bound to the tenant-admin role in every namespace of the tenant."),
      members: subjectList(
        "Bound to the tenant-member role in every namespace: workloads, VMs and GPU jobs; no RBAC.",
      ),
      viewers: subjectList("Bound to the tenant-viewer role in every namespace: read-only, no Secrets."),
      podSecurity: {
        type: "string",
        enum: ["privileged", "baseline", "restricted"],
        default: DEFAULT_POD_SECURITY,
        description:
          "Pod Security Admission level enforced on the tenant's namespaces (set by cluster admins).",
      },
      namespaces: {
        type: "array",
        description:
          "Short names of the tenant's namespaces, created as <tenant>-<name>; 'default' always exists. No hyphens, so no two tenants' namespace names can collide.",
        maxItems: 100,
        "x-kubernetes-list-type": "set",
        items: {
          type: "string",
          maxLength: 32,
          "x-kubernetes-validations": [
            {
              rule: `self.matches('${shortNamePattern}')`,
              message:
                "a namespace short name is lowercase letters and digits, no hyphens (<tenant>-<name> must name one tenant's namespace only)",
            },
          ],
        },
      },
      quota: {
        ...quantityMap,
        maxProperties: 20,
        description: `Tenant-wide hard limits over all of its namespaces, enforced at admission by the operator: ${QUOTA_KEYS.join(", ")}.`,
        "x-kubernetes-validations": [
          {
            rule: `self.all(k, k in [${QUOTA_KEYS.map((k) => `'${k}'`).join(", ")}])`,
            message: `quota keys are ${QUOTA_KEYS.join(", ")}`,
          },
        ],
      },
      allowedRuntimeClasses: {
        type: "array",
        description: "When set, pods and VMs in the tenant must name one of these runtime classes.",
        "x-kubernetes-list-type": "set",
        items: { type: "string", maxLength: 30, pattern: dnsLabel },
      },
      network: {
        type: "object",
        description: "Network defaults, consumed by the network controller.",
        properties: {
          vpcCIDR: {
            type: "string",
            "x-kubernetes-validations": [
              { rule: "isCIDR(self)", message: "vpcCIDR must be a CIDR, e.g. 10.0.0.0/16" },
            ],
          },
          subnetCIDR: {
            type: "string",
            description: "The default subnet inside vpcCIDR (default: all of vpcCIDR).",
            "x-kubernetes-validations": [
              { rule: "isCIDR(self)", message: "subnetCIDR must be a CIDR, e.g. 10.0.1.0/24" },
            ],
          },
        },
      },
    },
  },
  status: {
    type: "object",
    properties: {
      phase: { type: "string", enum: ["Active", "Terminating"] },
      namespaces: { type: "array", items: { type: "string" } },
      hard: stringMap,
      used: stringMap,
      usage: { type: "string" },
      waitingFor: { type: "array", items: { type: "string" } },
      conditions: CONDITIONS_SCHEMA,
      observedGeneration: { type: "integer" },
    },
  },
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Used/Hard", type: "string", jsonPath: ".status.usage" },
    { name: "Namespaces", type: "string", jsonPath: ".status.namespaces", priority: 1 },
  ],
};

export const TenantResource: ResourceType<Tenant> = resourceTypeOf(tenantCRD);

/**
 * TenantLedger (cluster-scoped, one per tenant, named like it, owned by it): a charge per live
 * pod and VM of the tenant, written by the operator's admission webhook and ledger keeper
 * alone (ledger.ts says why it is exact). Tenants cannot read or write it; their Tenant's
 * status shows the sums.
 */
export const tenantLedgerCRD: CRDSpec = {
  group: GROUP,
  kind: "TenantLedger",
  plural: "tenantledgers",
  namespaced: false,
  spec: {
    type: "object",
    properties: {
      charges: {
        type: "object",
        description:
          'By object uid, what admission charged to the tenant for it: "<resource>/<namespace>/<name> <time charged> <key>=<amount>,...".',
        additionalProperties: { type: "string" },
      },
    },
  },
  printerColumns: [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
};

export const TenantLedgerResource: ResourceType<TenantLedger> = resourceTypeOf(tenantLedgerCRD);

export const LimitRangeResource: ResourceType = {
  group: "",
  version: "v1",
  plural: "limitranges",
  kind: "LimitRange",
  namespaced: true,
};
/** The namespace a short name maps to. */
export function namespaceName(tenant: string, short: string): string {
  return `${tenant}-${short}`;
}

/** The short names a tenant should have: its list plus "default", sorted, unique. */
export function shortNames(spec: TenantSpec): string[] {
  return [...new Set([DEFAULT_NAMESPACE, ...(spec.namespaces ?? [])])].sort();
}

export function quotaName(tenant: string): string {
  return `tenant-${tenant}-${QUOTA_SUFFIX}`;
}
