// Why a controller runs, declared: a watched resource, a mapper from its objects to the keys
// of the primary objects they affect, and a predicate that filters the changes worth a look.
// The controller wires these to its queue itself; no controller code touches a queue.

import type { InformerOptions } from "../cache/informer.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";

/** Maps a watched object to the keys ("namespace/name" or "name") of the primaries it affects. */
export type Mapper<W extends KubeObject = KubeObject> = (obj: W) => Iterable<string | undefined>;

/** Which changes matter; a missing method lets every change of that kind through. */
export interface Predicate<W extends KubeObject = KubeObject> {
  create?(obj: W): boolean;
  update?(old: W, obj: W): boolean;
  delete?(obj: W): boolean;
}

export interface Watch<W extends KubeObject = KubeObject> {
  resource: ResourceType<W>;
  informer?: InformerOptions<W>;
  map: Mapper<W>;
  predicate?: Predicate<W>;
  /** Enqueue after this delay: a burst of changes becomes one reconcile (keys are de-duplicated). */
  delayMs?: number;
}

/** A watch whose object type is checked where it is written (`watch({...})`), then erased. */
export function watch<W extends KubeObject>(w: Watch<W>): Watch<KubeObject> {
  return w as unknown as Watch<KubeObject>;
}
