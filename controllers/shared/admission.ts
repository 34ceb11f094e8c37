// Pieces every pillar's ValidatingAdmissionPolicies are made of: the binding that enforces a
// policy (Deny), and CEL for reading a comma-separated list from an object's annotation (how
// the operator tells the API server which subnets or queues a tenant's namespace may use).

import type { KubeObject } from "../../pkg/kube/object.ts";

/** The binding that makes the API server deny what the named policy refuses. */
export function policyBinding(policyName: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: policyName, labels },
    spec: { policyName, validationActions: ["Deny"] },
  } as KubeObject;
}

/** CEL: the value of annotation `key` on `object` (e.g. namespaceObject), '' when absent. */
export function celAnnotation(object: string, key: string): string {
  return `(has(${object}.metadata.annotations) && '${key}' in ${object}.metadata.annotations ? ${object}.metadata.annotations['${key}'] : '')`;
}

/** CEL: a comma-separated string expression as a list of its non-empty, trimmed items. */
export function celList(text: string): string {
  return `${text}.split(',').map(s, s.trim()).filter(s, s != '')`;
}
