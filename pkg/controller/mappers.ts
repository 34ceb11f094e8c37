// Ready-made mappers for declared watches (watch.ts). A mapper is a plain function; these
// cover what controllers need most often.

import type { Informer } from "../cache/informer.ts";
import { controllerOf, type KubeObject, objectKey } from "../kube/object.ts";
import { apiVersionOf, type ResourceType } from "../kube/resource.ts";
import type { Mapper } from "./watch.ts";

/** The key of the primary object an owned object belongs to, if its controller owner is of kind `owner`. */
export function ownerKey(obj: KubeObject, owner: ResourceType): string | undefined {
  const ref = controllerOf(obj);
  if (!ref || ref.kind !== owner.kind || ref.apiVersion.split("/")[0] !== apiVersionOf(owner).split("/")[0]) {
    return undefined;
  }
  return owner.namespaced ? `${obj.metadata.namespace ?? ""}/${ref.name}` : ref.name;
}

/** The object itself. */
export const mapToSelf: Mapper = (obj) => [objectKey(obj)];

/** The controller owner of the object, when it is of kind `owner`. */
export function mapToOwner(owner: ResourceType): Mapper {
  return (obj) => [ownerKey(obj, owner)];
}

/** The primary named by a label's value (in the object's namespace when primaries are namespaced). */
export function mapByLabel(label: string, opts: { namespaced: boolean }): Mapper {
  return (obj) => {
    const value = obj.metadata.labels?.[label];
    if (!value) return [];
    return [opts.namespaced ? `${obj.metadata.namespace ?? ""}/${value}` : value];
  };
}

/** The primaries whose index `indexName` holds any of the values the object yields. */
export function mapByIndex<P extends KubeObject, W extends KubeObject = KubeObject>(
  primaries: Informer<P>,
  indexName: string,
  valuesOf: (obj: W) => Iterable<string | undefined>,
): Mapper<W> {
  return function* (obj) {
    for (const v of valuesOf(obj)) {
      if (v === undefined) continue;
      for (const p of primaries.store.byIndex(indexName, v)) yield objectKey(p);
    }
  };
}

/** Every primary in the store (for changes that may affect any of them, e.g. a cluster-wide setting). */
export function mapAll<P extends KubeObject>(primaries: Informer<P>): Mapper {
  return () => primaries.store.keys();
}
