// The VirtualMachine reconciler (thin): one owner-referenced launcher Pod per running VM,
// none for a stopped one; reboots replace the launcher once per request; status from the Pod.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { ApiError, isAlreadyExists, isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  launcherName,
  type VirtualMachine,
  VirtualMachineResource,
  type VirtualMachineStatus,
} from "./api.ts";
import { bootsGuest, isGuestLauncher, isPodReady, parseAcceleration } from "./guest.ts";
import { guestNodeInformer, podInformer, secretInformer } from "./informers.ts";
import {
  cloudInitSecretName,
  desiredCloudInit,
  desiredLauncher,
  type LaunchError,
  needsCloudInit,
  observe,
  refusal,
} from "./launcher.ts";

export interface ComputeOptions {
  concurrency?: number;
  logger?: Logger;
  /**
   * The launcher image (`centaurus vm-launcher` and QEMU, hack/build-launcher-image.sh): with
   * it, VMs boot a guest on the nodes that run guests (guest.ts); without, VMs are their
   * image under their RuntimeClass.
   */
  launcherImage?: string;
}

/** What one reconcile works on: the VM, its launcher (if ours), its tenant, and the status being built. */
interface VmView {
  vm: VirtualMachine;
  pod: Pod | undefined;
  tenant: string | undefined;
  /** The status as read. */
  prev: VirtualMachineStatus;
  /** The status as this reconcile changes it. */
  status: VirtualMachineStatus;
}

export function virtualMachineController(client: KubeClient, opts: ComputeOptions = {}): Controller {
  const events = new EventRecorder(client, "centaurus.io/compute", "compute", opts.logger);
  return new Controller({
    name: "virtualmachine",
    for: VirtualMachineResource,
    owns: [
      { resource: Resources.Pod, informer: podInformer },
      { resource: Resources.Secret, informer: secretInformer },
    ],
    // Where no launcher image is known, VMs never boot guests: no node watch at all.
    watches: opts.launcherImage
      ? [{ resource: Resources.Node, informer: guestNodeInformer, map: () => [] }]
      : [],
    concurrency: opts.concurrency ?? 16,
    logger: opts.logger,
    reconcile: async (req, ctx) => {
      const view = await readVm(client, ctx.cache, req.key);
      if (!view) return undefined;
      const running = (view.vm.spec.powerState ?? "Running") === "Running";
      await reboot(client, events, view, running);
      let launchError: LaunchError | undefined;
      if (running) {
        const image = bootsGuest(
          opts.launcherImage,
          opts.launcherImage
            ? ctx.cache.informerFor(Resources.Node, guestNodeInformer).store.list().length
            : 0,
        )
          ? opts.launcherImage
          : undefined;
        const launched = await launch(client, events, ctx.cache, view, image);
        // A first launcher: its own watch event brings the next status (one write, not two).
        if (launched === "first") return undefined;
        launchError = launched;
      } else if (view.pod && !view.pod.metadata.deletionTimestamp) {
        await deletePod(client, view.pod);
        await events.record(view.vm, "Normal", "Stopping", "power state Stopped: removing the launcher");
      }
      // The log not read yet (kubelet busy, say) does not hold the rest of the status back.
      const guestRead = running ? await readGuest(client, view).catch(() => false) : true;
      await report(client, events, view, launchError);
      // A refused launcher is retried (quota may free up); everything else follows pod events.
      if (launchError) return { requeueAfterMs: 10_000 };
      if (!guestRead) return { requeueAfterMs: 2_000 };
      return undefined;
    },
  });
}

/** Read: the VM (fresh from the API server when a reboot is pending), its launcher and tenant. */
async function readVm(
  client: KubeClient,
  cache: SharedInformerFactory,
  key: string,
): Promise<VmView | undefined> {
  let vm = cache.informerFor(VirtualMachineResource).store.get(key) as VirtualMachine | undefined;
  // Gone or going: the launcher and Secret follow through their owner references.
  if (!vm || vm.metadata.deletionTimestamp) return undefined;
  const ns = vm.metadata.namespace ?? "";
  const name = vm.metadata.name ?? "";
  let pod = cache.informerFor(Resources.Pod, podInformer).store.get(`${ns}/${launcherName(name)}`) as
    | Pod
    | undefined;
  if (pod && pod.metadata.ownerReferences?.find((r) => r.controller)?.uid !== vm.metadata.uid) {
    // A pod of that name that is not ours (or a previous VM's of the same name, being collected).
    pod = undefined;
  }
  const tenant = cache.informerFor(Resources.Namespace, { labelSelector: TENANT_LABEL }).store.get(ns)
    ?.metadata.labels?.[TENANT_LABEL];
  if (vm.spec.rebootRequestedAt && vm.spec.rebootRequestedAt !== vm.status?.observedRebootRequest) {
    // A reboot is counted once: make sure the cache is not simply behind our last write.
    vm = await client.get<VirtualMachine>(VirtualMachineResource, name, ns);
  }
  const prev = vm.status ?? {};
  return { vm, pod, tenant, prev, status: { ...prev } };
}

/**
 * Reboot: record first (restart count, the pod being replaced), then delete that pod, so an
 * operator restart in between finishes the same reboot instead of counting another.
 */
