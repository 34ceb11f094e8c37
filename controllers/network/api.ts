// network.centaurus.io/v1alpha1: VPC, Subnet, VPCEndpoint, VPCAddress and NodeProgram — the
// TypeScript types and the CRD schemas (one source of truth), and the admission policy that
// guards VPC deletion.

import { CONDITIONS_SCHEMA, type CRDSpec, type JSONSchema, resourceTypeOf } from "../../pkg/kube/crd.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import type { DirectionPolicy } from "./policy.ts";
import type { NamedPort } from "./policy-ports.ts";

export const GROUP = "network.centaurus.io";
export const API_VERSION = `${GROUP}/v1alpha1`;

export { IP_ANNOTATION, IPS_ANNOTATION, SUBNET_ANNOTATION } from "../shared/pod-network.ts";
export const SUBNET_LABEL = "network.centaurus.io/subnet";
export const VPC_LABEL = "network.centaurus.io/vpc";
export const POD_UID_LABEL = "network.centaurus.io/pod-uid";

// ---------------------------------------------------------------- types

export interface VPCSpec {
  cidr: string;
  tenant?: string;
  /** Chosen by the user (accepted when free) or allocated; persisted in status.vni. */
  vni?: number;
  dividers: number;
}

export interface VPCStatus {
  observedGeneration?: number;
  vni?: number;
  subnets?: string[];
  conditions?: Condition[];
}

export interface VPC extends KubeObject {
  spec: VPCSpec;
  status?: VPCStatus;
}

export interface SubnetSpec {
  vpc: string;
  cidr: string;
  gateway?: string;
  excludeIPs?: string[];
  /** Namespaces whose pods get an address here unless they name a subnet. */
  namespaces?: string[];
  /** Tenants (besides the VPC's own) whose pods may join this subnet: opened by a cluster admin. */
  tenants?: string[];
  /** Open to every tenant's pods. */
  shared?: boolean;
  bouncers: number;
}

export interface SubnetStatus {
  observedGeneration?: number;
  vni?: number;
  gateway?: string;
  availableIPs?: number;
  usedIPs?: number;
  conditions?: Condition[];
}

export interface Subnet extends KubeObject {
  spec: SubnetSpec;
  status?: SubnetStatus;
}

export interface EndpointSpec {
  subnet: string;
  vpc: string;
  vni: number;
  ip: string;
  mac: string;
  /** The interface inside the pod or VM: eth0, eth1, ... */
  interface: string;
  /** Where the pod runs; empty until it is scheduled. */
  node?: string;
  pod: { name: string; uid: string };
  /** The pod's labels, so that policy compiles from Endpoints alone. */
  podLabels?: Record<string, string>;
  /** The pod's named container ports: NetworkPolicy's named ports resolve on these. */
  namedPorts?: NamedPort[];
}

export type { NamedPort } from "./policy-ports.ts";

export interface Endpoint extends KubeObject {
  spec: EndpointSpec;
}

/**
 * One allocated address. The name encodes subnet and address ("<subnet>.<a>-<b>-<c>-<d>"),
 * so creating a second claim for the same address fails with AlreadyExists: the API server,
 * not controller memory, decides who holds an address.
 */
export interface IPAddressSpec {
  subnet: string;
  ip: string;
  endpoint: { namespace: string; name: string; pod: string; podUID: string };
}

export interface IPAddress extends KubeObject {
  spec: IPAddressSpec;
}

export interface ProgramEndpoint {
  namespace: string;
  /** The Endpoint's name. */
  name: string;
  pod: string;
  interface: string;
  ip: string;
  mac: string;
  vni: number;
  vpc: string;
  subnet: string;
  ingress: DirectionPolicy;
  egress: DirectionPolicy;
}

export interface ProgramSubnet {
  name: string;
  cidr: string;
  gateway: string;
  /** Nodes that hold every endpoint of this subnet (send unknown destinations there). */
  bouncers: string[];
}

export interface ProgramNetwork {
  vni: number;
  vpc: string;
  cidr: string;
  subnets: ProgramSubnet[];
  dividers: string[];
  /** Endpoint IP → node, for the subnets this node bounces for (empty on other nodes). */
  remoteEndpoints: Record<string, string>;
}

