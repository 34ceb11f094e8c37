// Cluster objects the tenancy module installs: admission policies the API server enforces
// (not the controller hoping), and the per-tenant RBAC shapes (pure builders).

import type { KubeObject } from "../../pkg/kube/object.ts";
import { policyBinding } from "../shared/admission.ts";
import { GROUP, RUNTIME_CLASS_LABEL_PREFIX, RUNTIME_RESTRICTED_LABEL, TENANT_LABEL } from "./api.ts";

const chartLabels = { "app.kubernetes.io/name": "centaurus", "app.kubernetes.io/part-of": "centaurus" };
export const ALLOWED_RUNTIME_CLASSES_ANNOTATION = "tenancy.centaurus.io/allowed-runtime-classes";

export const TENANT_GUARD_POLICY = "centaurus-tenant-admin-guard";
export const RUNTIME_CLASS_POLICY = "centaurus-tenant-runtime-classes";
export const TENANT_LABEL_POLICY = "centaurus-tenant-label";

/** Equality of one spec field between the old and new Tenant, absent == absent. */
function unchanged(field: string, empty: string): string {
  return `(has(object.spec.${field}) ? object.spec.${field} : ${empty}) == (has(oldObject.spec.${field}) ? oldObject.spec.${field} : ${empty})`;
}

/**
 * Tenant admins hold update/patch on their own Tenant (RBAC, by resourceName) so they can
 * change its namespace list; this policy lets only those who may "manage" tenants (cluster
 * admins: a custom verb nobody is granted by a tenant role) change quota, admins, runtime
 * classes or network.
 */
export const tenantGuardPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: TENANT_GUARD_POLICY, labels: chartLabels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ["*"], operations: ["UPDATE"], resources: ["tenants"] },
      ],
    },
    variables: [
      {
        name: "manager",
        expression: `authorizer.group('${GROUP}').resource('tenants').name(object.metadata.name).check('manage').allowed()`,
      },
    ],
    validations: [
      {
        expression: `variables.manager || (${unchanged("quota", "{}")} && ${unchanged("admins", "[]")} && ${unchanged("allowedRuntimeClasses", "[]")} && ${unchanged("network", "{}")} && ${unchanged("podSecurity", "'baseline'")})`,
        messageExpression: `'tenant admins may change only spec.namespaces, members and viewers of Tenant ' + object.metadata.name + '; quota, admins, allowedRuntimeClasses, network and podSecurity are set by cluster admins (user ' + request.userInfo.username + ' may not manage tenants)'`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;

export const tenantGuardBinding = policyBinding(TENANT_GUARD_POLICY, chartLabels);

/**
 * Pods and VMs in a namespace whose tenant restricts runtime classes must name an allowed
 * one. The controller labels each namespace (RUNTIME_RESTRICTED_LABEL, one label per allowed
 * class) — tenant admins cannot edit namespaces, so the labels are trustworthy.
 */
export const runtimeClassPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: RUNTIME_CLASS_POLICY, labels: chartLabels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      namespaceSelector: { matchLabels: { [RUNTIME_RESTRICTED_LABEL]: "true" } },
      resourceRules: [
        { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] },
        {
          apiGroups: ["compute.centaurus.io"],
          apiVersions: ["*"],
          operations: ["CREATE", "UPDATE"],
          resources: ["virtualmachines"],
        },
      ],
    },
    validations: [
      {
        expression: `has(object.spec.runtimeClassName) && ('${RUNTIME_CLASS_LABEL_PREFIX}' + object.spec.runtimeClassName) in namespaceObject.metadata.labels`,
        messageExpression: `'runtime class ' + (has(object.spec.runtimeClassName) ? '"' + object.spec.runtimeClassName + '"' : '(none)') + ' is not allowed in tenant ' + namespaceObject.metadata.labels['${TENANT_LABEL}'] + '; allowed runtime classes: ' + (has(namespaceObject.metadata.annotations) && '${ALLOWED_RUNTIME_CLASSES_ANNOTATION}' in namespaceObject.metadata.annotations ? namespaceObject.metadata.annotations['${ALLOWED_RUNTIME_CLASSES_ANNOTATION}'] : '(none)')`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;

export const runtimeClassBinding = policyBinding(RUNTIME_CLASS_POLICY, chartLabels);

const nsTenant = `namespaceObject.metadata.labels['${TENANT_LABEL}']`;

/**
 * A tenant is known by its namespace: an object in a tenant namespace may carry the tenant
 * label only with its namespace's tenant (a pod labelled as another tenant is refused, so
 * nothing downstream can be fooled by it; the operator derives labels from the namespace anyway).
 */
export const tenantLabelPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: TENANT_LABEL_POLICY, labels: chartLabels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      namespaceSelector: { matchExpressions: [{ key: TENANT_LABEL, operator: "Exists" }] },
      resourceRules: [
        {
          apiGroups: ["*"],
          apiVersions: ["*"],
          operations: ["CREATE", "UPDATE"],
          resources: ["*"],
          scope: "Namespaced",
        },
      ],
    },
    validations: [
      {
        expression: `!has(object.metadata.labels) || !('${TENANT_LABEL}' in object.metadata.labels) || object.metadata.labels['${TENANT_LABEL}'] == ${nsTenant}`,
        messageExpression: `'label ${TENANT_LABEL}=' + object.metadata.labels['${TENANT_LABEL}'] + ' does not match namespace ' + namespaceObject.metadata.name + ', which belongs to tenant ' + ${nsTenant} + ': a tenant is known by its namespace; drop the label or set it to ' + ${nsTenant}`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;

export const tenantLabelBinding = policyBinding(TENANT_LABEL_POLICY, chartLabels);
