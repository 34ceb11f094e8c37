// What a Tenant should own, as objects (pure): namespaces, per-namespace RBAC, isolation
// policy and defaults, and the cluster-scoped role that lets its admins read their Tenant.

import type { KubeObject } from "../../pkg/kube/object.ts";
import { controllerReference } from "../../pkg/kube/object.ts";
import {
  DEFAULT_POD_SECURITY,
  namespaceName,
  RUNTIME_CLASS_LABEL_PREFIX,
  RUNTIME_RESTRICTED_LABEL,
  SHORT_NAME_LABEL,
  type Subject,
  shortNames,
  TENANT_LABEL,
  type Tenant,
} from "./api.ts";
import { ALLOWED_RUNTIME_CLASSES_ANNOTATION } from "./policies.ts";
import { tenantAdminRules, tenantMemberRules, tenantReaderRules, tenantViewerRules } from "./roles.ts";

export const TENANT_ADMIN_ROLE = "tenant-admin";
export const TENANT_MEMBER_ROLE = "tenant-member";
export const TENANT_VIEWER_ROLE = "tenant-viewer";
const PSA = "pod-security.kubernetes.io";

/**
 * Pod Security Admission labels: the level is enforced (and warned and audited) by the API
 * server itself; tenant admins cannot edit namespaces, so they cannot lower it.
 */
export function podSecurityLabels(t: Tenant): Record<string, string> {
  const level = t.spec.podSecurity ?? DEFAULT_POD_SECURITY;
  return {
    [`${PSA}/enforce`]: level,
    [`${PSA}/enforce-version`]: "latest",
    [`${PSA}/warn`]: level,
    [`${PSA}/audit`]: level,
  };
}
export const ISOLATION_POLICY = "tenant-isolation";
export const DEFAULTS_LIMIT_RANGE = "tenant-defaults";

function owner(t: Tenant) {
  return controllerReference({ ...t, apiVersion: "tenancy.centaurus.io/v1alpha1", kind: "Tenant" });
}

function tenantName(t: Tenant): string {
  return t.metadata.name ?? "";
}

export function desiredNamespaces(t: Tenant): KubeObject[] {
  const name = tenantName(t);
  const allowed = [...(t.spec.allowedRuntimeClasses ?? [])].sort();
  return shortNames(t.spec).map((short) => {
    const labels: Record<string, string> = {
      [TENANT_LABEL]: name,
      [SHORT_NAME_LABEL]: short,
      ...podSecurityLabels(t),
    };
    const annotations: Record<string, string> = {};
    if (allowed.length > 0) {
      labels[RUNTIME_RESTRICTED_LABEL] = "true";
      for (const rc of allowed) labels[`${RUNTIME_CLASS_LABEL_PREFIX}${rc}`] = "allowed";
      annotations[ALLOWED_RUNTIME_CLASSES_ANNOTATION] = allowed.join(", ");
    }
    return {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespaceName(name, short), labels, annotations, ownerReferences: [owner(t)] },
    };
  });
}

/** Objects inside one namespace of the tenant (not the quota: that one is kept by quota writes). */
export function desiredNamespacedObjects(
  t: Tenant,
  namespace: string,
): Record<string, KubeObject | undefined> {
  const name = tenantName(t);
  const labels = { [TENANT_LABEL]: name };
  const meta = (n: string) => ({ name: n, namespace, labels, ownerReferences: [owner(t)] });
  const quota = t.spec.quota ?? {};
  const defaults: Record<string, string> = {};
  if ("cpu" in quota || "requests.cpu" in quota) defaults.cpu = "100m";
  if ("memory" in quota || "requests.memory" in quota) defaults.memory = "128Mi";
  const role = (n: string, rules: unknown) =>
    ({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: meta(n), rules }) as KubeObject;
  const binding = (n: string, who: Subject[] | undefined) =>
    ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(n),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: n },
      subjects: subjects(who),
    }) as KubeObject;
  return {
    role: role(TENANT_ADMIN_ROLE, tenantAdminRules()),
    roleBinding: binding(TENANT_ADMIN_ROLE, t.spec.admins),
    memberRole: role(TENANT_MEMBER_ROLE, tenantMemberRules()),
    memberBinding: binding(TENANT_MEMBER_ROLE, t.spec.members),
    viewerRole: role(TENANT_VIEWER_ROLE, tenantViewerRules()),
    viewerBinding: binding(TENANT_VIEWER_ROLE, t.spec.viewers),
    networkPolicy: {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta(ISOLATION_POLICY),
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        // Traffic from the tenant's own namespaces only: other tenants are denied by default.
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { [TENANT_LABEL]: name } } }] }],
      },
    } as KubeObject,
    // With cpu or memory in the quota the API server refuses pods without requests; give
    // containers that name none a small default so ordinary manifests keep working.
    limitRange:
      Object.keys(defaults).length > 0
        ? ({
            apiVersion: "v1",
            kind: "LimitRange",
            metadata: meta(DEFAULTS_LIMIT_RANGE),
            spec: { limits: [{ type: "Container", defaultRequest: defaults, default: defaults }] },
          } as KubeObject)
        : undefined,
  };
}

function subjects(who: Subject[] | undefined) {
  return (who ?? []).map((s) => ({
    apiGroup: "rbac.authorization.k8s.io",
    kind: s.kind,
    name: s.name,
  }));
}

export function clusterRoleName(tenant: string): string {
  return `centaurus-tenant-${tenant}`;
}

export function desiredClusterObjects(t: Tenant): {
  clusterRole: KubeObject;
  clusterRoleBinding: KubeObject;
} {
  const name = tenantName(t);
  const metadata = {
    name: clusterRoleName(name),
    labels: { [TENANT_LABEL]: name },
    ownerReferences: [owner(t)],
  };
  return {
    clusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata,
      rules: tenantReaderRules(name),
    } as KubeObject,
    clusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRoleName(name) },
      subjects: subjects(t.spec.admins),
    } as KubeObject,
  };
}

/**
 * Whether `actual` already holds everything `desired` says (fields the server defaults or
 * other managers add are ignored; arrays must match element by element).
 */
export function covers(actual: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  // The server drops empty lists and maps: absent and empty are the same.
  if (
    actual === undefined &&
    typeof desired === "object" &&
    desired !== null &&
    Object.keys(desired).length === 0
  )
    return true;
  if (desired === null || typeof desired !== "object") return actual === desired;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      actual.length === desired.length &&
      desired.every((d, i) => covers(actual[i], d))
    );
  }
  if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => covers(a[k], v));
}
