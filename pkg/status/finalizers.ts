// Finalizers added and removed with JSON patch `test` operations: the patch applies only if
// the list is still what we read, so another owner's finalizer is never dropped by a race.

import type { Operation } from "fast-json-patch";
import type { KubeClient } from "../kube/client.ts";
import { ApiError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";

/** The patch that adds `finalizer` to what `obj` holds (pure). Empty when already there. */
export function addFinalizerPatch(obj: KubeObject, finalizer: string): Operation[] {
  const current = obj.metadata.finalizers;
  if (current?.includes(finalizer)) return [];
  if (!current || current.length === 0) {
    // The API server's JSON patch treats a missing member as null for `test` (stricter RFC 6902
    // libraries do not), so this guards both "absent" and "empty" against a concurrent add.
    return [
      { op: "test", path: "/metadata/finalizers", value: current ?? null },
      { op: "add", path: "/metadata/finalizers", value: [finalizer] },
    ];
  }
  return [
    { op: "test", path: "/metadata/finalizers", value: current },
    { op: "add", path: "/metadata/finalizers/-", value: finalizer },
  ];
}

/** The patch that removes `finalizer` (pure). Empty when it is not there. */
export function removeFinalizerPatch(obj: KubeObject, finalizer: string): Operation[] {
  const i = obj.metadata.finalizers?.indexOf(finalizer) ?? -1;
  if (i < 0) return [];
  return [
    { op: "test", path: `/metadata/finalizers/${i}`, value: finalizer },
    { op: "remove", path: `/metadata/finalizers/${i}` },
  ];
}

// A failed `test` answers 422 (Invalid) and a changed object may answer 409: both mean
// "re-read and try again".
const isStale = (err: unknown) => err instanceof ApiError && (err.code === 409 || err.code === 422);

async function patchFinalizers<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  makePatch: (o: T) => Operation[],
): Promise<T> {
  let current = obj;
  for (let attempt = 0; ; attempt++) {
    const ops = makePatch(current);
    if (ops.length === 0) return current;
    try {
      return await client.patch<T>(rt, current.metadata.name ?? "", current.metadata.namespace, "json", ops);
    } catch (err) {
      if (!isStale(err) || attempt >= 5) throw err;
      current = await client.get<T>(rt, current.metadata.name ?? "", current.metadata.namespace);
    }
  }
}

export function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
): Promise<T> {
  return patchFinalizers(client, rt, obj, (o) => addFinalizerPatch(o, finalizer));
}

export function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
): Promise<T> {
  return patchFinalizers(client, rt, obj, (o) => removeFinalizerPatch(o, finalizer));
}
