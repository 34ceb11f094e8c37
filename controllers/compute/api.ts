// The VirtualMachine kind (compute.centaurus.io/v1alpha1, namespaced): types and schema.

import type { CRDSpec, JSONSchema } from "../../pkg/kube/crd.ts";
import { CONDITIONS_SCHEMA as conditionsSchema, resourceTypeOf } from "../../pkg/kube/crd.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import { dnsLabelField, objectNameField, timeField } from "../../pkg/kube/schema-fields.ts";
import type { Condition } from "../../pkg/status/conditions.ts";

export const GROUP = "compute.centaurus.io";
/** On launcher pods (and the cloud-init Secret): the VM they belong to. */
export const VM_LABEL = "compute.centaurus.io/vm";
export const DEFAULT_RUNTIME_CLASS = "vm";

export type PowerState = "Running" | "Stopped";
export type VMPhase = "Pending" | "Scheduling" | "Starting" | "Running" | "Stopping" | "Stopped" | "Failed";

export interface Disk {
  name: string;
  /** Size of a data disk (a quantity); the boot disk is the image itself. */
  size?: string;
  image?: string;
  boot?: boolean;
}

export interface VirtualMachineSpec {
  image: string;
  cpu?: number;
  memory?: string;
  disks?: Disk[];
  cloudInit?: { userData?: string };
  sshKeys?: string[];
  interfaces?: Array<{ name: string; subnet: string }>;
  runtimeClassName?: string;
  powerState?: PowerState;
  /** Set (e.g. to the current time) to ask for a reboot; each new value reboots once. */
  rebootRequestedAt?: string;
}

/** What the launcher said about the guest it booted (read once per launcher pod). */
export interface GuestStatus {
  acceleration: "KVM" | "TCG";
  /** Why (for TCG: why KVM could not be used). */
  reason: string;
  /** The launcher pod this was read from. */
  launcherUID: string;
}

export interface VirtualMachineStatus {
  phase?: VMPhase;
  node?: string;
  /** The VPC address of each interface (eth0 first), or the launcher's pod IP without a VPC. */
  ipAddresses?: string[];
  /** Each interface (named as in spec.interfaces; eth0, eth1, ... otherwise) and its VPC address. */
  interfaces?: Array<{ name: string; ip: string }>;
  launcherPod?: string;
  restartCount?: number;
  /** The rebootRequestedAt value last acted on. */
  observedRebootRequest?: string;
  /** The launcher being replaced by a reboot (so a restart of the operator finishes the job). */
  rebootingPodUID?: string;
  /** The booted guest's acceleration, for VMs whose launcher boots a guest. */
  guest?: GuestStatus;
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface VirtualMachine extends KubeObject {
  spec: VirtualMachineSpec;
  status?: VirtualMachineStatus;
}

const quantity: JSONSchema = {
  type: "string",
  "x-kubernetes-validations": [
    { rule: "isQuantity(self)", message: "must be a quantity such as 512Mi or 4Gi" },
  ],
};

export const virtualMachineCRD: CRDSpec = {
  group: GROUP,
  kind: "VirtualMachine",
  plural: "virtualmachines",
  shortNames: ["vm", "vms"],
  namespaced: true,
  validations: [
    {
      rule: "size(self.metadata.name) <= 54",
      message: "a VM name has at most 54 characters (its pod is <name>-launcher)",
    },
  ],
  spec: {
    type: "object",
    required: ["image"],
    properties: {
      image: { type: "string", minLength: 1, description: "The VM (container disk) image to boot." },
      cpu: { type: "integer", minimum: 1, maximum: 1024, default: 1, description: "Virtual CPUs." },
      memory: {
        type: "string",
        default: "1Gi",
        description: "Guest memory.",
        "x-kubernetes-validations": [
          { rule: "isQuantity(self)", message: "memory must be a quantity such as 512Mi or 4Gi" },
          {
            rule: "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
            message: "memory must be greater than 0",
          },
        ],
      },
      disks: {
        type: "array",
        maxItems: 16,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        items: {
          type: "object",
          required: ["name"],
          properties: {
            name: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 40 },
            size: quantity,
            image: { type: "string" },
            boot: { type: "boolean" },
          },
        },
        "x-kubernetes-validations": [
          {
            rule: "self.filter(d, has(d.boot) && d.boot).size() <= 1",
            message: "at most one disk may be the boot volume",
          },
        ],
      },
      cloudInit: { type: "object", properties: { userData: { type: "string", maxLength: 65536 } } },
      sshKeys: { type: "array", items: { type: "string" }, maxItems: 32 },
      interfaces: {
        type: "array",
        maxItems: 8,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        items: {
          type: "object",
          required: ["name", "subnet"],
          properties: {
            name: dnsLabelField("an interface name", 15),
            subnet: objectNameField("an interface's subnet", {
              description: "Subnet name (network controller).",
            }),
          },
        },
      },
      runtimeClassName: objectNameField("runtimeClassName", {
        default: DEFAULT_RUNTIME_CLASS,
        maxLength: 63,
      }),
      powerState: { type: "string", enum: ["Running", "Stopped"], default: "Running" },
      rebootRequestedAt: timeField("rebootRequestedAt", {
        description: "Set to a new time (e.g. now, as RFC 3339) to reboot the VM once.",
      }),
    },
  },
  status: {
    type: "object",
    properties: {
      phase: {
        type: "string",
        enum: ["Pending", "Scheduling", "Starting", "Running", "Stopping", "Stopped", "Failed"],
      },
      node: { type: "string" },
      ipAddresses: { type: "array", items: { type: "string" } },
      interfaces: {
        type: "array",
        items: {
          type: "object",
          required: ["name", "ip"],
          properties: { name: { type: "string" }, ip: { type: "string" } },
        },
      },
      launcherPod: { type: "string" },
      restartCount: { type: "integer" },
      observedRebootRequest: { type: "string" },
      rebootingPodUID: { type: "string" },
      guest: {
        type: "object",
        properties: {
          acceleration: { type: "string", enum: ["KVM", "TCG"] },
          reason: { type: "string" },
          launcherUID: { type: "string" },
        },
      },
      conditions: conditionsSchema,
      observedGeneration: { type: "integer" },
    },
  },
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Power", type: "string", jsonPath: ".spec.powerState" },
    { name: "Node", type: "string", jsonPath: ".status.node" },
    { name: "IP", type: "string", jsonPath: ".status.ipAddresses[0]" },
    { name: "Restarts", type: "integer", jsonPath: ".status.restartCount" },
    { name: "CPU", type: "integer", jsonPath: ".spec.cpu", priority: 1 },
    { name: "Memory", type: "string", jsonPath: ".spec.memory", priority: 1 },
    { name: "Runtime", type: "string", jsonPath: ".spec.runtimeClassName", priority: 1 },
  ],
};

export const VirtualMachineResource: ResourceType<VirtualMachine> = resourceTypeOf(virtualMachineCRD);

export const RuntimeClassResource: ResourceType = {
  group: "node.k8s.io",
  version: "v1",
  plural: "runtimeclasses",
  kind: "RuntimeClass",
  namespaced: false,
};

export function launcherName(vm: string): string {
  return `${vm}-launcher`;
}
