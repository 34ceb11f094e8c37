// The launcher Pod a VirtualMachine runs as, and the VM's status read from it (pure).
// The ordinary scheduler places the launcher, so VMs and containers share nodes, quota and
// tenancy; stopping removes it (freeing the node), starting creates it again.

import type { Pod } from "../../pkg/kube/core.ts";
import { ApiError, isQuotaUncounted } from "../../pkg/kube/errors.ts";
import { controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { type Condition, type ConditionUpdate, setCondition } from "../../pkg/status/conditions.ts";
import { SUBNET_ANNOTATION, vpcAddresses } from "../shared/pod-network.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  DEFAULT_RUNTIME_CLASS,
  launcherName,
  type VirtualMachine,
  type VirtualMachineStatus,
  VM_LABEL,
  type VMPhase,
} from "./api.ts";
import {
  GUESTS_VALUE,
  guestCondition,
  guestLauncherSpec,
  guestTrouble,
  isGuestLauncher,
  isPodReady,
  LAUNCHER_ANNOTATION,
} from "./guest.ts";

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

/** The launcher's volumes and where the compute container mounts them (cloud-init, extra disks). */
export function launcherVolumes(vm: VirtualMachine): { volumes: unknown[]; mounts: unknown[] } {
  const volumes: unknown[] = [];
  const mounts: unknown[] = [];
  if (needsCloudInit(vm)) {
    volumes.push({ name: "cloudinit", secret: { secretName: cloudInitSecretName(vm.metadata.name ?? "") } });
    mounts.push({ name: "cloudinit", mountPath: "/var/run/centaurus/cloudinit", readOnly: true });
  }
  for (const d of vm.spec.disks ?? []) {
    if (d.boot) continue; // the boot volume is the image itself
    volumes.push({ name: `disk-${d.name}`, emptyDir: d.size ? { sizeLimit: d.size } : {} });
    mounts.push({ name: `disk-${d.name}`, mountPath: `/var/run/centaurus/disks/${d.name}` });
  }
  return { volumes, mounts };
}

/**
 * The image and network interfaces, for the launcher to read; the interfaces' subnets, in
 * order, for the network pillar to wire (eth0 on the first).
 */
function launcherAnnotations(vm: VirtualMachine): Record<string, string> {
  const annotations: Record<string, string> = { "compute.centaurus.io/image": vm.spec.image };
  if (vm.spec.interfaces?.length) {
    annotations["network.centaurus.io/interfaces"] = JSON.stringify(vm.spec.interfaces);
    annotations[SUBNET_ANNOTATION] = vm.spec.interfaces.map((i) => i.subnet).join(",");
  }
  return annotations;
}

/** The one container that runs the VM, sized as the VM is (requests = limits). */
function computeContainer(vm: VirtualMachine, mounts: unknown[]) {
  const resources = { cpu: String(vm.spec.cpu ?? 1), memory: vm.spec.memory ?? "1Gi" };
  return {
    name: "compute",
    image: vm.spec.image,
    env: [
      { name: "VM_NAME", value: vm.metadata.name ?? "" },
      { name: "VM_CPUS", value: String(vm.spec.cpu ?? 1) },
      { name: "VM_MEMORY", value: vm.spec.memory ?? "1Gi" },
    ],
    resources: { requests: resources, limits: resources },
    volumeMounts: mounts,
  };
}

/**
 * The launcher pod. With `guestLauncherImage` (the VM's node can run guests, see guest.ts) it
 * boots the VM's image as a container disk under QEMU; without, it is the VM's image under
 * its RuntimeClass.
 */
export function desiredLauncher(
  vm: VirtualMachine,
  tenant: string | undefined,
  guestLauncherImage?: string,
): Pod {
  const { volumes, mounts } = launcherVolumes(vm);
  const annotations = launcherAnnotations(vm);
  if (guestLauncherImage) annotations[LAUNCHER_ANNOTATION] = GUESTS_VALUE;
  const spec = guestLauncherImage
    ? guestLauncherSpec(vm, guestLauncherImage, { volumes, mounts, cloudInit: needsCloudInit(vm) })
    : {
        runtimeClassName: vm.spec.runtimeClassName ?? DEFAULT_RUNTIME_CLASS,
        restartPolicy: "Always",
        terminationGracePeriodSeconds: 30,
        containers: [computeContainer(vm, mounts)],
        volumes,
      };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: launcherName(vm.metadata.name ?? ""),
      namespace: vm.metadata.namespace,
      labels: labels(vm, tenant),
      annotations,
      ownerReferences: [owner(vm)],
    },
    spec: spec as Pod["spec"],
  };
}

export type LaunchError = { reason: string; message: string };

/**
 * Why the API server refused a launcher (403 or 422), undefined for any other error (pure). A
 * quota that is not counted yet is no refusal: the create is retried until it is.
 */
export function refusal(err: unknown): LaunchError | undefined {
  if (!(err instanceof ApiError && (err.code === 403 || err.code === 422))) return undefined;
  if (isQuotaUncounted(err)) return undefined;
  const quota = /exceeded quota/.test(err.message);
  return {
    reason: quota ? "QuotaExceeded" : err.code === 403 ? "LauncherForbidden" : "InvalidLauncher",
    message: err.status.message ?? err.message,
  };
}

/** Where a VM stands given its launcher: its phase and the conditions that say why (pure). */
export interface LauncherState {
  phase: VMPhase;
  ready: ConditionUpdate;
  /** The Scheduled condition; undefined drops it. */
  scheduled?: ConditionUpdate;
}

function notReady(reason: string, message: string, gen: number | undefined): ConditionUpdate {
  return { type: "Ready", status: "False", reason, message, observedGeneration: gen };
}

