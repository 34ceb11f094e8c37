// The network pillar's informers, declared once: what each kind's cache keeps (transforms)
// and how it is looked up (indexers). Every controller of the pillar gets these same options.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer, InformerOptions } from "../../pkg/cache/informer.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import {
  type Endpoint,
  Endpoints,
  type IPAddress,
  IPAddresses,
  type NodeProgram,
  NodePrograms,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "./api.ts";
import type { NetworkPolicy } from "./policy.ts";

/** The fields of a pod the network controllers read (pods are many: cache only these). */
export interface PodView extends KubeObject {
  spec: { nodeName?: string };
  status: { phase?: string };
}

/** The fields of a node the network controllers read: its name and internal addresses. */
export interface NodeView extends KubeObject {
  status?: { addresses?: Array<{ type: string; address: string }> };
}

export function podTransform(pod: KubeObject): PodView {
  const p = pod as KubeObject & { spec?: { nodeName?: string }; status?: { phase?: string } };
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata.annotations ?? {})) {
    if (k.startsWith("network.centaurus.io/")) annotations[k] = v;
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      uid: p.metadata.uid,
      resourceVersion: p.metadata.resourceVersion,
      creationTimestamp: p.metadata.creationTimestamp,
      deletionTimestamp: p.metadata.deletionTimestamp,
      labels: p.metadata.labels,
      annotations,
    },
    spec: { nodeName: p.spec?.nodeName },
    status: { phase: p.status?.phase },
  } as PodView;
}

export function nodeTransform(node: KubeObject): NodeView {
  const n = node as NodeView;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.metadata.name,
      uid: n.metadata.uid,
      resourceVersion: n.metadata.resourceVersion,
      deletionTimestamp: n.metadata.deletionTimestamp,
    },
    status: { addresses: n.status?.addresses?.filter((a) => a.type === "InternalIP") },
  } as NodeView;
}

/** Claims by "namespace/pod" of the endpoint they address. */
export const CLAIM_POD_INDEX = "claim-pod";
/** Claims by subnet name. */
export const CLAIM_SUBNET_INDEX = "claim-subnet";
/** Endpoints by "namespace/pod". */
export const ENDPOINT_POD_INDEX = "endpoint-pod";
/** Endpoints by the node that hosts them. */
export const ENDPOINT_NODE_INDEX = "endpoint-node";
/** Subnets by VPC name. */
export const SUBNET_VPC_INDEX = "subnet-vpc";
/** Subnets by each namespace they are the default of. */
export const SUBNET_NAMESPACE_INDEX = "subnet-namespace";

export const SUBNET_INFORMER: InformerOptions<Subnet> = {
  indexers: {
    [SUBNET_VPC_INDEX]: (s) => [s.spec.vpc],
    [SUBNET_NAMESPACE_INDEX]: (s) => s.spec.namespaces ?? [],
  },
};

export const CLAIM_INFORMER: InformerOptions<IPAddress> = {
  indexers: {
    [CLAIM_POD_INDEX]: (c) => [`${c.spec.endpoint.namespace}/${c.spec.endpoint.pod}`],
    [CLAIM_SUBNET_INDEX]: (c) => [c.spec.subnet],
  },
};

export const ENDPOINT_INFORMER: InformerOptions<Endpoint> = {
  indexers: {
    [ENDPOINT_POD_INDEX]: (e) => [`${e.metadata.namespace}/${e.spec.pod.name}`],
    [ENDPOINT_NODE_INDEX]: (e) => (e.spec.node ? [e.spec.node] : []),
  },
};

export const POD_INFORMER: InformerOptions<PodView> = { transform: podTransform };
export const NODE_INFORMER: InformerOptions<NodeView> = {
  transform: nodeTransform,
};

/** The pillar's caches, one shared informer per kind. */
export interface NetworkInformers {
  vpcs: Informer<VPC>;
  subnets: Informer<Subnet>;
  claims: Informer<IPAddress>;
  endpoints: Informer<Endpoint>;
  pods: Informer<PodView>;
  nodes: Informer<NodeView>;
  namespaces: Informer<KubeObject>;
  policies: Informer<NetworkPolicy>;
  programs: Informer<NodeProgram>;
}

/** Creates (or finds) the pillar's informers, before any controller asks for them. */
export function networkInformers(factory: SharedInformerFactory): NetworkInformers {
  return {
    vpcs: factory.informerFor<VPC>(VPCs),
    subnets: factory.informerFor<Subnet>(Subnets, SUBNET_INFORMER),
    claims: factory.informerFor<IPAddress>(IPAddresses, CLAIM_INFORMER),
    endpoints: factory.informerFor<Endpoint>(Endpoints, ENDPOINT_INFORMER),
    pods: factory.informerFor(Resources.Pod as ResourceType<PodView>, POD_INFORMER),
    nodes: factory.informerFor<NodeView>(Resources.Node, NODE_INFORMER),
    namespaces: factory.informerFor(Resources.Namespace),
    policies: factory.informerFor<NetworkPolicy>(Resources.NetworkPolicy),
    programs: factory.informerFor<NodeProgram>(NodePrograms),
  };
}
