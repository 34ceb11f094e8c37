// Fornax edge tree: the EdgeCluster and Mission kinds (edge.centaurus.io/v1alpha1), their
// TypeScript shapes and their schemas (one source of truth; crds/ is generated from here).
//
// Both kinds are cluster-scoped. An EdgeCluster describes a child cluster and lives in its
// parent. A Mission deploys objects of any scope into any namespace of clusters anywhere in
// the tree, so it belongs to the cluster, not to a namespace: it is a cluster operator's tool
// (like a ClusterRole), and being cluster-scoped it can own, through owner references, every
// object it applies (namespaced or not), so deleting it lets the garbage collector remove them.

import { CONDITIONS_SCHEMA, type CRDSpec, type JSONSchema, resourceTypeOf } from "../../pkg/kube/crd.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { dnsLabelField, objectNameField } from "../../pkg/kube/schema-fields.ts";
import type { Condition } from "../../pkg/status/conditions.ts";

export const GROUP = "edge.centaurus.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Namespace of the operator's own bookkeeping (the identity ConfigMap) in every cluster. */
export const EDGE_NAMESPACE = "centaurus-edge";
/** ConfigMap (in EDGE_NAMESPACE) telling a cluster who it is: written by its parent, or by hand at the root. */
export const IDENTITY_CONFIGMAP = "edge-identity";

/** On every object a mission applies: the mission's name (used to find them again). */
export const MISSION_LABEL = "edge.centaurus.io/mission";
/** On a Mission copied into a child: the parent's cluster id (the parent manages it). */
export const PROPAGATED_BY_LABEL = "edge.centaurus.io/propagated-by";

export type Distro = "k8s" | "k3s" | "arktos";
export type Connection = "Connected" | "Disconnected";

export interface SecretKeyRef {
  namespace: string;
  name: string;
  key: string;
}

export interface EdgeClusterSpec {
  kubeconfigSecretRef: SecretKeyRef;
  distro: Distro;
  labels?: Record<string, string>;
  heartbeatPeriodSeconds: number;
  disconnectTimeoutSeconds: number;
}

/** One cluster of a subtree, keyed by its path relative to the cluster whose status holds it. */
export interface SubtreeEntry {
  path: string;
  clusterID?: string;
  connection: Connection;
  labels?: Record<string, string>;
  nodesReady?: number;
  nodesTotal?: number;
}

export interface EdgeClusterStatus {
  observedGeneration?: number;
  connection?: Connection;
  clusterID?: string;
  lastHeartbeat?: string;
  nodes?: { ready: number; total: number };
  capacity?: Record<string, string>;
  subtree?: SubtreeEntry[];
  missions?: { total: number; applied: number; failed: number; unreachable: number };
  conditions?: Condition[];
}

export interface EdgeCluster extends KubeObject {
  spec: EdgeClusterSpec;
  status?: EdgeClusterStatus;
}

/** Kubernetes label selectors: the shared module (an absent clusterSelector is placement's decision). */
export type { LabelSelector, LabelSelectorRequirement } from "../../pkg/kube/label-selector.ts";

import type { LabelSelector } from "../../pkg/kube/label-selector.ts";

export interface Placement {
  /** Cluster names (an EdgeCluster's name) or absolute paths such as "a/a1". */
  clusters?: string[];
  clusterSelector?: LabelSelector;
}

export interface Override {
  /** A cluster name or absolute path. */
  cluster: string;
  /**
   * Partial objects merged (JSON merge patch) onto the mission's object with the same
   * apiVersion, kind, namespace and name.
   */
  objects: MissionObject[];
}

export interface MissionObject extends KubeObject {
  [field: string]: unknown;
}

export interface MissionSpec {
  objects: MissionObject[];
  placement: Placement;
  overrides?: Override[];
}

export type MissionState = "Pending" | "Applied" | "Failed" | "Unreachable";

export interface ClusterMissionStatus {
  /** Relative to the cluster holding this status: "." is that cluster itself. */
  path: string;
  state: MissionState;
  reason?: string;
  message?: string;
}

export interface MissionSummary {
  total: number;
  applied: number;
  failed: number;
  unreachable: number;
  pending: number;
}

export interface InventoryEntry {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface MissionStatus {
  observedGeneration?: number;
  clusters?: ClusterMissionStatus[];
  summary?: MissionSummary;
  /** What this cluster applied locally, so objects dropped from the mission are removed. */
  inventory?: InventoryEntry[];
  conditions?: Condition[];
}

export interface Mission extends KubeObject {
  spec: MissionSpec;
  status?: MissionStatus;
}

const stringMap: JSONSchema = { type: "object", additionalProperties: { type: "string" } };

const labelSelectorSchema: JSONSchema = {
  type: "object",
  properties: {
    matchLabels: stringMap,
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string" },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
        "x-kubernetes-validations": [
          {
            rule: "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: "In and NotIn need values; Exists and DoesNotExist take none",
          },
        ],
      },
    },
  },
};

const embeddedObject: JSONSchema = {
  type: "object",
  "x-kubernetes-embedded-resource": true,
  "x-kubernetes-preserve-unknown-fields": true,
};

