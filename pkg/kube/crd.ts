// CustomResourceDefinitions built from one TypeScript description per kind (the schema lives
// beside the kind's types in controllers/<pillar>/api.ts), and installed by server-side apply.

import { apply } from "./apply.ts";
import type { KubeClient } from "./client.ts";
import type { KubeObject } from "./object.ts";
import { Resources, type ResourceType } from "./resource.ts";

/** An OpenAPI v3 schema as Kubernetes accepts it (structural, with x-kubernetes-* extensions). */
export interface JSONSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, JSONSchema>;
  items?: JSONSchema;
  required?: string[];
  enum?: Array<string | number>;
  default?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  additionalProperties?: JSONSchema | boolean;
  nullable?: boolean;
  anyOf?: JSONSchema[];
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-validations"?: Array<{
    rule: string;
    message?: string;
    messageExpression?: string;
    reason?: string;
    fieldPath?: string;
  }>;
}

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CRDSpec {
  group: string;
  version?: string;
  kind: string;
  plural: string;
  singular?: string;
  shortNames?: string[];
  namespaced: boolean;
  /** Schema of spec (and status): the CRD wraps it with apiVersion/kind/metadata. */
  spec: JSONSchema;
  status?: JSONSchema;
  /** CEL rules at the top level (e.g. cross-field rules between spec and metadata). */
  validations?: JSONSchema["x-kubernetes-validations"];
  printerColumns?: PrinterColumn[];
}

export interface CustomResourceDefinition extends KubeObject {
  spec: Record<string, unknown>;
}

export const CATEGORY = "centaurus";

/** status.conditions as metav1.Condition: a list keyed by type (the same for every kind). */
export const CONDITIONS_SCHEMA: JSONSchema = {
  type: "array",
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
  items: {
    type: "object",
    required: ["type", "status", "reason", "message", "lastTransitionTime"],
    properties: {
      type: { type: "string" },
      status: { type: "string", enum: ["True", "False", "Unknown"] },
      reason: { type: "string" },
      message: { type: "string" },
      lastTransitionTime: { type: "string", format: "date-time" },
      observedGeneration: { type: "integer" },
    },
  },
};

/** The resource type a CRD serves, for clients and informers. */
export function resourceTypeOf<T extends KubeObject = KubeObject>(c: CRDSpec): ResourceType<T> {
  return {
    group: c.group,
    version: c.version ?? "v1alpha1",
    plural: c.plural,
    kind: c.kind,
    namespaced: c.namespaced,
  };
}

/** Builds the CustomResourceDefinition object (pure). */
export function buildCRD(c: CRDSpec): CustomResourceDefinition {
  const version = c.version ?? "v1alpha1";
  const properties: Record<string, JSONSchema> = { spec: c.spec };
  if (c.status) properties.status = c.status;
  const schema: JSONSchema = {
    type: "object",
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      ...properties,
    },
    ...(c.spec.required?.length || c.spec.properties ? { required: ["spec"] } : {}),
    ...(c.validations ? { "x-kubernetes-validations": c.validations } : {}),
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${c.plural}.${c.group}`,
      labels: { "app.kubernetes.io/name": "centaurus", "app.kubernetes.io/part-of": "centaurus" },
    },
    spec: {
      group: c.group,
      scope: c.namespaced ? "Namespaced" : "Cluster",
      names: {
        kind: c.kind,
        listKind: `${c.kind}List`,
        plural: c.plural,
        singular: c.singular ?? c.kind.toLowerCase(),
        shortNames: c.shortNames ?? [],
        categories: [CATEGORY],
      },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: c.status ? { status: {} } : {},
          additionalPrinterColumns: [
            ...(c.printerColumns ?? []),
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
        },
      ],
    },
  };
}

interface CRDStatus extends KubeObject {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** Applies the CRDs and waits until the API server serves them (condition Established). */
export async function installCRDs(
  client: KubeClient,
  crds: CustomResourceDefinition[],
  timeoutMs = 30_000,
): Promise<void> {
  for (const crd of crds) await apply(client, Resources.CustomResourceDefinition, crd);
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const got = await client.get<CRDStatus>(Resources.CustomResourceDefinition, crd.metadata.name ?? "");
      const conds = got.status?.conditions ?? [];
      if (conds.some((x) => x.type === "Established" && x.status === "True")) break;
      const bad = conds.find((x) => x.type === "NamesAccepted" && x.status === "False");
      if (bad) throw new Error(`CRD ${crd.metadata.name} was not accepted: ${bad.message ?? ""}`);
      if (Date.now() > deadline)
        throw new Error(`CRD ${crd.metadata.name} was not established within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
