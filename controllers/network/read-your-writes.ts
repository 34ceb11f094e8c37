// Read-your-writes over an informer's store (a local stand-in, with the contract's API, for
// pkg/cache/read-your-writes.ts until it lands): an own write wins until the cache holds
// that uid at a resourceVersion at least as new; a delete hides the key until the cache
// no longer holds that uid.

import type { Store } from "../../pkg/cache/store.ts";
import { type KubeObject, objectKey } from "../../pkg/kube/object.ts";

const rv = (o: KubeObject | undefined) => Number(o?.metadata.resourceVersion ?? 0);

export class ReadYourWrites<T extends KubeObject> {
  private readonly writes = new Map<string, T>();
  private readonly deletes = new Map<string, string | undefined>();

  constructor(private readonly store: Store<T>) {}

  wrote(obj: T): void {
    const key = objectKey(obj);
    this.deletes.delete(key);
    this.writes.set(key, obj);
  }

  deleted(key: string): void {
    this.writes.delete(key);
    this.deletes.set(key, this.store.get(key)?.metadata.uid);
  }

  get(key: string): T | undefined {
    const cached = this.store.get(key);
    if (this.deletes.has(key)) {
      if (cached && cached.metadata.uid === this.deletes.get(key)) return undefined;
      this.deletes.delete(key);
    }
    const own = this.writes.get(key);
    if (!own) return cached;
    if (cached && cached.metadata.uid === own.metadata.uid && rv(cached) >= rv(own)) {
      this.writes.delete(key);
      return cached;
    }
    return own;
  }

  list(): T[] {
    const keys = new Set([...this.store.keys(), ...this.writes.keys()]);
    const out: T[] = [];
    for (const k of keys) {
      const o = this.get(k);
      if (o) out.push(o);
    }
    return out;
  }
}
