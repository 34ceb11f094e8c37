// The "compute" module: the VirtualMachine kind, its controller, the VM and secure-container
// RuntimeClasses, and RBAC.

import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { ControllerModule, PolicyRule } from "../module.ts";
import { RuntimeClassResource, virtualMachineCRD } from "./api.ts";
import { virtualMachineController } from "./reconcile.ts";

const chartLabels = { "app.kubernetes.io/name": "centaurus", "app.kubernetes.io/part-of": "centaurus" };

/** VM and secure-container runtimes; a node's container runtime must know each handler. */
export const RUNTIME_CLASSES: Array<{ name: string; handler: string; what: string }> = [
  { name: "vm", handler: "vm", what: "full virtual machines (KVM through the VM launcher)" },
  { name: "kata", handler: "kata", what: "Kata Containers: containers in lightweight VMs" },
  { name: "gvisor", handler: "runsc", what: "gVisor: a user-space kernel sandbox" },
  { name: "quark", handler: "quark", what: "Quark secure containers" },
];

export const runtimeClasses: KubeObject[] = RUNTIME_CLASSES.map(
  (rc) =>
    ({
      apiVersion: "node.k8s.io/v1",
      kind: "RuntimeClass",
      metadata: { name: rc.name, labels: chartLabels, annotations: { "centaurus.io/description": rc.what } },
      handler: rc.handler,
    }) as KubeObject,
);

/** Lets the built-in admin and edit roles (and so RoleBindings to them) manage VMs. */
export const vmEditRole: KubeObject = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRole",
  metadata: {
    name: "centaurus-virtualmachines-edit",
    labels: {
      ...chartLabels,
      "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      "rbac.authorization.k8s.io/aggregate-to-edit": "true",
    },
  },
  rules: [{ apiGroups: ["compute.centaurus.io"], resources: ["virtualmachines"], verbs: ["*"] }],
} as KubeObject;

export const computeRBAC: PolicyRule[] = [
  { apiGroups: ["compute.centaurus.io"], resources: ["virtualmachines"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: ["compute.centaurus.io"],
    resources: ["virtualmachines/status"],
    verbs: ["get", "update", "patch"],
  },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "patch"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
  // Which nodes run guests (guest.ts), and the launcher's log line saying KVM or TCG.
  { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
];

export const computeModule: ControllerModule = {
  name: "compute",
  crds: [virtualMachineCRD],
  manifests: [
    ...runtimeClasses.map((object) => ({ resource: RuntimeClassResource, object })),
    { resource: Resources.ClusterRole as ResourceType, object: vmEditRole },
  ],
  rbac: computeRBAC,
  setup(manager, client) {
    // The launcher image is the operator's configuration (the chart's launcherImage value);
    // unset, VMs run as their image under their RuntimeClass, as before.
    manager.add(
      virtualMachineController(client, { launcherImage: process.env.CENTAURUS_LAUNCHER_IMAGE || undefined }),
    );
  },
};
