// Declared watches (a local adapter until pkg/controller has them, see PKG-CONTRACT.md):
// a controller says which objects wake it (mapper + predicate, optionally after a delay);
// this file is the only place in the pillar that turns informer events into queue keys.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import type { InformerOptions } from "../../pkg/cache/informer.ts";
import { Controller, type ControllerOptions } from "../../pkg/controller/controller.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";

/** Which changes of a watched object count (an absent method lets every change through). */
export interface Predicate<W> {
  create?(o: W): boolean;
  update?(old: W, o: W): boolean;
  delete?(o: W): boolean;
}

export interface Watch<W extends KubeObject = KubeObject> {
  resource: ResourceType;
  informer?: InformerOptions<W>;
  /** Keys of the primary objects to reconcile; an update maps both the old and the new object. */
  map: (obj: W) => Iterable<string | undefined>;
  predicate?: Predicate<W>;
  /** Enqueue after this delay (batches a burst; the queue still de-duplicates). */
  delayMs?: number;
}

/** A watch with its object type sealed in: wires itself to an enqueue function. */
export type DeclaredWatch = (
  factory: SharedInformerFactory,
  enqueue: (key: string, delayMs?: number) => void,
) => void;

/** Declares a watch (W is inferred per entry, so a list can mix kinds without casts). */
export function watch<W extends KubeObject>(w: Watch<W>): DeclaredWatch {
  return (factory, add) => {
    const enqueue = (o: W) => {
      for (const key of w.map(o)) if (key) add(key, w.delayMs);
    };
    const p = w.predicate;
    factory.informerFor(w.resource as ResourceType<W>, w.informer).addEventHandler({
      onAdd: (o) => {
        if (!p?.create || p.create(o)) enqueue(o);
      },
      onUpdate: (old, o) => {
        if (p?.update && !p.update(old, o)) return;
        enqueue(old);
        enqueue(o);
      },
      onDelete: (o) => {
        if (!p?.delete || p.delete(o)) enqueue(o);
      },
    });
  };
}

/** A controller with declared watches, wired to its queue before the caches start. */
export function controllerWithWatches(
  factory: SharedInformerFactory,
  opts: ControllerOptions & { watchesOf: DeclaredWatch[] },
): Controller {
  const { watchesOf, ...rest } = opts;
  const controller = new Controller(rest);
  const add = (key: string, delayMs?: number) => {
    controller.enqueue(key, delayMs);
  };
  for (const w of watchesOf) w(factory, add);
  return controller;
}
