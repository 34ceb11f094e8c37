// Read-your-writes over an informer's store. A reconciler that has just created or changed
// an object must not act on the cache's older copy (allocate the same address twice, create
// the object again): until the watch delivers its own write, the write wins.
//
// An own write wins until the cache holds that uid at a resourceVersion at least as new
// (resourceVersions are opaque in the API, but etcd's are increasing integers, which is what
// client-go's own mutation cache relies on too); a delete hides the key until the cache no
// longer holds that uid.

import { type KubeObject, objectKey } from "../kube/object.ts";
import type { Store } from "./store.ts";

type Entry<T> = { obj: T; deleted: false } | { uid: string | undefined; deleted: true };

function rv(obj: KubeObject): number {
  const n = Number(obj.metadata.resourceVersion);
  return Number.isFinite(n) ? n : 0;
}

export class ReadYourWrites<T extends KubeObject> {
  private readonly own = new Map<string, Entry<T>>();

  constructor(private readonly store: Store<T>) {}

  /** The object a create/update/patch returned. */
  wrote(obj: T): void {
    this.own.set(objectKey(obj), { obj, deleted: false });
  }

  /** A delete this process made (the cache may still hold the object for a while). */
  deleted(key: string): void {
    const current = this.get(key);
    this.own.set(key, { uid: current?.metadata.uid, deleted: true });
  }

  get(key: string): T | undefined {
    const cached = this.store.get(key);
    const mine = this.own.get(key);
    if (!mine) return cached;
    if (mine.deleted) {
      if (!cached || (mine.uid !== undefined && cached.metadata.uid !== mine.uid)) {
        this.own.delete(key);
        return cached;
      }
      return undefined;
    }
    if (cached && cached.metadata.uid === mine.obj.metadata.uid && rv(cached) >= rv(mine.obj)) {
      this.own.delete(key); // the cache caught up
      return cached;
    }
    return mine.obj;
  }

  /** The store's objects with own writes overlaid. */
  list(): T[] {
    const keys = new Set([...this.store.keys(), ...this.own.keys()]);
    const out: T[] = [];
    for (const k of keys) {
      const o = this.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** Own writes the cache has not caught up with yet (for tests and metrics). */
  get pending(): number {
    return this.own.size;
  }
}