export interface NodeProgramSpec {
  node: string;
  /** Node name → its InternalIP (the VXLAN underlay address) for every node named here. */
  hosts: Record<string, string>;
  roles: { bouncer: string[]; divider: string[] };
  networks: ProgramNetwork[];
  localEndpoints: ProgramEndpoint[];
  /** Sets of peer IPs, referenced by id (index) from the rules. */
  peerSets: string[][];
}

/** Written by the node's agent (agent/): what it made true in the kernel. */
export interface NodeProgramStatus {
  /** The generation the agent last reconciled, and the last one it programmed without errors. */
  observedGeneration?: number;
  programmedGeneration?: number;
  endpoints?: { local?: number; remote?: number; pending?: number };
  /** Entries in the agent's eBPF maps. */
  maps?: { endpoints?: number; subnets?: number; localInterfaces?: number; policyRules?: number };
  /** Local endpoints whose pod interface does not exist yet (the CNI plugin has not run). */
  pending?: string[];
  errors?: string[];
  conditions?: Condition[];
}

export interface NodeProgram extends KubeObject {
  spec: NodeProgramSpec;
  status?: NodeProgramStatus;
}

// ---------------------------------------------------------------- schemas

const str = (description: string, extra: JSONSchema = {}): JSONSchema => ({
  type: "string",
  description,
  ...extra,
});
const int = (description: string, extra: JSONSchema = {}): JSONSchema => ({
  type: "integer",
  description,
  ...extra,
});
const strList = (description: string, maxItems = 1024, maxLength = 253): JSONSchema => ({
  type: "array",
  description,
  maxItems,
  items: { type: "string", maxLength },
});

/** A canonical IPv4 CIDR (network address, host bits zero), immutable once set. */
function cidrField(description: string): JSONSchema {
  return str(description, {
    maxLength: 18,
    "x-kubernetes-validations": [
      {
        rule: "isCIDR(self) && cidr(self).ip().family() == 4 && string(cidr(self).masked()) == self",
        message: "must be an IPv4 CIDR whose host bits are zero, e.g. 10.0.0.0/16",
      },
      { rule: "self == oldSelf", message: "cidr is immutable" },
    ],
  });
}

function ipField(description: string): JSONSchema {
  return str(description, {
    maxLength: 15,
    "x-kubernetes-validations": [
      { rule: "isIP(self) && ip(self).family() == 4", message: "must be an IPv4 address" },
    ],
  });
}

const immutable = (what: string) => ({ rule: "self == oldSelf", message: `${what} is immutable` });

export const vpcCRD: CRDSpec = {
  group: GROUP,
  kind: "VPC",
  plural: "vpcs",
  singular: "vpc",
  shortNames: ["vpc"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["cidr"],
    properties: {
      cidr: cidrField("Address block of the VPC."),
      tenant: str("The tenant that owns the VPC; VPCs of one tenant may not overlap.", {
        maxLength: 63,
        "x-kubernetes-validations": [immutable("tenant")],
      }),
      vni: int("VXLAN network identifier; allocated when left out, accepted when free.", {
        minimum: 1,
        maximum: 0xfffffe,
        "x-kubernetes-validations": [immutable("vni")],
      }),
      dividers: int("How many nodes act as dividers (route between the VPC's subnets).", {
        minimum: 1,
        maximum: 64,
        default: 1,
      }),
    },
    "x-kubernetes-validations": [
      { rule: "has(self.vni) == has(oldSelf.vni)", message: "vni cannot be added or removed after creation" },
      {
        rule: "has(self.tenant) == has(oldSelf.tenant)",
        message: "tenant cannot be added or removed after creation",
      },
    ],
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      vni: { type: "integer" },
      subnets: strList("Subnets in this VPC."),
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "CIDR", type: "string", jsonPath: ".spec.cidr" },
    { name: "Tenant", type: "string", jsonPath: ".spec.tenant" },
    { name: "VNI", type: "integer", jsonPath: ".status.vni" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      priority: 1,
    },
  ],
};

