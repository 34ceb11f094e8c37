import { expect } from "chai";
import fc from "fast-check";
import { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { ReadYourWrites } from "../../pkg/cache/read-your-writes.ts";
import { Store } from "../../pkg/cache/store.ts";
import { mapByLabel, mapToOwner } from "../../pkg/controller/mappers.ts";
import {
  allOf,
  anyOf,
  deletedOnly,
  generationChanged,
  labelsChanged,
} from "../../pkg/controller/predicates.ts";
import { clientForToken } from "../../pkg/kube/config.ts";
import { type LabelSelector, selectorMatches, selectorString } from "../../pkg/kube/label-selector.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { InFlight } from "../../pkg/manager/in-flight.ts";
import { statusDiffers } from "../../pkg/status/status-writer.ts";

const obj = (name: string, extra: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  metadata: { name, namespace: "ns", uid: `uid-${name}`, resourceVersion: "1", ...extra },
});

describe("runtime primitives", () => {
  describe("label selectors", () => {
    it("{} selects everything; every pair and expression must hold", () => {
      expect(selectorMatches({}, { a: "1" })).to.equal(true);
      expect(selectorMatches({}, undefined)).to.equal(true);
      const sel: LabelSelector = {
        matchLabels: { app: "web" },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["front", "edge"] },
          { key: "canary", operator: "DoesNotExist" },
        ],
      };
      expect(selectorMatches(sel, { app: "web", tier: "front" })).to.equal(true);
      expect(selectorMatches(sel, { app: "web", tier: "back" })).to.equal(false);
      expect(selectorMatches(sel, { app: "web", tier: "front", canary: "" })).to.equal(false);
      expect(
        selectorMatches({ matchExpressions: [{ key: "x", operator: "NotIn", values: ["1"] }] }, {}),
      ).to.equal(true);
      expect(selectorString(sel)).to.equal("app=web,tier in (front,edge),!canary");
    });

    it("matchLabels alone means exactly: every pair present (property)", () => {
      const labels = fc.dictionary(fc.constantFrom("a", "b", "c"), fc.constantFrom("1", "2"));
      fc.assert(
        fc.property(labels, labels, (want, have) => {
          const expected = Object.entries(want).every(([k, v]) => have[k] === v);
          return selectorMatches({ matchLabels: want }, have) === expected;
        }),
      );
    });
  });

  describe("mappers and predicates", () => {
    it("map an owned object to its owner and a labelled one to the name in the label", () => {
      const owned = obj("p", {
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "src", uid: "u", controller: true }],
        labels: { owner: "web" },
      });
      expect([...mapToOwner(Resources.ConfigMap)(owned)]).to.deep.equal(["ns/src"]);
      expect([...mapToOwner(Resources.Secret)(owned)]).to.deep.equal([undefined]);
      expect([...mapByLabel("owner", { namespaced: true })(owned)]).to.deep.equal(["ns/web"]);
      expect([...mapByLabel("owner", { namespaced: false })(owned)]).to.deep.equal(["web"]);
      expect([...mapByLabel("other", { namespaced: true })(owned)]).to.deep.equal([]);
    });

    it("let through only the changes they name", () => {
      const a = obj("a", { generation: 1, labels: { x: "1" } });
      const b = obj("a", { generation: 2, labels: { x: "1" } });
      const c = obj("a", { generation: 1, labels: { x: "2" } });
      expect(generationChanged.update?.(a, b)).to.equal(true);
      expect(generationChanged.update?.(a, c)).to.equal(false);
      expect(labelsChanged.update?.(a, c)).to.equal(true);
      expect(anyOf(generationChanged, labelsChanged).update?.(a, c)).to.equal(true);
      expect(allOf(generationChanged, labelsChanged).update?.(a, c)).to.equal(false);
      expect(deletedOnly.create?.(a)).to.equal(false);
      expect(deletedOnly.delete).to.equal(undefined);
    });
  });

  describe("ReadYourWrites", () => {
    it("an own write wins until the cache catches up; a delete hides the key until it is gone", () => {
      const store = new Store<KubeObject>();
      store.upsert(obj("a", { resourceVersion: "5" }));
      const ryw = new ReadYourWrites(store);
      ryw.wrote(obj("a", { resourceVersion: "7", labels: { mine: "yes" } }));
      expect(ryw.get("ns/a")?.metadata.labels).to.deep.equal({ mine: "yes" });
      store.upsert(obj("a", { resourceVersion: "7" }));
      expect(ryw.get("ns/a")?.metadata.labels).to.equal(undefined);
      expect(ryw.pending).to.equal(0);

      ryw.wrote(obj("b", { resourceVersion: "9" }));
      expect(ryw.list().map((o) => o.metadata.name)).to.have.members(["a", "b"]);
      ryw.deleted("ns/a");
      expect(ryw.get("ns/a")).to.equal(undefined);
      store.remove("ns/a");
      store.upsert(obj("a", { uid: "new-uid", resourceVersion: "12" }));
      expect(ryw.get("ns/a")?.metadata.uid).to.equal("new-uid");
    });
  });

  describe("InFlight", () => {
    it("drain waits for tracked work and reports a deadline it could not meet", async () => {
      const inflight = new InFlight();
      let release!: () => void;
      const held = inflight.run(() => new Promise<void>((r) => (release = r)));
      expect(inflight.size).to.equal(1);
      expect(await inflight.drain(30)).to.equal(false);
      setTimeout(() => release(), 20);
      expect(await inflight.drain(2000)).to.equal(true);
      await held;
      expect(inflight.size).to.equal(0);
      await inflight.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
      expect(inflight.size).to.equal(0);
    });
  });

  describe("status diff", () => {
    it("compares the whole status, ignoring lastTransitionTime", () => {
      const cond = { type: "Ready", status: "True", reason: "Ok", message: "" };
      const current = {
        phase: "Running",
        conditions: [{ ...cond, lastTransitionTime: "2026-01-01T00:00:00Z" }],
      };
      expect(
        statusDiffers(current, {
          phase: "Running",
          conditions: [{ ...cond, lastTransitionTime: "2026-02-02T00:00:00Z" }],
        }),
      ).to.equal(false);
      expect(statusDiffers(current, { ...current, conditions: [cond] })).to.equal(false);
      expect(statusDiffers(current, { phase: "Running" })).to.equal(true); // the conditions would go
      expect(statusDiffers(current, { ...current, phase: "Failed" })).to.equal(true);
      expect(statusDiffers(undefined, { phase: "Running" })).to.equal(true);
    });
  });

  describe("shared informer options", () => {
    it("are fixed by the first caller: a different transform, or an index added after the start, is an error", async () => {
      const client = clientForToken("https://127.0.0.1:1", "t");
      const factory = new SharedInformerFactory(client);
      const transform = (o: KubeObject) => o;
      const first = factory.informerFor(Resources.Pod, { transform });
      expect(factory.informerFor(Resources.Pod, { transform })).to.equal(first);
      expect(factory.informerFor(Resources.Pod)).to.equal(first);
      expect(() => factory.informerFor(Resources.Pod, { transform: (o) => o })).to.throw(/transform/);
      const byX = () => [];
      // Before the start another caller may add an index of its own, never replace one.
      expect(factory.informerFor(Resources.Pod, { indexers: { x: byX } })).to.equal(first);
      expect(factory.informerFor(Resources.Pod, { indexers: { x: byX } })).to.equal(first);
      expect(() => factory.informerFor(Resources.Pod, { indexers: { x: () => [] } })).to.throw(/indexers/);
      const secrets = factory.informerFor(Resources.Secret, { idleTimeoutMs: 60_000 });
      factory.start();
      expect(() => factory.informerFor(Resources.Secret, { indexers: { y: byX } })).to.throw(/indexers/);
      expect(() => secrets.store.addIndexer("z", byX)).to.throw(/after the informer started/);
      await factory.stop();
      client.close();
    });
  });
});
