// Which GPUQueues a tenant's jobs may use (pure), and the admission policy that enforces it.
// A queue owned by a tenant serves only that tenant's namespaces, unless a cluster admin lists
// more tenants on it (spec.tenants) or marks it shared. Namespaces of no tenant are the
// cluster admins' own: any queue may be used there.

import type { KubeObject } from "../../pkg/kube/object.ts";
import { celAnnotation, celList, policyBinding } from "../shared/admission.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import { type GPUQueue, GROUP } from "./api.ts";

/** On each tenant namespace: the queues its GPUJobs may name, for the admission policy to read. */
export const ALLOWED_QUEUES_ANNOTATION = "ai.centaurus.io/allowed-queues";
export const QUEUE_ACCESS_POLICY = "centaurus-tenant-gpu-queues";

export function queueOpenTo(q: GPUQueue, tenant: string): boolean {
  if (q.metadata.deletionTimestamp) return false;
  return (
    (q.spec.owner.kind === "Tenant" && q.spec.owner.name === tenant) ||
    q.spec.shared === true ||
    (q.spec.tenants ?? []).includes(tenant)
  );
}

/** The queues a tenant's jobs may name, sorted. */
export function allowedQueues(tenant: string, queues: readonly GPUQueue[]): string[] {
  return queues
    .filter((q) => queueOpenTo(q, tenant))
    .map((q) => q.metadata.name ?? "")
    .sort();
}

const labels = { "app.kubernetes.io/part-of": "centaurus" };

/** A GPUJob in a tenant namespace must name a queue listed on its namespace (kept by the ai pillar). */
export const queueAccessPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: QUEUE_ACCESS_POLICY, labels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      namespaceSelector: { matchExpressions: [{ key: TENANT_LABEL, operator: "Exists" }] },
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["gpujobs"] },
      ],
    },
    variables: [
      {
        name: "allowed",
        expression: celList(celAnnotation("namespaceObject", ALLOWED_QUEUES_ANNOTATION)),
      },
    ],
    validations: [
      {
        expression:
          "(request.operation == 'UPDATE' && object.spec.queue == oldObject.spec.queue) || object.spec.queue in variables.allowed",
        messageExpression: `'GPUQueue ' + object.spec.queue + ' does not serve tenant ' + namespaceObject.metadata.labels['${TENANT_LABEL}'] + '; its jobs may use: ' + (size(variables.allowed) == 0 ? '(none)' : variables.allowed.join(', '))`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;

export const queueAccessBinding = policyBinding(QUEUE_ACCESS_POLICY, labels);