export const subnetCRD: CRDSpec = {
  group: GROUP,
  kind: "Subnet",
  validations: [
    {
      rule: "size(self.metadata.name) <= 63",
      message: "a subnet name has at most 63 characters (it prefixes the names of its address claims)",
    },
  ],
  plural: "subnets",
  singular: "subnet",
  shortNames: ["snet"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["vpc", "cidr"],
    properties: {
      vpc: str("The VPC this subnet belongs to.", {
        maxLength: 253,
        "x-kubernetes-validations": [immutable("vpc")],
      }),
      cidr: cidrField("Address block; must lie inside the VPC's and overlap no other subnet of it."),
      gateway: ipField("Gateway address (default: the first host address)."),
      excludeIPs: strList("Addresses never handed out: IPs, CIDRs or ranges a.b.c.d..e.f.g.h.", 256, 40),
      namespaces: strList("Namespaces whose pods default to this subnet.", 1024, 63),
      tenants: strList("Tenants besides the VPC's own whose pods may join this subnet.", 256, 63),
      shared: { type: "boolean", description: "Open to the pods of every tenant." },
      bouncers: int("How many nodes act as bouncers (hold every endpoint of the subnet).", {
        minimum: 1,
        maximum: 64,
        default: 1,
      }),
    },
    "x-kubernetes-validations": [
      {
        rule: "!has(self.gateway) || cidr(self.cidr).containsIP(self.gateway)",
        message: "gateway must lie inside cidr",
      },
      {
        rule: "has(self.gateway) == has(oldSelf.gateway) && (!has(self.gateway) || self.gateway == oldSelf.gateway)",
        message: "gateway is immutable",
      },
    ],
  },
  status: {
    type: "object",
    properties: {
      observedGeneration: { type: "integer" },
      vni: { type: "integer" },
      gateway: { type: "string" },
      availableIPs: { type: "integer" },
      usedIPs: { type: "integer" },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "VPC", type: "string", jsonPath: ".spec.vpc" },
    { name: "CIDR", type: "string", jsonPath: ".spec.cidr" },
    { name: "Used", type: "integer", jsonPath: ".status.usedIPs" },
    { name: "Available", type: "integer", jsonPath: ".status.availableIPs" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      priority: 1,
    },
  ],
};

export const endpointCRD: CRDSpec = {
  group: GROUP,
  // Not "Endpoint": core v1 Endpoints would answer `kubectl get endpoints`.
  kind: "VPCEndpoint",
  plural: "vpcendpoints",
  singular: "vpcendpoint",
  shortNames: ["vep"],
  namespaced: true,
  spec: {
    type: "object",
    required: ["subnet", "vpc", "vni", "ip", "mac", "interface", "pod"],
    properties: {
      subnet: str("Subnet the address comes from.", {
        maxLength: 253,
        "x-kubernetes-validations": [immutable("subnet")],
      }),
      vpc: str("VPC of the subnet.", { maxLength: 253 }),
      vni: int("VNI of the VPC."),
      ip: {
        ...ipField("Overlay address."),
        "x-kubernetes-validations": [
          { rule: "isIP(self) && ip(self).family() == 4", message: "must be an IPv4 address" },
          immutable("ip"),
        ],
      },
      mac: str("MAC address (derived from the IP).", { maxLength: 17 }),
      interface: str("Interface inside the pod or VM.", { maxLength: 15 }),
      node: str("Node the pod runs on (empty until scheduled).", { maxLength: 253 }),
      pod: {
        type: "object",
        required: ["name", "uid"],
        properties: { name: { type: "string", maxLength: 253 }, uid: { type: "string", maxLength: 64 } },
      },
      podLabels: { type: "object", additionalProperties: { type: "string" } },
      namedPorts: {
        type: "array",
        description: "The pod's named container ports (NetworkPolicy named ports resolve on these).",
        maxItems: 256,
        items: {
          type: "object",
          required: ["name", "protocol", "port"],
          properties: {
            name: { type: "string", maxLength: 15 },
            protocol: { type: "string", enum: ["TCP", "UDP", "SCTP"] },
            port: { type: "integer", minimum: 1, maximum: 65535 },
          },
        },
      },
    },
  },
  printerColumns: [
    { name: "IP", type: "string", jsonPath: ".spec.ip" },
    { name: "Subnet", type: "string", jsonPath: ".spec.subnet" },
    { name: "VNI", type: "integer", jsonPath: ".spec.vni" },
    { name: "Node", type: "string", jsonPath: ".spec.node" },
    { name: "MAC", type: "string", jsonPath: ".spec.mac", priority: 1 },
  ],
};

