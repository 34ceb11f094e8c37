// The network pillar's admission policies (the API server enforces them, not the controller
// hoping): a tenant's pod may join only the subnets open to its tenant, and VPCEndpoints are
// written only by whoever may write NodePrograms (the operator and cluster admins).

import type { KubeObject } from "../../pkg/kube/object.ts";
import { celAnnotation, celList, policyBinding } from "../shared/admission.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import { ALLOWED_SUBNETS_ANNOTATION } from "./access.ts";
import { GROUP, SUBNET_ANNOTATION } from "./api.ts";

const labels = { "app.kubernetes.io/part-of": "centaurus" };
export const POD_SUBNET_POLICY = "centaurus-tenant-subnets";
export const ENDPOINT_WRITER_POLICY = "centaurus-endpoint-writers";

const binding = (policyName: string) => policyBinding(policyName, labels);

/**
 * The subnets a pod names (network.centaurus.io/subnet) must all be listed in its namespace's
 * allowed-subnets annotation, which the network controller keeps (tenant admins cannot edit
 * namespaces). Checked on create and whenever the pod's subnet annotation changes.
 */
export const podSubnetPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: POD_SUBNET_POLICY, labels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      namespaceSelector: { matchExpressions: [{ key: TENANT_LABEL, operator: "Exists" }] },
      resourceRules: [
        { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods"] },
      ],
    },
    variables: [
      { name: "named", expression: celAnnotation("object", SUBNET_ANNOTATION) },
      {
        name: "changed",
        expression: `request.operation == 'CREATE' || variables.named != ${celAnnotation("oldObject", SUBNET_ANNOTATION)}`,
      },
      { name: "allowedText", expression: celAnnotation("namespaceObject", ALLOWED_SUBNETS_ANNOTATION) },
      {
        name: "allowed",
        expression: celList("variables.allowedText"),
      },
    ],
    validations: [
      {
        expression: `!variables.changed || ${celList("variables.named")}.all(s, s in variables.allowed)`,
        messageExpression: `'pods of tenant ' + namespaceObject.metadata.labels['${TENANT_LABEL}'] + ' may join only subnets of its own VPCs or opened to it; ${SUBNET_ANNOTATION}=' + variables.named + ' names another; allowed subnets: ' + (size(variables.allowed) == 0 ? '(none)' : variables.allowed.join(', '))`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;
export const podSubnetBinding = binding(POD_SUBNET_POLICY);

/**
 * VPCEndpoints enter the NodePrograms: only those who may write NodePrograms may write them
 * (RBAC already keeps tenants to reading them; this holds even if a Role grants more).
 */
export const endpointWriterPolicy: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: ENDPOINT_WRITER_POLICY, labels },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: [GROUP],
          apiVersions: ["*"],
          operations: ["CREATE", "UPDATE"],
          resources: ["vpcendpoints", "vpcaddresses"],
        },
      ],
    },
    validations: [
      {
        expression: `authorizer.group('${GROUP}').resource('nodeprograms').check('create').allowed()`,
        messageExpression: `'VPCEndpoints and VPCAddresses are written by the network controller only (for the pods it wires); ' + request.userInfo.username + ' may not write NodePrograms, so may not write them either'`,
        reason: "Forbidden",
      },
    ],
  },
} as KubeObject;
export const endpointWriterBinding = binding(ENDPOINT_WRITER_POLICY);
