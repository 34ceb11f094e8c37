// One shared informer per (resource, namespace, selectors): every controller that watches
// pods reads the same cache and the API server serves one watch, not one per controller.
// Its transform and indexers are fixed by the first caller; a later caller that asks for
// different ones gets an error instead of silently reading objects shaped for someone else
// (declare each informer's options once, as a constant, and share it).

import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../kube/object.ts";
import { type ResourceType, resourceId } from "../kube/resource.ts";
import type { Logger } from "../log.ts";
import { Informer, type InformerOptions } from "./informer.ts";

// biome-ignore lint/suspicious/noExplicitAny: options of informers of every object type
type Shape = { transform?: (o: any) => any; indexers?: Record<string, unknown> };

/** What a later caller's options would change about an existing informer (its indexers must all be there already). */
function shapeConflict(first: Shape | undefined, opts: Shape): string | undefined {
  if (opts.transform && opts.transform !== first?.transform) return "transform";
  if (opts.indexers) {
    const theirs = first?.indexers ?? {};
    if (Object.entries(opts.indexers).some(([k, fn]) => theirs[k] !== fn)) return "indexers";
  }
  return undefined;
}

/** True when `next` only adds index names to `current` or repeats its functions. */
function addsOnly(current: Record<string, unknown>, next: Record<string, unknown>): boolean {
  return Object.entries(next).every(([k, fn]) => !(k in current) || current[k] === fn);
}

export class SharedInformerFactory {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly shapes = new Map<string, Shape>();
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
      this.shapes.set(id, { transform: opts.transform, indexers: opts.indexers });
      if (this.started) informer.start();
      return informer;
    }
    const first = this.shapes.get(id) ?? {};
    if (!informer.started && opts.indexers && addsOnly(first.indexers ?? {}, opts.indexers)) {
      // Before the informer starts, another caller may add indexes of its own (client-go's
      // AddIndexers has the same rule); replacing one, or adding after the start, is refused.
      for (const [name, fn] of Object.entries(opts.indexers)) informer.store.addIndexer(name, fn);
      first.indexers = { ...(first.indexers ?? {}), ...opts.indexers };
      this.shapes.set(id, first);
    }
    const conflict = shapeConflict(first, opts);
    if (conflict)
      throw new Error(
        `informer for ${id}: ${conflict} differs from the first caller's (share one InformerOptions constant)`,
      );
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
