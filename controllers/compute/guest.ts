// VMs whose guest Centaurus boots (pure): the QEMU launcher pod (`centaurus vm-launcher` in the
// launcher image, the VM's image as a container disk), its overhead, and what its status says
// about the guest: Running only once the guest booted, and a Guest condition with the
// acceleration it got (KVM or TCG) and why.
//
// When: the operator knows a launcher image (CENTAURUS_LAUNCHER_IMAGE) and the cluster has
// nodes that run guests, marked by GUESTS_LABEL (the local cluster's real nodes carry it). The
// launcher is then pinned to those nodes. Otherwise (kwok nodes, or no launcher image) a VM is
// what it was before: its image run under its RuntimeClass, and the Guest condition says that
// no guest boots there.

import type { Pod } from "../../pkg/kube/core.ts";
import type { ConditionUpdate } from "../../pkg/status/conditions.ts";
import { parseMilli } from "../tenancy/quantity.ts";
import { DEFAULT_RUNTIME_CLASS, type GuestStatus, type VirtualMachine } from "./api.ts";

/** On nodes whose pods are real processes able to run QEMU (at least under TCG). */
export const GUESTS_LABEL = "compute.centaurus.io/guests";
export const GUESTS_VALUE = "qemu";
/** On QEMU launcher pods: they boot a guest (their readiness is the guest's). */
export const LAUNCHER_ANNOTATION = "compute.centaurus.io/launcher";

/**
 * What the launcher costs beyond the guest, added to the pod's requests and limits (requests =
 * limits: the pod is Guaranteed, so the guest is not squeezed by its neighbours). Memory: the
 * guest's RAM is QEMU's memory and counts in the pod's cgroup as the guest touches it; on top
 * come QEMU itself (~40 MiB resident, plus the TCG translation cache it fills as it runs)
 * and the launcher's Node.js (~50 MiB). 256 Mi leaves room for both with margin (KubeVirt
 * reserves ~180-220 Mi per VM for the same reasons). CPU: the vCPU threads use the guest's
 * share; 100m is for the launcher, QEMU's main loop and I/O threads, so they never steal
 * from the vCPUs.
 */
export const LAUNCHER_OVERHEAD = { cpuMilli: 100n, memoryMi: 256n };

export const CONTAINER_DISK_DIR = "/var/run/centaurus/disk";
export const CLOUD_INIT_DIR = "/var/run/centaurus/cloudinit";
export const LAUNCHER_STATE_DIR = "/run/centaurus-launcher";
const TOOLS_DIR = "/var/run/centaurus/tools";
/** The launcher's own power-down deadline; the pod's grace period must exceed it. */
export const STOP_TIMEOUT_S = 20;

/** Whether a VM's launcher boots a guest here: a launcher image is known and nodes run guests. */
export function bootsGuest(launcherImage: string | undefined, guestNodes: number): boolean {
  return Boolean(launcherImage) && guestNodes > 0;
}

export function isGuestLauncher(pod: Pod | undefined): boolean {
  return pod?.metadata.annotations?.[LAUNCHER_ANNOTATION] === GUESTS_VALUE;
}

/** The pod's resources: the guest's CPU and memory plus the launcher's overhead. */
export function guestLauncherResources(vm: VirtualMachine): { cpu: string; memory: string } {
  const cpuMilli = BigInt(vm.spec.cpu ?? 1) * 1000n + LAUNCHER_OVERHEAD.cpuMilli;
  const guestMi = parseMilli(vm.spec.memory ?? "1Gi") / 1000n / (1024n * 1024n);
  return { cpu: `${cpuMilli}m`, memory: `${guestMi + LAUNCHER_OVERHEAD.memoryMi}Mi` };
}

/**
 * Baseline- (and restricted-) compatible: no privilege, no host paths, no added capability.
 * /dev/kvm would reach the launcher through a device plugin; without one it runs TCG.
 */
const securityContext = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
};