export const edgeClusterCRD: CRDSpec = {
  group: GROUP,
  kind: "EdgeCluster",
  plural: "edgeclusters",
  shortNames: ["ec"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["kubeconfigSecretRef"],
    properties: {
      kubeconfigSecretRef: {
        type: "object",
        description: "The Secret (in this cluster) holding the child's kubeconfig.",
        required: ["namespace", "name"],
        properties: {
          namespace: dnsLabelField("kubeconfigSecretRef.namespace"),
          name: objectNameField("kubeconfigSecretRef.name"),
          key: {
            type: "string",
            default: "kubeconfig",
            maxLength: 253,
            "x-kubernetes-validations": [
              {
                rule: "self.matches('^[-._a-zA-Z0-9]+$')",
                message:
                  "kubeconfigSecretRef.key must be a Secret data key: letters, digits, '-', '_' and '.'",
              },
            ],
          },
        },
      },
      distro: { type: "string", enum: ["k8s", "k3s", "arktos"], default: "k8s" },
      labels: stringMap,
      heartbeatPeriodSeconds: { type: "integer", minimum: 1, maximum: 3600, default: 10 },
      disconnectTimeoutSeconds: { type: "integer", minimum: 1, maximum: 86400, default: 60 },
    },
    "x-kubernetes-validations": [
      {
        rule: "self.disconnectTimeoutSeconds >= self.heartbeatPeriodSeconds",
        message: "disconnectTimeoutSeconds must be at least heartbeatPeriodSeconds",
      },
    ],
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      connection: { type: "string", enum: ["Connected", "Disconnected"] },
      clusterID: { type: "string" },
      lastHeartbeat: { type: "string", format: "date-time" },
      nodes: {
        type: "object",
        properties: { ready: { type: "integer" }, total: { type: "integer" } },
      },
      capacity: stringMap,
      subtree: {
        type: "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["path"],
        items: {
          type: "object",
          required: ["path", "connection"],
          properties: {
            path: { type: "string" },
            clusterID: { type: "string" },
            connection: { type: "string", enum: ["Connected", "Disconnected"] },
            labels: stringMap,
            nodesReady: { type: "integer" },
            nodesTotal: { type: "integer" },
          },
        },
      },
      missions: {
        type: "object",
        properties: {
          total: { type: "integer" },
          applied: { type: "integer" },
          failed: { type: "integer" },
          unreachable: { type: "integer" },
        },
      },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "Distro", type: "string", jsonPath: ".spec.distro" },
    { name: "Connection", type: "string", jsonPath: ".status.connection" },
    { name: "Ready-Nodes", type: "integer", jsonPath: ".status.nodes.ready" },
    { name: "Nodes", type: "integer", jsonPath: ".status.nodes.total" },
    { name: "Heartbeat", type: "date", jsonPath: ".status.lastHeartbeat" },
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    },
  ],
};

const missionStateEnum = ["Pending", "Applied", "Failed", "Unreachable"];

export const missionCRD: CRDSpec = {
  group: GROUP,
  kind: "Mission",
  plural: "missions",
  shortNames: ["msn"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["objects", "placement"],
    properties: {
      objects: {
        type: "array",
        description:
          "Kubernetes objects to apply (server-side apply) in every cluster the placement selects.",
        items: embeddedObject,
        maxItems: 256,
      },
      placement: {
        type: "object",
        properties: {
          clusters: { type: "array", items: { type: "string" } },
          clusterSelector: labelSelectorSchema,
        },
        "x-kubernetes-validations": [
          {
            rule: "has(self.clusters) || has(self.clusterSelector)",
            message: "placement needs clusters, a clusterSelector, or both",
          },
        ],
      },
      overrides: {
        type: "array",
        items: {
          type: "object",
          required: ["cluster", "objects"],
          properties: {
            cluster: { type: "string", minLength: 1 },
            objects: { type: "array", items: embeddedObject },
          },
        },
      },
    },
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      clusters: {
        type: "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["path"],
        items: {
          type: "object",
          required: ["path", "state"],
          properties: {
            path: { type: "string" },
            state: { type: "string", enum: missionStateEnum },
            reason: { type: "string" },
            message: { type: "string" },
          },
        },
      },
      summary: {
        type: "object",
        properties: {
          total: { type: "integer" },
          applied: { type: "integer" },
          failed: { type: "integer" },
          unreachable: { type: "integer" },
          pending: { type: "integer" },
        },
      },
      inventory: {
        type: "array",
        items: {
          type: "object",
          required: ["apiVersion", "kind", "name"],
          properties: {
            apiVersion: { type: "string" },
            kind: { type: "string" },
            namespace: { type: "string" },
            name: { type: "string" },
          },
        },
      },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "Total", type: "integer", jsonPath: ".status.summary.total" },
    { name: "Applied", type: "integer", jsonPath: ".status.summary.applied" },
    { name: "Failed", type: "integer", jsonPath: ".status.summary.failed" },
    { name: "Unreachable", type: "integer", jsonPath: ".status.summary.unreachable" },
  ],
};

export const EdgeClusters = resourceTypeOf<EdgeCluster>(edgeClusterCRD);
export const Missions = resourceTypeOf<Mission>(missionCRD);
