// The shapes of the built-in kinds the runtime and the pillars read, once. Every field is
// optional as the API server may omit it; open index signatures keep the rest of an object
// (a transform that keeps fields it does not know about still type-checks).

import type { LabelSelector } from "./label-selector.ts";
import type { KubeObject } from "./object.ts";

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface Container {
  name: string;
  image?: string;
  resources?: ResourceRequirements;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  [k: string]: unknown;
}

export interface PodSpec {
  nodeName?: string;
  schedulerName?: string;
  runtimeClassName?: string;
  containers?: Container[];
  [k: string]: unknown;
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface PodStatus {
  phase?: string;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  conditions?: PodCondition[];
  [k: string]: unknown;
}

export interface Pod extends KubeObject {
  spec?: PodSpec;
  status?: PodStatus;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface Node extends KubeObject {
  spec?: { unschedulable?: boolean; taints?: Taint[]; podCIDR?: string; [k: string]: unknown };
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    addresses?: Array<{ type: string; address: string }>;
    [k: string]: unknown;
  };
}

export interface Namespace extends KubeObject {
  spec?: { finalizers?: string[] };
  status?: { phase?: string };
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export interface Secret extends KubeObject {
  type?: string;
  /** base64-encoded values */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy extends KubeObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes?: Array<"Ingress" | "Egress">;
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}
