// The roles a tenant's people get (pure builders): admins, members and viewers in each of its
// namespaces, and the cluster-scoped reader of the tenant's own Tenant. None of them may write
// what the operator alone writes (quota, network endpoints) or edit namespaces (their tenant,
// runtime-class and Pod Security labels are the tenant's boundary).

import type { PolicyRule } from "../module.ts";
import { GROUP } from "./api.ts";

const READ = ["get", "list", "watch"];
const ALL = ["*"];

/** Core kinds a workload is made of; Secrets are here: whoever can create a pod can read any Secret it mounts. */
const CORE_WORKLOAD = [
  "pods",
  "pods/log",
  "pods/exec",
  "pods/attach",
  "pods/portforward",
  "pods/ephemeralcontainers",
  "services",
  "services/proxy",
  "endpoints",
  "configmaps",
  "secrets",
  "persistentvolumeclaims",
  "replicationcontrollers",
  "replicationcontrollers/scale",
  "podtemplates",
];
const WORKLOAD_GROUPS = ["apps", "batch", "autoscaling", "compute.centaurus.io", "ai.centaurus.io"];
/** What the operator keeps and tenants only read. */
const OPERATOR_KEPT: PolicyRule[] = [
  {
    apiGroups: [""],
    resources: [
      "resourcequotas",
      "resourcequotas/status",
      "limitranges",
      "events",
      "namespaces",
      "namespaces/status",
    ],
    verbs: READ,
  },
  // VPCEndpoints are written by the network controller alone: a hand-made one would put a
  // forged address into the NodePrograms.
  { apiGroups: ["network.centaurus.io"], resources: ["*"], verbs: READ },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: READ },
];

/**
 * The tenant-admin Role: full control of namespaced workloads, configuration and RBAC inside
 * the namespace; read-only on what the operator keeps. Nothing here reaches cluster-scoped objects.
 */
export function tenantAdminRules(): PolicyRule[] {
  return [
    {
      apiGroups: [""],
      resources: [...CORE_WORKLOAD, "serviceaccounts", "serviceaccounts/token"],
      verbs: ALL,
    },
    ...OPERATOR_KEPT,
    {
      apiGroups: [
        ...WORKLOAD_GROUPS,
        "policy",
        "networking.k8s.io",
        "discovery.k8s.io",
        "coordination.k8s.io",
      ],
      resources: ALL,
      verbs: ALL,
    },
    { apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: ALL },
  ];
}

/** The tenant-member Role: workloads, VMs and GPU jobs (Secrets included), no RBAC, no policies. */
export function tenantMemberRules(): PolicyRule[] {
  return [
    { apiGroups: [""], resources: CORE_WORKLOAD, verbs: ALL },
    { apiGroups: [""], resources: ["serviceaccounts"], verbs: READ },
    ...OPERATOR_KEPT,
    { apiGroups: WORKLOAD_GROUPS, resources: ALL, verbs: ALL },
    { apiGroups: ["networking.k8s.io", "policy", "discovery.k8s.io"], resources: ALL, verbs: READ },
  ];
}

/** The tenant-viewer Role: reads everything a member can write except Secrets and pod sessions. */
export function tenantViewerRules(): PolicyRule[] {
  const readable = CORE_WORKLOAD.filter(
    (r) => r !== "secrets" && !/\/(exec|attach|portforward|proxy)$/.test(r),
  );
  return [
    { apiGroups: [""], resources: [...readable, "serviceaccounts"], verbs: READ },
    ...OPERATOR_KEPT,
    {
      apiGroups: [...WORKLOAD_GROUPS, "networking.k8s.io", "policy", "discovery.k8s.io"],
      resources: ALL,
      verbs: READ,
    },
  ];
}

/** Cluster-wide, only the tenant's own Tenant: read it, and change what the guard policy allows. */
export function tenantReaderRules(tenant: string): PolicyRule[] {
  return [
    {
      apiGroups: [GROUP],
      resources: ["tenants"],
      resourceNames: [tenant],
      verbs: ["get", "watch", "update", "patch"],
    },
    { apiGroups: [GROUP], resources: ["tenants/status"], resourceNames: [tenant], verbs: ["get"] },
  ];
}