export const ipAddressCRD: CRDSpec = {
  group: GROUP,
  // Not "IPAddress": networking.k8s.io IPAddress would answer `kubectl get ipaddresses`.
  kind: "VPCAddress",
  plural: "vpcaddresses",
  singular: "vpcaddress",
  shortNames: ["vaddr"],
  namespaced: false,
  spec: {
    type: "object",
    required: ["subnet", "ip", "endpoint"],
    "x-kubernetes-validations": [immutable("a VPCAddress claim")],
    properties: {
      subnet: str("Subnet the address belongs to.", { maxLength: 253 }),
      ip: ipField("The claimed address."),
      endpoint: {
        type: "object",
        required: ["namespace", "name", "pod", "podUID"],
        properties: {
          namespace: { type: "string", maxLength: 63 },
          name: { type: "string", maxLength: 253 },
          pod: { type: "string", maxLength: 253 },
          podUID: { type: "string", maxLength: 64 },
        },
      },
    },
  },
  printerColumns: [
    { name: "IP", type: "string", jsonPath: ".spec.ip" },
    { name: "Subnet", type: "string", jsonPath: ".spec.subnet" },
    { name: "Namespace", type: "string", jsonPath: ".spec.endpoint.namespace" },
    { name: "Endpoint", type: "string", jsonPath: ".spec.endpoint.name" },
  ],
};

const directionSchema: JSONSchema = {
  type: "object",
  required: ["isolated", "policies", "rules"],
  properties: {
    isolated: { type: "boolean" },
    policies: { type: "array", items: { type: "string" } },
    rules: {
      type: "array",
      items: {
        type: "object",
        required: ["policy", "anyPeer", "peerSets", "ipBlocks", "anyPort", "ports"],
        properties: {
          policy: { type: "string" },
          anyPeer: { type: "boolean" },
          peerSets: { type: "array", items: { type: "integer" } },
          ipBlocks: {
            type: "array",
            items: {
              type: "object",
              required: ["cidr"],
              properties: { cidr: { type: "string" }, except: { type: "array", items: { type: "string" } } },
            },
          },
          anyPort: { type: "boolean" },
          ports: {
            type: "array",
            items: {
              type: "object",
              required: ["protocol"],
              properties: {
                protocol: { type: "string", enum: ["TCP", "UDP", "SCTP"] },
                port: { "x-kubernetes-int-or-string": true },
                endPort: { type: "integer" },
              },
            },
          },
        },
      },
    },
  },
};