async function reboot(
  client: KubeClient,
  events: EventRecorder,
  view: VmView,
  running: boolean,
): Promise<void> {
  const { pod, prev, status } = view;
  const request = view.vm.spec.rebootRequestedAt;
  if (running && request && request !== prev.observedRebootRequest) {
    status.observedRebootRequest = request;
    status.restartCount = (prev.restartCount ?? 0) + 1;
    if (pod && !pod.metadata.deletionTimestamp) status.rebootingPodUID = pod.metadata.uid;
    await writeStatus(client, view.vm, status);
    await events.record(
      view.vm,
      "Normal",
      "Rebooting",
      `reboot requested at ${request} (restart ${status.restartCount})`,
    );
    view.vm = { ...view.vm, status };
  }
  if (!status.rebootingPodUID) return;
  if (pod && pod.metadata.uid === status.rebootingPodUID) {
    if (!pod.metadata.deletionTimestamp) await deletePod(client, pod);
  } else {
    status.rebootingPodUID = undefined; // replaced: the reboot is done
    await events.record(
      view.vm,
      "Normal",
      "Rebooted",
      `the launcher was replaced (restart ${status.restartCount ?? 0})`,
    );
  }
}

/**
 * A running VM's cloud-init Secret and launcher Pod. "first" when a first launcher was just
 * created, the refusal when the API server refused the launcher, undefined otherwise.
 */
async function launch(
  client: KubeClient,
  events: EventRecorder,
  cache: SharedInformerFactory,
  view: VmView,
  guestLauncherImage: string | undefined,
): Promise<"first" | LaunchError | undefined> {
  const { vm, pod, tenant, prev, status } = view;
  const ns = vm.metadata.namespace ?? "";
  const name = vm.metadata.name ?? "";
  if (needsCloudInit(vm)) {
    const secrets = cache.informerFor(Resources.Secret, secretInformer);
    if (!secrets.store.get(`${ns}/${cloudInitSecretName(name)}`))
      await apply(client, Resources.Secret, desiredCloudInit(vm, tenant));
  }
  // The cache may simply not show a launcher created moments ago: ask the API server first,
  // as a create that fails with AlreadyExists has still been charged to the namespace's quota
  // by admission (until the quota controller recounts).
  if (pod || status.rebootingPodUID || (await launcherExists(client, ns, name))) return undefined;
  try {
    await client.create(Resources.Pod, desiredLauncher(vm, tenant, guestLauncherImage));
    return prev.phase === undefined ? "first" : undefined;
  } catch (err) {
    // AlreadyExists: the old launcher (a reboot's, or a previous VM's of this name) is still going away.
    if (isAlreadyExists(err)) return undefined;
    const launchError = refusal(err);
    if (!launchError) throw err;
    if (prev.conditions?.[0]?.reason !== launchError.reason) {
      await events.record(vm, "Warning", launchError.reason, launchError.message);
    }
    return launchError;
  }
}

/**
 * The booted guest's acceleration, from the launcher's log, once per launcher pod: the
 * launcher prints it before it starts QEMU, so it is in the log's first lines. (The log is
 * what the launcher already writes for `kubectl logs`; no API access from the pod is needed.)
 */
async function readGuest(client: KubeClient, view: VmView): Promise<boolean> {
  const { pod, status } = view;
  if (!pod || !isGuestLauncher(pod) || !isPodReady(pod) || pod.metadata.deletionTimestamp) return true;
  if (status.guest?.launcherUID === pod.metadata.uid) return true;
  const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/log`;
  const log = await client.getText(path, { container: "compute", limitBytes: 16384 });
  const accel = parseAcceleration(log);
  if (!accel) return false;
  status.guest = { ...accel, launcherUID: pod.metadata.uid ?? "" };
  return true;
}

/** Write: the status read from the launcher, with a Starting event when a stopped VM starts. */
async function report(
  client: KubeClient,
  events: EventRecorder,
  view: VmView,
  launchError: LaunchError | undefined,
): Promise<void> {
  const { vm, pod, prev, status } = view;
  const observed = observe({ ...vm, status }, pod, launchError);
  // Events mark what users look for in a VM's history (not every first start of a fleet).
  if (prev.phase === "Stopped" && observed.phase !== "Stopped") {
    await events.record(vm, "Normal", "Starting", "power state Running: starting the launcher");
  }
  await writeStatus(client, vm, observed);
}

async function deletePod(client: KubeClient, pod: Pod): Promise<void> {
  try {
    await client.delete(Resources.Pod, pod.metadata.name ?? "", pod.metadata.namespace, {
      preconditionUid: pod.metadata.uid,
    });
  } catch (err) {
    if (!(isNotFound(err) || (err instanceof ApiError && err.code === 409))) throw err;
  }
}

/** Writes the status through the one status writer (whole, by apply; nothing when unchanged). */
async function writeStatus(
  client: KubeClient,
  vm: VirtualMachine,
  status: VirtualMachineStatus,
): Promise<void> {
  await new StatusWriter(client).write(VirtualMachineResource, vm, status);
}

async function launcherExists(client: KubeClient, namespace: string, vm: string): Promise<boolean> {
  try {
    await client.get(Resources.Pod, launcherName(vm), namespace);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
