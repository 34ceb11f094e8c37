// The binder: the only code that binds pods (POST pods/NAME/binding, with the chosen devices
// on the pod in the same call). Every binding runs through its in-flight set, and as a
// Runnable it is stopped by the manager: stop() waits for the bindings in flight. Background
// bindings are bounded promises, nothing more (no keys to de-duplicate, no backoff: a failure
// goes back to the reconciler's work queue), which is what p-queue is for.

import PQueue from "p-queue";
import { Counter, type Registry } from "prom-client";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { InFlight } from "../../pkg/manager/in-flight.ts";
import type { Runnable } from "../../pkg/manager/runnable.ts";
import { DEVICES_ANNOTATION } from "./api.ts";
import { type PodLike, podAssignment, podKey } from "./objects.ts";
import { type Assignment, formatDevices, type GpuCluster } from "./placement.ts";

export interface BinderOptions {
  client: KubeClient;
  cluster: GpuCluster;
  log: Logger;
  registry?: Registry;
  /** Called before each binding; tests use it to stop the operator in the middle of a gang. */
  beforeBind?: (pod: string) => Promise<void>;
  /** How many background bindings (bare pods) may be in flight at once. */
  maxInFlight?: number;
  /** How long stop() waits for bindings in flight. */
  drainMs?: number;
}

export class Binder implements Runnable {
  readonly name = "gpu-binder";
  private readonly inFlight = new InFlight();
  private readonly bindings?: Counter<"result">;
  /** Background bindings: at most maxInFlight at once. */
  private readonly background: PQueue;

  constructor(private readonly opts: BinderOptions) {
    this.background = new PQueue({ concurrency: opts.maxInFlight ?? 64 });
    if (opts.registry) {
      this.bindings = new Counter({
        name: "centaurus_gpu_scheduler_bindings_total",
        help: "Pod bindings made by the GPU scheduler, by result",
        labelNames: ["result"],
        registers: [opts.registry],
      });
    }
  }

  /** Bindings in flight. */
  get size(): number {
    return this.inFlight.size;
  }

  start(): void {}

  /** Waits (up to drainMs) for the bindings in flight. */
  async stop(): Promise<void> {
    if (!(await this.inFlight.drain(this.opts.drainMs ?? 30_000))) {
      this.opts.log.warn(
        { inFlight: this.inFlight.size },
        "stopped with bindings still in flight: the next leader finds their pods and finishes or rolls them back (nothing to do)",
      );
    }
  }

  /**
   * Binds the pod as assigned; false if it could not be bound (gone, or bound elsewhere). The
   * reservation (held on the index) is released on failure.
   */
  bind(pod: PodLike, a: Assignment): Promise<boolean> {
    return this.inFlight.run(() => this.post(pod, a));
  }

  /**
   * Binds in the background (at most maxInFlight at once; waits for a slot), so the next
   * decision need not wait for the API. onError hears of a failure that is worth retrying.
   */
  async bindInBackground(pod: PodLike, a: Assignment, onError: (err: unknown) => void): Promise<void> {
    // Back-pressure: the caller waits while every slot is taken and others already wait.
    await this.background.onSizeLessThan(1);
    this.inFlight.run(() => this.background.add(() => this.post(pod, a))).catch(onError);
  }

  private async post(pod: PodLike, a: Assignment): Promise<boolean> {
    const key = podKey(pod);
    const { namespace, name } = pod.metadata;
    try {
      await this.opts.beforeBind?.(key);
      const annotations = a.devices.length ? { [DEVICES_ANNOTATION]: formatDevices(a.devices) } : undefined;
      await this.opts.client.request("POST", `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
        body: {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name, namespace, annotations, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
          target: { apiVersion: "v1", kind: "Node", name: a.node },
        },
      });
      this.bindings?.inc({ result: "bound" });
      return true;
    } catch (err) {
      // A 409 for a pod already bound exactly as planned (a retry, or a stale cache) is success.
      if (isConflict(err) && (await this.boundAs(pod, a))) {
        this.bindings?.inc({ result: "already-bound" });
        return true;
      }
      this.bindings?.inc({ result: "error" });
      this.opts.cluster.release(key);
      if (isNotFound(err) || isConflict(err)) return false;
      // The caller retries (and says so if it keeps failing): no warning for one failure here.
      this.opts.log.debug({ pod: key, err: String(err) }, "binding failed");
      throw err;
    }
  }

  /** After a 409 on binding: is the pod already bound exactly as we wanted (a retry after a lost answer)? */
  private async boundAs(pod: PodLike, a: Assignment): Promise<boolean> {
    try {
      const live = await this.opts.client.get(Resources.Pod, pod.metadata.name ?? "", pod.metadata.namespace);
      const got = podAssignment(live);
      return !!got && got.node === a.node && got.devices.join(",") === a.devices.join(",");
    } catch {
      return false;
    }
  }
}
