// The launcher Pod a VirtualMachine runs as, and the VM's status read from it (pure).
// The ordinary scheduler places the launcher, so VMs and containers share nodes, quota and
// tenancy; stopping removes it (freeing the node), starting creates it again.

import type { Pod } from "../../pkg/kube/core.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { type Condition, type ConditionUpdate, setCondition } from "../../pkg/status/conditions.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  DEFAULT_RUNTIME_CLASS,
  launcherName,
  type VirtualMachine,
  type VirtualMachineStatus,
  VM_LABEL,
  type VMPhase,
} from "./api.ts";

export const CLOUD_INIT_SUFFIX = "-cloudinit";

export function cloudInitSecretName(vm: string): string {
  return `${vm}${CLOUD_INIT_SUFFIX}`;
}

function owner(vm: VirtualMachine) {
  return controllerReference({ ...vm, apiVersion: "compute.centaurus.io/v1alpha1", kind: "VirtualMachine" });
}

function labels(vm: VirtualMachine, tenant: string | undefined): Record<string, string> {
  return { [VM_LABEL]: vm.metadata.name ?? "", ...(tenant ? { [TENANT_LABEL]: tenant } : {}) };
}

export function needsCloudInit(vm: VirtualMachine): boolean {
  return Boolean(vm.spec.cloudInit?.userData) || (vm.spec.sshKeys?.length ?? 0) > 0;
}

/** The Secret holding cloud-init user data and SSH keys (both may be sensitive). */
export function desiredCloudInit(vm: VirtualMachine, tenant: string | undefined): KubeObject {
  const data: Record<string, string> = {};
  if (vm.spec.cloudInit?.userData) data.userdata = vm.spec.cloudInit.userData;
  if (vm.spec.sshKeys?.length) data.ssh_authorized_keys = vm.spec.sshKeys.join("\n");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: cloudInitSecretName(vm.metadata.name ?? ""),
      namespace: vm.metadata.namespace,
      labels: labels(vm, tenant),
      ownerReferences: [owner(vm)],
    },
    type: "Opaque",
    stringData: data,
  } as KubeObject;
}

export function desiredLauncher(vm: VirtualMachine, tenant: string | undefined): Pod {
  const name = vm.metadata.name ?? "";
  const resources = { cpu: String(vm.spec.cpu ?? 1), memory: vm.spec.memory ?? "1Gi" };
  const volumes: unknown[] = [];
  const mounts: unknown[] = [];
  if (needsCloudInit(vm)) {
    volumes.push({ name: "cloudinit", secret: { secretName: cloudInitSecretName(name) } });
    mounts.push({ name: "cloudinit", mountPath: "/var/run/centaurus/cloudinit", readOnly: true });
  }
  for (const d of vm.spec.disks ?? []) {
    if (d.boot) continue; // the boot volume is the image itself
    volumes.push({ name: `disk-${d.name}`, emptyDir: d.size ? { sizeLimit: d.size } : {} });
    mounts.push({ name: `disk-${d.name}`, mountPath: `/var/run/centaurus/disks/${d.name}` });
  }
  const annotations: Record<string, string> = { "compute.centaurus.io/image": vm.spec.image };
  if (vm.spec.interfaces?.length) {
    annotations["network.centaurus.io/interfaces"] = JSON.stringify(vm.spec.interfaces);
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: launcherName(name),
      namespace: vm.metadata.namespace,
      labels: labels(vm, tenant),
      annotations,
      ownerReferences: [owner(vm)],
    },
    spec: {
      runtimeClassName: vm.spec.runtimeClassName ?? DEFAULT_RUNTIME_CLASS,
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: "compute",
          image: vm.spec.image,
          env: [
            { name: "VM_NAME", value: name },
            { name: "VM_CPUS", value: String(vm.spec.cpu ?? 1) },
            { name: "VM_MEMORY", value: vm.spec.memory ?? "1Gi" },
          ],
          resources: { requests: resources, limits: resources },
          volumeMounts: mounts,
        },
      ],
      volumes,
    },
  };
}

