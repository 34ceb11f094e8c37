// One shared informer per (resource, namespace, selectors): every controller that watches
// pods reads the same cache and the API server serves one watch, not one per controller.

import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../kube/object.ts";
import { type ResourceType, resourceId } from "../kube/resource.ts";
import type { Logger } from "../log.ts";
import { Informer, type InformerOptions } from "./informer.ts";

export class SharedInformerFactory {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly defaults: Pick<InformerOptions<KubeObject>, "idleTimeoutMs" | "logger"> & {
      logger?: Logger;
    } = {},
  ) {}

  /** The informer for this resource and selection, created on first use. */
  informerFor<T extends KubeObject>(rt: ResourceType<T>, opts: InformerOptions<T> = {}): Informer<T> {
    const id = [
      resourceId(rt),
      opts.namespace ?? "",
      opts.labelSelector ?? "",
      opts.fieldSelector ?? "",
    ].join("|");
    let informer = this.informers.get(id) as Informer<T> | undefined;
    if (!informer) {
      informer = new Informer<T>(this.client, rt, { ...this.defaults, ...opts } as InformerOptions<T>);
      this.informers.set(id, informer as unknown as Informer<KubeObject>);
      if (this.started) informer.start();
    }
    return informer;
  }

  start(): void {
    this.started = true;
    for (const i of this.informers.values()) i.start();
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