/**
 * The launcher pod's spec for a guest-booting VM. The container disk (spec.image) reaches the
 * launcher as KubeVirt's does, through init containers, so any runtime runs it: the first
 * copies a static busybox out of the launcher image, the second runs in the disk's image
 * (which may be FROM scratch) and copies its /disk into an emptyDir with it.
 */
export function guestLauncherSpec(
  vm: VirtualMachine,
  launcherImage: string,
  extra: { volumes: unknown[]; mounts: unknown[]; cloudInit: boolean },
): Record<string, unknown> {
  const resources = guestLauncherResources(vm);
  const small = { cpu: "100m", memory: "64Mi" };
  const args = [
    "--name",
    `${vm.metadata.namespace}/${vm.metadata.name}`,
    "--container-disk",
    CONTAINER_DISK_DIR,
    "--cpu",
    String(vm.spec.cpu ?? 1),
    "--memory",
    vm.spec.memory ?? "1Gi",
    "--state",
    LAUNCHER_STATE_DIR,
    "--stop-timeout",
    String(STOP_TIMEOUT_S),
    ...(extra.cloudInit ? ["--cloud-init", CLOUD_INIT_DIR] : []),
  ];
  return {
    restartPolicy: "Always",
    // The guest powers off through ACPI within STOP_TIMEOUT_S; then the launcher exits.
    terminationGracePeriodSeconds: STOP_TIMEOUT_S + 10,
    nodeSelector: { [GUESTS_LABEL]: GUESTS_VALUE },
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    initContainers: [
      {
        name: "tools",
        image: launcherImage,
        command: ["/bin/busybox", "cp", "/bin/busybox", `${TOOLS_DIR}/busybox`],
        resources: { requests: small, limits: small },
        securityContext,
        volumeMounts: [{ name: "tools", mountPath: TOOLS_DIR }],
      },
      {
        name: "container-disk",
        image: vm.spec.image,
        command: [`${TOOLS_DIR}/busybox`, "cp", "-r", "/disk/.", CONTAINER_DISK_DIR],
        resources: { requests: small, limits: small },
        securityContext,
        volumeMounts: [
          { name: "tools", mountPath: TOOLS_DIR, readOnly: true },
          { name: "container-disk", mountPath: CONTAINER_DISK_DIR },
        ],
      },
    ],
    containers: [
      {
        name: "compute",
        image: launcherImage,
        args,
        resources: { requests: resources, limits: resources },
        securityContext,
        // A launcher that fails leaves its log's tail (the console's last lines) in its status.
        terminationMessagePolicy: "FallbackToLogsOnError",
        // Ready = the guest booted: the launcher writes this file when the console shows it.
        readinessProbe: {
          exec: { command: ["/bin/busybox", "test", "-e", `${LAUNCHER_STATE_DIR}/ready`] },
          periodSeconds: 1,
          failureThreshold: 1,
        },
        volumeMounts: [
          { name: "container-disk", mountPath: CONTAINER_DISK_DIR, readOnly: true },
          { name: "launcher-state", mountPath: LAUNCHER_STATE_DIR },
          ...extra.mounts,
        ],
      },
    ],
    volumes: [
      { name: "tools", emptyDir: { sizeLimit: "16Mi" } },
      { name: "container-disk", emptyDir: {} },
      { name: "launcher-state", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      ...extra.volumes,
    ],
  };
}

/** The launcher's acceleration line ("centaurus-launcher: acceleration=tcg reason=...") parsed. */
export function parseAcceleration(log: string): { acceleration: "KVM" | "TCG"; reason: string } | undefined {
  const m = /^centaurus-launcher: acceleration=(kvm|tcg)(?: reason="([^"]*)")?$/m.exec(log);
  if (!m) return undefined;
  return m[1] === "kvm"
    ? { acceleration: "KVM", reason: "/dev/kvm runs guests on this node" }
    : { acceleration: "TCG", reason: m[2] || "no reason given" };
}