/** What a VM reports, given its launcher (undefined when there is none) — pure. */
export function observe(
  vm: VirtualMachine,
  pod: Pod | undefined,
  launchError: { reason: string; message: string } | undefined,
  now = new Date(),
): VirtualMachineStatus {
  const prev = vm.status ?? {};
  const running = (vm.spec.powerState ?? "Running") === "Running";
  let phase: VMPhase;
  let ready: ConditionUpdate;
  let scheduled: ConditionUpdate | undefined;
  const gen = vm.metadata.generation;
  const podScheduled = pod?.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (!running) {
    phase = pod ? "Stopping" : "Stopped";
    ready = {
      type: "Ready",
      status: "False",
      reason: pod ? "Stopping" : "Stopped",
      message: pod ? "stopping: removing the launcher" : "the VM is stopped",
      observedGeneration: gen,
    };
  } else if (!pod) {
    phase = "Pending";
    ready = launchError
      ? {
          type: "Ready",
          status: "False",
          reason: launchError.reason,
          message: launchError.message,
          observedGeneration: gen,
        }
      : {
          type: "Ready",
          status: "False",
          reason: "Creating",
          message: "creating the launcher pod",
          observedGeneration: gen,
        };
  } else if (pod.metadata.deletionTimestamp) {
    phase = "Starting";
    ready = {
      type: "Ready",
      status: "False",
      reason: "Rebooting",
      message: "the previous launcher is shutting down",
      observedGeneration: gen,
    };
  } else if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") {
    phase = "Failed";
    ready = {
      type: "Ready",
      status: "False",
      reason: "LauncherExited",
      message: `the launcher pod ended (${pod.status.phase})`,
      observedGeneration: gen,
    };
  } else if (!pod.spec?.nodeName) {
    phase = "Scheduling";
    const unschedulable = podScheduled?.status === "False" && podScheduled.reason === "Unschedulable";
    ready = {
      type: "Ready",
      status: "False",
      reason: unschedulable ? "Unschedulable" : "Scheduling",
      message: unschedulable
        ? `no node can run the VM: ${podScheduled?.message ?? ""}`
        : "waiting for the scheduler",
      observedGeneration: gen,
    };
    if (unschedulable) {
      scheduled = {
        type: "Scheduled",
        status: "False",
        reason: "Unschedulable",
        message: podScheduled?.message ?? "",
        observedGeneration: gen,
      };
    }
  } else if (pod.status?.phase === "Running") {
    phase = "Running";
    ready = {
      type: "Ready",
      status: "True",
      reason: "Running",
      message: `running on ${pod.spec.nodeName}`,
      observedGeneration: gen,
    };
  } else {
    phase = "Starting";
    ready = {
      type: "Ready",
      status: "False",
      reason: "Starting",
      message: `starting on ${pod.spec.nodeName}`,
      observedGeneration: gen,
    };
  }
  if (!scheduled && pod?.spec?.nodeName) {
    scheduled = {
      type: "Scheduled",
      status: "True",
      reason: "Scheduled",
      message: `placed on ${pod.spec.nodeName}`,
      observedGeneration: gen,
    };
  }
  let conditions: Condition[] = setCondition(prev.conditions, ready, now);
  if (scheduled) conditions = setCondition(conditions, scheduled, now);
  else conditions = conditions.filter((c) => c.type !== "Scheduled");
  const live = pod && !pod.metadata.deletionTimestamp;
  const ips = live
    ? (pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []))
    : [];
  const status: VirtualMachineStatus = {
    phase,
    restartCount: prev.restartCount ?? 0,
    conditions,
    observedGeneration: gen,
  };
  if (live && pod.spec?.nodeName) status.node = pod.spec.nodeName;
  if (ips.length) status.ipAddresses = ips;
  if (pod) status.launcherPod = pod.metadata.name;
  if (prev.observedRebootRequest) status.observedRebootRequest = prev.observedRebootRequest;
  if (prev.rebootingPodUID) status.rebootingPodUID = prev.rebootingPodUID;
  return status;
}
