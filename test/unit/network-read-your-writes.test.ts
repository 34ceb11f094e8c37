import { expect } from "chai";
import { ReadYourWrites } from "../../controllers/network/read-your-writes.ts";
import { Store } from "../../pkg/cache/store.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";

const obj = (name: string, uid: string, resourceVersion: string, v: number): KubeObject & { v: number } => ({
  apiVersion: "v1",
  kind: "X",
  metadata: { name, uid, resourceVersion },
  v,
});

describe("network read-your-writes (local stand-in)", () => {
  it("an own write wins until the cache holds that uid at a resourceVersion as new", () => {
    const store = new Store<KubeObject & { v: number }>();
    const rw = new ReadYourWrites(store);
    store.upsert(obj("a", "u", "5", 1));
    rw.wrote(obj("a", "u", "7", 2));
    expect(rw.get("a")?.v).to.equal(2);
    store.upsert(obj("a", "u", "6", 1));
    expect(rw.get("a")?.v).to.equal(2);
    store.upsert(obj("a", "u", "7", 3));
    expect(rw.get("a")?.v).to.equal(3);
    expect(rw.list().map((o) => o.v)).to.deep.equal([3]);
  });

  it("a delete hides the key until the cache no longer holds that uid", () => {
    const store = new Store<KubeObject & { v: number }>();
    const rw = new ReadYourWrites(store);
    store.upsert(obj("a", "u", "5", 1));
    rw.deleted("a");
    expect(rw.get("a")).to.equal(undefined);
    store.upsert(obj("a", "u2", "9", 4));
    expect(rw.get("a")?.v).to.equal(4);
  });
});