/** A launcher that exists, runs a VM that should run, and is not going away. */
function liveLauncherState(vm: VirtualMachine, pod: Pod, gen: number | undefined): LauncherState {
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") {
    return {
      phase: "Failed",
      ready: notReady("LauncherExited", `the launcher pod ended (${pod.status.phase})`, gen),
    };
  }
  if (!pod.spec?.nodeName) return schedulingState(pod, gen);
  // A guest-booting launcher is Ready once the guest booted (its readiness probe), not when
  // its container started.
  if (isGuestLauncher(pod) && !isPodReady(pod)) {
    const trouble = guestTrouble(vm, pod);
    if (trouble) return { phase: "Starting", ready: notReady(trouble.reason, trouble.message, gen) };
  }
  if (pod.status?.phase === "Running" && isGuestLauncher(pod) && !isPodReady(pod)) {
    return {
      phase: "Starting",
      ready: notReady("Booting", `the guest is booting on ${pod.spec.nodeName}`, gen),
    };
  }
  if (pod.status?.phase === "Running") {
    return {
      phase: "Running",
      ready: {
        type: "Ready",
        status: "True",
        reason: "Running",
        message: `running on ${pod.spec.nodeName}`,
        observedGeneration: gen,
      },
    };
  }
  return { phase: "Starting", ready: notReady("Starting", `starting on ${pod.spec.nodeName}`, gen) };
}

/** A launcher not placed yet: waiting for the scheduler, or no node can run it. */
function schedulingState(pod: Pod, gen: number | undefined): LauncherState {
  const podScheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  const unschedulable = podScheduled?.status === "False" && podScheduled.reason === "Unschedulable";
  if (!unschedulable) {
    return { phase: "Scheduling", ready: notReady("Scheduling", "waiting for the scheduler", gen) };
  }
  return {
    phase: "Scheduling",
    ready: notReady("Unschedulable", `no node can run the VM: ${podScheduled?.message ?? ""}`, gen),
    scheduled: {
      type: "Scheduled",
      status: "False",
      reason: "Unschedulable",
      message: podScheduled?.message ?? "",
      observedGeneration: gen,
    },
  };
}

/** Phase, Ready and Scheduled of a VM given its launcher (undefined when there is none) — pure. */
export function launcherState(
  vm: VirtualMachine,
  pod: Pod | undefined,
  launchError: LaunchError | undefined,
): LauncherState {
  const gen = vm.metadata.generation;
  const running = (vm.spec.powerState ?? "Running") === "Running";
  let state: LauncherState;
  if (!running) {
    state = pod
      ? { phase: "Stopping", ready: notReady("Stopping", "stopping: removing the launcher", gen) }
      : { phase: "Stopped", ready: notReady("Stopped", "the VM is stopped", gen) };
  } else if (!pod) {
    state = launchError
      ? { phase: "Pending", ready: notReady(launchError.reason, launchError.message, gen) }
      : { phase: "Pending", ready: notReady("Creating", "creating the launcher pod", gen) };
  } else if (pod.metadata.deletionTimestamp) {
    state = {
      phase: "Starting",
      ready: notReady("Rebooting", "the previous launcher is shutting down", gen),
    };
  } else {
    state = liveLauncherState(vm, pod, gen);
  }
  if (!state.scheduled && pod?.spec?.nodeName) {
    state.scheduled = {
      type: "Scheduled",
      status: "True",
      reason: "Scheduled",
      message: `placed on ${pod.spec.nodeName}`,
      observedGeneration: gen,
    };
  }
  return state;
}

/**
 * The VM's VPC addresses, per interface (named as in its spec, eth0 first), from what the
 * network pillar wrote on the launcher; [] until it has (or where no VPC network wires it).
 */
export function vmInterfaces(vm: VirtualMachine, pod: Pod): Array<{ name: string; ip: string }> {
  return vpcAddresses(pod.metadata.annotations).map((a, i) => ({
    name: vm.spec.interfaces?.[i]?.name ?? a.iface,
    ip: a.ip,
  }));
}

/**
 * What a VM reports, given its launcher (undefined when there is none) — pure. Its IPs are its
 * VPC addresses (those its endpoints have); the launcher's own pod IP only where no VPC
 * network wires it.
 */
export function observe(
  vm: VirtualMachine,
  pod: Pod | undefined,
  launchError: LaunchError | undefined,
  now = new Date(),
): VirtualMachineStatus {
  const prev = vm.status ?? {};
  const gen = vm.metadata.generation;
  const { phase, ready, scheduled } = launcherState(vm, pod, launchError);
  let conditions: Condition[] = setCondition(prev.conditions, ready, now);
  if (scheduled) conditions = setCondition(conditions, scheduled, now);
  else conditions = conditions.filter((c) => c.type !== "Scheduled");
  const guest = guestCondition(vm, pod, prev.guest);
  if (guest) conditions = setCondition(conditions, guest, now);
  else conditions = conditions.filter((c) => c.type !== "Guest");
  const live = pod && !pod.metadata.deletionTimestamp;
  const interfaces = live ? vmInterfaces(vm, pod) : [];
  const ips = interfaces.length
    ? interfaces.map((i) => i.ip)
    : live
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
  if (interfaces.length) status.interfaces = interfaces;
  if (pod) status.launcherPod = pod.metadata.name;
  if (prev.observedRebootRequest) status.observedRebootRequest = prev.observedRebootRequest;
  if (prev.rebootingPodUID) status.rebootingPodUID = prev.rebootingPodUID;
  if (prev.guest) status.guest = prev.guest;
  return status;
}
