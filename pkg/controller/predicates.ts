// Ready-made predicates for declared watches (watch.ts): which changes are worth a reconcile.

import type { KubeObject } from "../kube/object.ts";
import type { Predicate } from "./watch.ts";

const sameJSON = (a: unknown, b: unknown) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

/** Spec changes only (metadata.generation moves), plus creates and deletes. */
export const generationChanged: Predicate = {
  update: (old, obj) => old.metadata.generation !== obj.metadata.generation,
};

/** Label changes only, plus creates and deletes. */
export const labelsChanged: Predicate = {
  update: (old, obj) => !sameJSON(old.metadata.labels, obj.metadata.labels),
};

export const createdOnly: Predicate = { update: () => false, delete: () => false };
export const deletedOnly: Predicate = { create: () => false, update: () => false };

type Method = "create" | "update" | "delete";
function combine(preds: Predicate[], every: boolean): Predicate {
  const check =
    (m: Method) =>
    (...args: KubeObject[]): boolean => {
      const verdicts = preds.map((p) => {
        const fn = p[m] as ((...a: KubeObject[]) => boolean) | undefined;
        return fn ? fn(...args) : true;
      });
      return every ? verdicts.every(Boolean) : verdicts.some(Boolean);
    };
  return {
    create: check("create"),
    update: check("update") as Predicate["update"],
    delete: check("delete"),
  };
}

/** Lets a change through when any predicate does. */
export const anyOf = (...preds: Predicate[]): Predicate => combine(preds, false);
/** Lets a change through when every predicate does. */
export const allOf = (...preds: Predicate[]): Predicate => combine(preds, true);