export function isPodReady(pod: Pod | undefined): boolean {
  return pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The Guest condition: whether a guest runs, and with which acceleration; undefined drops it. */
export function guestCondition(
  vm: VirtualMachine,
  pod: Pod | undefined,
  guest: GuestStatus | undefined,
): ConditionUpdate | undefined {
  const gen = vm.metadata.generation;
  if (!pod || pod.metadata.deletionTimestamp || !pod.spec?.nodeName) return undefined;
  const node = pod.spec.nodeName;
  if (!isGuestLauncher(pod)) {
    return {
      type: "Guest",
      status: "False",
      reason: "NoGuest",
      message:
        `no guest runs on ${node}: it is not a node that runs guests (label ${GUESTS_LABEL}=${GUESTS_VALUE}; ` +
        `kwok nodes fake their pods), so the launcher is the image ${vm.spec.image} under RuntimeClass ` +
        `${vm.spec.runtimeClassName ?? DEFAULT_RUNTIME_CLASS}`,
      observedGeneration: gen,
    };
  }
  const trouble = isPodReady(pod) ? undefined : guestTrouble(vm, pod);
  if (trouble) return { type: "Guest", status: "False", ...trouble, observedGeneration: gen };
  if (!guest || !isPodReady(pod) || guest.launcherUID !== pod.metadata.uid) {
    return {
      type: "Guest",
      status: "False",
      reason: "Booting",
      message: `the guest is booting on ${node}`,
      observedGeneration: gen,
    };
  }
  return {
    type: "Guest",
    status: "True",
    reason: guest.acceleration,
    message: `the guest booted on ${node} under ${guest.acceleration}: ${guest.reason}`,
    observedGeneration: gen,
  };
}

/** What the VM controller keeps of a container's status (slim cache, see informers.ts). */
export interface SlimContainerStatus {
  name: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string; message?: string } };
}

export function slimContainerStatuses(list: unknown): SlimContainerStatus[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return (list as SlimContainerStatus[]).map((c) => ({
    name: c.name,
    restartCount: c.restartCount,
    state: c.state?.waiting ? { waiting: c.state.waiting } : undefined,
    lastState: c.lastState?.terminated
      ? {
          terminated: {
            exitCode: c.lastState.terminated.exitCode,
            reason: c.lastState.terminated.reason,
            message: c.lastState.terminated.message,
          },
        }
      : undefined,
  }));
}

const PULL_FAILURES = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"]);
/** The console's last lines kept in a condition's message. */
const CONSOLE_LINES = 6;

/**
 * Why a guest-booting launcher is not coming up, or undefined while it simply boots (pure): its
 * container disk cannot be pulled, or the guest failed and the launcher ended (its
 * termination message is the tail of its log, i.e. the console's last lines, as the pod asks
 * with terminationMessagePolicy FallbackToLogsOnError).
 */
export function guestTrouble(vm: VirtualMachine, pod: Pod): { reason: string; message: string } | undefined {
  const statuses = [
    ...((pod.status?.initContainerStatuses as SlimContainerStatus[] | undefined) ?? []),
    ...((pod.status?.containerStatuses as SlimContainerStatus[] | undefined) ?? []),
  ];
  const pull = statuses.find((c) => PULL_FAILURES.has(c.state?.waiting?.reason ?? ""));
  if (pull) {
    const what =
      pull.name === "container-disk" ? `the container disk ${vm.spec.image}` : "the launcher image";
    return {
      reason: "ImageUnavailable",
      message:
        `${what} cannot be had: ${pull.state?.waiting?.reason}: ${pull.state?.waiting?.message ?? ""}`.trim(),
    };
  }
  const compute = statuses.find((c) => c.name === "compute");
  const ended = compute?.lastState?.terminated;
  if (ended && ended.exitCode !== 0) {
    const lines = (ended.message ?? "").trim().split("\n").slice(-CONSOLE_LINES).join("\n");
    return {
      reason: "GuestFailed",
      message: `the guest did not come up (launcher exit ${ended.exitCode}, ${compute.restartCount ?? 0} restarts); the console's last lines:\n${lines}`,
    };
  }
  return undefined;
}