export const nodeProgramCRD: CRDSpec = {
  group: GROUP,
  kind: "NodeProgram",
  plural: "nodeprograms",
  singular: "nodeprogram",
  shortNames: ["nprog"],
  namespaced: false,
  spec: {
    type: "object",
    description:
      "Compiled by the network controller for one node; the contract with the data plane (docs/networking.md).",
    required: ["node", "hosts", "roles", "networks", "localEndpoints", "peerSets"],
    properties: {
      node: { type: "string" },
      hosts: { type: "object", additionalProperties: { type: "string" }, "x-kubernetes-map-type": "atomic" },
      roles: {
        type: "object",
        properties: {
          bouncer: { type: "array", items: { type: "string" } },
          divider: { type: "array", items: { type: "string" } },
        },
      },
      networks: {
        type: "array",
        items: {
          type: "object",
          required: ["vni", "vpc", "cidr", "subnets", "dividers", "remoteEndpoints"],
          properties: {
            vni: { type: "integer" },
            vpc: { type: "string" },
            cidr: { type: "string" },
            subnets: {
              type: "array",
              items: {
                type: "object",
                required: ["name", "cidr", "gateway", "bouncers"],
                properties: {
                  name: { type: "string" },
                  cidr: { type: "string" },
                  gateway: { type: "string" },
                  bouncers: { type: "array", items: { type: "string" } },
                },
              },
            },
            dividers: { type: "array", items: { type: "string" } },
            // Atomic: one managed field for the whole map, not one per endpoint (server-side
            // apply bookkeeping per key made a 10,000-endpoint bouncer program expensive to write).
            remoteEndpoints: {
              type: "object",
              additionalProperties: { type: "string" },
              "x-kubernetes-map-type": "atomic",
            },
          },
        },
      },
      localEndpoints: {
        type: "array",
        items: {
          type: "object",
          required: [
            "namespace",
            "name",
            "pod",
            "interface",
            "ip",
            "mac",
            "vni",
            "vpc",
            "subnet",
            "ingress",
            "egress",
          ],
          properties: {
            namespace: { type: "string" },
            name: { type: "string" },
            pod: { type: "string" },
            interface: { type: "string" },
            ip: { type: "string" },
            mac: { type: "string" },
            vni: { type: "integer" },
            vpc: { type: "string" },
            subnet: { type: "string" },
            ingress: directionSchema,
            egress: directionSchema,
          },
        },
      },
      peerSets: { type: "array", items: { type: "array", items: { type: "string" } } },
    },
  },
  status: {
    type: "object",
    description: "Written by the node's agent: what it programmed into the kernel.",
    properties: {
      observedGeneration: { type: "integer" },
      programmedGeneration: { type: "integer" },
      endpoints: {
        type: "object",
        properties: { local: { type: "integer" }, remote: { type: "integer" }, pending: { type: "integer" } },
      },
      maps: {
        type: "object",
        properties: {
          endpoints: { type: "integer" },
          subnets: { type: "integer" },
          localInterfaces: { type: "integer" },
          policyRules: { type: "integer" },
        },
      },
      pending: { type: "array", maxItems: 1024, items: { type: "string", maxLength: 600 } },
      errors: { type: "array", maxItems: 256, items: { type: "string", maxLength: 4096 } },
      conditions: CONDITIONS_SCHEMA,
    },
  },
  printerColumns: [
    { name: "Endpoints", type: "integer", jsonPath: ".spec.localEndpoints.length()" },
    { name: "Bouncer", type: "string", jsonPath: ".spec.roles.bouncer" },
    { name: "Divider", type: "string", jsonPath: ".spec.roles.divider" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Programmed", type: "integer", jsonPath: ".status.programmedGeneration", priority: 1 },
  ],
};

export const NETWORK_CRDS: CRDSpec[] = [vpcCRD, subnetCRD, endpointCRD, ipAddressCRD, nodeProgramCRD];

export const VPCs: ResourceType<VPC> = resourceTypeOf(vpcCRD);
export const Subnets: ResourceType<Subnet> = resourceTypeOf(subnetCRD);
export const Endpoints: ResourceType<Endpoint> = resourceTypeOf(endpointCRD);
export const IPAddresses: ResourceType<IPAddress> = resourceTypeOf(ipAddressCRD);
export const NodePrograms: ResourceType<NodeProgram> = resourceTypeOf(nodeProgramCRD);

export const VPC_DELETE_POLICY = "centaurus-network-vpc-delete";

/** Refuses to delete a VPC that still lists subnets in its status (the controller keeps the list). */
export const vpcDeletePolicy: KubeObject & { spec: unknown } = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicy",
  metadata: { name: VPC_DELETE_POLICY, labels: { "app.kubernetes.io/part-of": "centaurus" } },
  spec: {
    failurePolicy: "Fail",
    matchConstraints: {
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ["*"], operations: ["DELETE"], resources: ["vpcs"] },
      ],
    },
    validations: [
      {
        expression:
          "!has(oldObject.status) || !has(oldObject.status.subnets) || size(oldObject.status.subnets) == 0",
        messageExpression:
          "'VPC ' + oldObject.metadata.name + ' still has subnets (' + oldObject.status.subnets.join(', ') + '): delete them first'",
        reason: "Forbidden",
      },
    ],
  },
};

export const vpcDeletePolicyBinding: KubeObject & { spec: unknown } = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicyBinding",
  metadata: { name: VPC_DELETE_POLICY, labels: { "app.kubernetes.io/part-of": "centaurus" } },
  spec: { policyName: VPC_DELETE_POLICY, validationActions: ["Deny"] },
};

/** "<subnet>.<a>-<b>-<c>-<d>": unique per (subnet, address); the address is parsed from the end. */
export function ipClaimName(subnet: string, ip: string): string {
  return `${subnet}.${ip.replaceAll(".", "-")}`;
}
