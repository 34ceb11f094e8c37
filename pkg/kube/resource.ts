// Describes a kind of resource well enough to build its REST paths, and carries the type of
// its objects so that informers, stores and clients built from it are typed without casts.

import type { ConfigMap, Namespace, NetworkPolicy, Node, Pod, Secret } from "./core.ts";
import type { KubeObject } from "./object.ts";

export interface ResourceType<T extends KubeObject = KubeObject> {
  /** "" for the core group. */
  group: string;
  version: string;
  /** Lower-case plural used in URLs, e.g. "configmaps". */
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Never set: names the object type T (a phantom, so ResourceType<Pod> is not a ResourceType<Node>). */
  readonly __object?: T;
}

/** A resource whose objects are of type T. */
export function defineResource<T extends KubeObject>(rt: Omit<ResourceType<T>, "__object">): ResourceType<T> {
  return rt;
}

export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** e.g. "configmaps" or "leases.coordination.k8s.io": unique per resource, used as a map key and in logs. */
export function resourceId(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function groupPrefix(rt: ResourceType): string {
  return rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
}

/** The collection path; without a namespace a namespaced resource is listed across all namespaces. */
export function collectionPath(rt: ResourceType, namespace?: string): string {
  const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${groupPrefix(rt)}${ns}/${rt.plural}`;
}

export function objectPath(rt: ResourceType, name: string, namespace?: string, subresource?: string): string {
  if (rt.namespaced && !namespace) throw new Error(`${rt.kind} ${name}: a namespace is required`);
  const sub = subresource ? `/${subresource}` : "";
  return `${collectionPath(rt, namespace)}/${encodeURIComponent(name)}${sub}`;
}

function core<T extends KubeObject = KubeObject>(
  plural: string,
  kind: string,
  namespaced = true,
): ResourceType<T> {
  return { group: "", version: "v1", plural, kind, namespaced };
}

/** Built-in resources the runtime and controllers use. */
export const Resources = {
  ConfigMap: core<ConfigMap>("configmaps", "ConfigMap"),
  Secret: core<Secret>("secrets", "Secret"),
  Namespace: core<Namespace>("namespaces", "Namespace", false),
  Pod: core<Pod>("pods", "Pod"),
  Node: core<Node>("nodes", "Node", false),
  Service: core("services", "Service"),
  ServiceAccount: core("serviceaccounts", "ServiceAccount"),
  ResourceQuota: core("resourcequotas", "ResourceQuota"),
  Lease: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  Event: { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
  Role: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "roles",
    kind: "Role",
    namespaced: true,
  },
  RoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    kind: "RoleBinding",
    namespaced: true,
  },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
  NetworkPolicy: defineResource<NetworkPolicy>({
    group: "networking.k8s.io",
    version: "v1",
    plural: "networkpolicies",
    kind: "NetworkPolicy",
    namespaced: true,
  }),
  ValidatingAdmissionPolicy: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingadmissionpolicies",
    kind: "ValidatingAdmissionPolicy",
    namespaced: false,
  },
  ValidatingWebhookConfiguration: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingwebhookconfigurations",
    kind: "ValidatingWebhookConfiguration",
    namespaced: false,
  },
  ValidatingAdmissionPolicyBinding: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingadmissionpolicybindings",
    kind: "ValidatingAdmissionPolicyBinding",
    namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;
