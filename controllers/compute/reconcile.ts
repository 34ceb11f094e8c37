// The VirtualMachine reconciler (thin): one owner-referenced launcher Pod per running VM,
// none for a stopped one; reboots replace the launcher once per request; status from the Pod.

import { Controller } from "../../pkg/controller/controller.ts";
import { apply, applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { ApiError, isAlreadyExists, isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  launcherName,
  type VirtualMachine,
  VirtualMachineResource,
  type VirtualMachineStatus,
  VM_LABEL,
} from "./api.ts";
import {
  cloudInitSecretName,
  desiredCloudInit,
  desiredLauncher,
  needsCloudInit,
  observe,
} from "./launcher.ts";

export interface ComputeOptions {
  concurrency?: number;
  logger?: Logger;
}

/** Launcher pods carry only what status needs in the cache (VMs can be many). */
function slimPod(obj: KubeObject): KubeObject {
  const p = obj as Pod;
  const slim: Pod = {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      uid: p.metadata.uid,
      resourceVersion: p.metadata.resourceVersion,
      deletionTimestamp: p.metadata.deletionTimestamp,
      labels: p.metadata.labels,
      ownerReferences: p.metadata.ownerReferences,
    },
    spec: { nodeName: p.spec?.nodeName },
    status: {
      phase: p.status?.phase,
      podIP: p.status?.podIP,
      podIPs: p.status?.podIPs,
      conditions: p.status?.conditions?.filter((c) => c.type === "PodScheduled"),
    },
  };
  return slim;
}

export function virtualMachineController(client: KubeClient, opts: ComputeOptions = {}): Controller {
  const events = new EventRecorder(client, "centaurus.io/compute", "compute", opts.logger);
  const podInformer = { labelSelector: VM_LABEL, transform: slimPod };
  const secretInformer = { labelSelector: VM_LABEL };
  return new Controller({
    name: "virtualmachine",
    for: VirtualMachineResource,
    owns: [
      { resource: Resources.Pod, informer: podInformer },
      { resource: Resources.Secret, informer: secretInformer },
    ],
    concurrency: opts.concurrency ?? 16,
    logger: opts.logger,
    reconcile: async (req, ctx) => {
      let vm = ctx.cache.informerFor(VirtualMachineResource).store.get(req.key) as VirtualMachine | undefined;
      // Gone or going: the launcher and Secret follow through their owner references.
      if (!vm || vm.metadata.deletionTimestamp) return;
      const ns = vm.metadata.namespace ?? "";
      const name = vm.metadata.name ?? "";
      const pods = ctx.cache.informerFor(Resources.Pod, podInformer);
      let pod = pods.store.get(`${ns}/${launcherName(name)}`) as Pod | undefined;
      if (pod && pod.metadata.ownerReferences?.find((r) => r.controller)?.uid !== vm.metadata.uid) {
        // A pod of that name that is not ours (or a previous VM's of the same name, being collected).
        pod = undefined;
      }
      const tenant = ctx.cache.informerFor(Resources.Namespace, { labelSelector: TENANT_LABEL }).store.get(ns)
        ?.metadata.labels?.[TENANT_LABEL];
      let prev = vm.status ?? {};
      if (vm.spec.rebootRequestedAt && vm.spec.rebootRequestedAt !== prev.observedRebootRequest) {
        // A reboot is counted once: make sure the cache is not simply behind our last write.
        vm = await client.get<VirtualMachine>(VirtualMachineResource, name, ns);
        prev = vm.status ?? {};
      }
      const running = (vm.spec.powerState ?? "Running") === "Running";
      const status: VirtualMachineStatus = { ...prev };

      // Reboot: record first (restart count, the pod being replaced), then delete that pod, so
      // an operator restart in between finishes the same reboot instead of counting another.
      const request = vm.spec.rebootRequestedAt;
      if (running && request && request !== prev.observedRebootRequest) {
        status.observedRebootRequest = request;
        status.restartCount = (prev.restartCount ?? 0) + 1;
        if (pod && !pod.metadata.deletionTimestamp) status.rebootingPodUID = pod.metadata.uid;
        await writeStatus(client, vm, status);
        await events.record(
          vm,
          "Normal",
          "Rebooting",
          `reboot requested at ${request} (restart ${status.restartCount})`,
        );
        vm = { ...vm, status };
      }
      if (status.rebootingPodUID) {
        if (pod && pod.metadata.uid === status.rebootingPodUID) {
          if (!pod.metadata.deletionTimestamp) await deletePod(client, pod);
        } else {
          status.rebootingPodUID = undefined; // replaced: the reboot is done
          await events.record(
            vm,
            "Normal",
            "Rebooted",
            `the launcher was replaced (restart ${status.restartCount ?? 0})`,
          );
        }
      }

      let launchError: { reason: string; message: string } | undefined;
      if (running) {
        if (needsCloudInit(vm)) {
          const secrets = ctx.cache.informerFor(Resources.Secret, secretInformer);
          if (!secrets.store.get(`${ns}/${cloudInitSecretName(name)}`))
            await apply(client, Resources.Secret, desiredCloudInit(vm, tenant));
        }
        // The cache may simply not show a launcher created moments ago: ask the API server
        // first, as a create that fails with AlreadyExists has still been charged to the
        // namespace's quota by admission (until the quota controller recounts).
        if (!pod && !status.rebootingPodUID && !(await launcherExists(client, ns, name))) {
          try {
            await client.create(Resources.Pod, desiredLauncher(vm, tenant));
            // A first launcher: its own watch event brings the next status (one write, not two).
            if (prev.phase === undefined) return undefined;
          } catch (err) {
            if (isAlreadyExists(err)) {
              // The old launcher (a reboot's, or a previous VM's of this name) is still going away.
            } else if (err instanceof ApiError && (err.code === 403 || err.code === 422)) {
              const quota = /exceeded quota/.test(err.message);
              launchError = {
                reason: quota ? "QuotaExceeded" : err.code === 403 ? "LauncherForbidden" : "InvalidLauncher",
                message: err.status.message ?? err.message,
              };
              if (prev.conditions?.[0]?.reason !== launchError.reason) {
                await events.record(vm, "Warning", launchError.reason, launchError.message);
              }
            } else {
              throw err;
            }
          }
        }
      } else if (pod && !pod.metadata.deletionTimestamp) {
        await deletePod(client, pod);
        await events.record(vm, "Normal", "Stopping", "power state Stopped: removing the launcher");
      }
      const observed = observe({ ...vm, status }, pod, launchError);
      // Events mark what users look for in a VM's history (not every first start of a fleet).
      if (prev.phase === "Stopped" && observed.phase !== "Stopped") {
        await events.record(vm, "Normal", "Starting", "power state Running: starting the launcher");
      }
      await writeStatus(client, vm, observed);
      // A refused launcher is retried (quota may free up); everything else follows pod events.
      if (launchError) return { requeueAfterMs: 10_000 };
      return undefined;
    },
  });
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

async function writeStatus(
  client: KubeClient,
  vm: VirtualMachine,
  status: VirtualMachineStatus,
): Promise<void> {
  const strip = (s: VirtualMachineStatus | undefined) =>
    JSON.stringify({ ...s, conditions: s?.conditions?.map(({ lastTransitionTime: _t, ...c }) => c) });
  if (strip(vm.status) === strip(status)) return;
  try {
    await applyStatus(client, VirtualMachineResource, vm.metadata.name ?? "", vm.metadata.namespace, status);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
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
