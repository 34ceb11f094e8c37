// An indexed, in-memory store of frozen objects keyed by "namespace/name".
//
// Objects are deep-frozen on the way in: every controller shares one cache, so a reconciler
// that mutated a cached object would corrupt what every other reconciler sees.

import { type KubeObject, objectKey } from "../kube/object.ts";

/** Maps an object to the index values it is filed under (e.g. its namespace, owner uids). */
export type IndexFunc<T> = (obj: T) => string[];

export const NAMESPACE_INDEX = "namespace";
export const OWNER_UID_INDEX = "owner-uid";

export const namespaceIndex: IndexFunc<KubeObject> = (obj) =>
  obj.metadata.namespace ? [obj.metadata.namespace] : [];
export const ownerUidIndex: IndexFunc<KubeObject> = (obj) =>
  (obj.metadata.ownerReferences ?? []).map((ref) => ref.uid);
/** Files objects under the value of one label. */
export const labelIndex =
  (label: string): IndexFunc<KubeObject> =>
  (obj) => {
    const v = obj.metadata.labels?.[label];
    return v === undefined ? [] : [v];
  };

/** Freezes an object and everything inside it (also when only its top level was frozen). */
export function deepFreeze<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (value && typeof value === "object" && !seen.has(value)) {
    seen.add(value);
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v, seen);
  }
  return value;
}

export interface StoreDiff<T> {
  added: T[];
  updated: Array<{ old: T; new: T }>;
  deleted: T[];
}

export class Store<T extends KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  /** index name → index value → keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    this.addIndexer(NAMESPACE_INDEX, namespaceIndex);
    this.addIndexer(OWNER_UID_INDEX, ownerUidIndex);
    for (const [name, fn] of Object.entries(indexers)) this.addIndexer(name, fn);
  }

  private sealed = false;

  /** No more indexers: the informer started, and readers rely on the indexes being complete. */
  seal(): void {
    this.sealed = true;
  }

  /** Adds an index before the informer starts; declare indexers in InformerOptions.indexers. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (this.indexers.has(name)) return;
    if (this.sealed) {
      throw new Error(
        `index "${name}" added after the informer started: declare it in InformerOptions.indexers`,
      );
    }
    this.indexers.set(name, fn);
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.items) this.fileUnder(index, fn(obj), key);
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  /** Objects filed under `value` in index `name`. */
  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`store: no index named ${name}`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const obj = this.items.get(k);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Inserts or replaces; returns the previous object. */
  upsert(obj: T): T | undefined {
    deepFreeze(obj);
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    this.index(key, obj);
    return old;
  }

  remove(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  /**
   * Replaces the whole content (after a relist) and says what changed. An object whose
   * resourceVersion is unchanged is not reported as updated, so a relist does not wake every
   * reconciler for nothing.
   */
  replace(objs: T[]): StoreDiff<T> {
    const diff: StoreDiff<T> = { added: [], updated: [], deleted: [] };
    const seen = new Set<string>();
    for (const obj of objs) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.items.get(key);
      if (!old) {
        this.upsert(obj);
        diff.added.push(obj);
      } else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        this.upsert(obj);
        diff.updated.push({ old, new: obj });
      }
    }
    for (const key of [...this.items.keys()]) {
      if (!seen.has(key)) {
        const old = this.remove(key);
        if (old) diff.deleted.push(old);
      }
    }
    return diff;
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name);
      if (index) this.fileUnder(index, fn(obj), key);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name);
      if (!index) continue;
      for (const v of fn(obj)) {
        const keys = index.get(v);
        keys?.delete(key);
        if (keys && keys.size === 0) index.delete(v);
      }
    }
  }

  private fileUnder(index: Map<string, Set<string>>, values: string[], key: string): void {
    for (const v of values) {
      let keys = index.get(v);
      if (!keys) {
        keys = new Set();
        index.set(v, keys);
      }
      keys.add(key);
    }
  }
}
