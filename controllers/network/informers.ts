// The network pillar's informers, declared once: what each kind's cache keeps (transforms)
// and how it is looked up (indexers). Every controller of the pillar gets these same options.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { Informer, InformerOptions } from "../../pkg/cache/informer.ts";
import type { Container, Namespace, NetworkPolicy, Node, Pod } from "../../pkg/kube/core.ts";
import { identityMeta, pickKeys } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
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

/**
 * A pod as the network controllers cache it (pods are many): identity, labels, our
 * annotations, node, phase, and its named container ports (NetworkPolicy's named ports
 * resolve on them).
 */
export function podTransform(p: Pod): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...identityMeta(p.metadata),
      labels: p.metadata.labels,
      annotations: pickKeys(p.metadata.annotations, (k) => k.startsWith("network.centaurus.io/")) ?? {},
    },
    spec: { nodeName: p.spec?.nodeName, ...namedPortsOnly(p.spec?.containers) },
    status: { phase: p.status?.phase },
  };
}

/** Containers reduced to their named ports (names and images do not matter to the network). */
function namedPortsOnly(containers: Container[] | undefined): { containers?: Container[] } {
  const named = (containers ?? [])
    .map((c) => ({ name: c.name, ports: (c.ports ?? []).filter((port) => port.name) }))
    .filter((c) => c.ports.length > 0);
  return named.length ? { containers: named } : {};
}

/** A node as the network controllers cache it: its name and internal addresses. */
export function nodeTransform(n: Node): Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: identityMeta(n.metadata),
    status: { addresses: n.status?.addresses?.filter((a) => a.type === "InternalIP") },
  };
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

export const POD_INFORMER: InformerOptions<Pod> = { transform: podTransform };
export const NODE_INFORMER: InformerOptions<Node> = { transform: nodeTransform };

/** The pillar's caches, one shared informer per kind. */
export interface NetworkInformers {
  vpcs: Informer<VPC>;
  subnets: Informer<Subnet>;
  claims: Informer<IPAddress>;
  endpoints: Informer<Endpoint>;
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  namespaces: Informer<Namespace>;
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
    pods: factory.informerFor(Resources.Pod, POD_INFORMER),
    nodes: factory.informerFor(Resources.Node, NODE_INFORMER),
    namespaces: factory.informerFor(Resources.Namespace),
    policies: factory.informerFor(Resources.NetworkPolicy),
    programs: factory.informerFor<NodeProgram>(NodePrograms),
  };
}
