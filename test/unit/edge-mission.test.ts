// A mission's pure decisions: identity passed to children, skipping an unchanged apply, the
// inventory after an apply, this cluster's entry, Ready and events.

import { expect } from "chai";
import fc from "fast-check";
import type {
  ClusterMissionStatus,
  InventoryEntry,
  Mission,
  MissionObject,
} from "../../controllers/edge/api.ts";
import { childIdentity, namesOf, parseIdentity, writtenBy } from "../../controllers/edge/identity.ts";
import {
  applyFingerprint,
  canSkipApply,
  isObjectFault,
  localEntry,
  planInventory,
  RESYNC_MS,
} from "../../controllers/edge/local-apply.ts";
import { missionEvents, missionReady } from "../../controllers/edge/mission-status.ts";
import { refKey } from "../../controllers/edge/realign.ts";

const cm = (name: string): MissionObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name } });
const ref = (name: string): InventoryEntry => ({ apiVersion: "v1", kind: "ConfigMap", name });

describe("edge identity", () => {
  it("the child's identity extends this cluster's ancestors and parses back", () => {
    const self = { name: "a", path: "a", labels: {}, ancestors: [{ clusterID: "root", path: "" }] };
    const id = childIdentity("a1", { tier: "edge" }, self, "id-a");
    expect(writtenBy(id, "id-a")).to.equal(true);
    expect(writtenBy(id, "other")).to.equal(false);
    expect(parseIdentity(id)).to.deep.equal({
      name: "a1",
      path: "a/a1",
      labels: { tier: "edge" },
      ancestors: [
        { clusterID: "root", path: "" },
        { clusterID: "id-a", path: "a" },
      ],
    });
  });

  it("a root's identity has no path; overrides may name it by name only", () => {
    expect(namesOf({ name: "root", path: "", labels: {} })).to.deep.equal(["root"]);
    expect(namesOf({ name: "a1", path: "a/a1", labels: {} })).to.deep.equal(["a1", "a/a1"]);
  });
});

describe("edge local apply", () => {
  const mission = (objects: MissionObject[], uid = "u1"): Mission => ({
    metadata: { name: "m", uid },
    spec: { placement: { clusters: ["x"] }, objects },
  });

  it("the fingerprint changes with the objects, the overrides that apply, and the uid", () => {
    const a = applyFingerprint(mission([cm("one")]), ["x"]);
    expect(applyFingerprint(mission([cm("one")]), ["x"])).to.equal(a);
    expect(applyFingerprint(mission([cm("two")]), ["x"])).to.not.equal(a);
    expect(applyFingerprint(mission([cm("one")], "u2"), ["x"])).to.not.equal(a);
  });

  it("skips only an unchanged, untouched, recently Applied mission", () => {
    const previous: ClusterMissionStatus = { path: ".", state: "Applied" };
    const base = { last: { fingerprint: "f", at: 0 }, fingerprint: "f", now: 1000, drifted: false, previous };
    expect(canSkipApply(base)).to.equal(true);
    expect(canSkipApply({ ...base, fingerprint: "g" })).to.equal(false);
    expect(canSkipApply({ ...base, now: RESYNC_MS })).to.equal(false);
    expect(canSkipApply({ ...base, drifted: true })).to.equal(false);
    expect(canSkipApply({ ...base, previous: { path: ".", state: "Failed" } })).to.equal(false);
    expect(canSkipApply({ ...base, last: undefined })).to.equal(false);
  });

  it("removes what the mission dropped, keeps what it holds but failed to apply", () => {
    const plan = planInventory([ref("a"), ref("b"), ref("c")], [ref("a")], [cm("a"), cm("c")]);
    expect(plan.remove).to.deep.equal([ref("b")]);
    expect(plan.inventory).to.deep.equal([ref("a"), ref("c")]);
  });

  it("the inventory is what was applied plus previous entries still held, never a dropped one", () => {
    const names = fc.uniqueArray(fc.constantFrom<string>("a", "b", "c", "d", "e"), { maxLength: 5 });
    fc.assert(
      fc.property(names, names, names, (prev, held, appliedRaw) => {
        const applied = appliedRaw.filter((n) => held.includes(n));
        const plan = planInventory(prev.map(ref), applied.map(ref), held.map(cm));
        const inv = new Set(plan.inventory.map(refKey));
        for (const n of applied) expect(inv.has(refKey(ref(n)))).to.equal(true);
        for (const r of plan.inventory) expect(held).to.include(r.name);
        for (const r of plan.remove) expect(held).to.not.include(r.name);
        expect(plan.remove.length + plan.inventory.filter((r) => prev.includes(r.name)).length).to.be.at.most(
          prev.length,
        );
      }),
    );
  });

  it("this cluster's entry: Applied with a count, or Failed with every failure", () => {
    expect(localEntry([], 1)).to.deep.equal({
      path: ".",
      state: "Applied",
      reason: "Applied",
      message: "1 object applied",
    });
    expect(localEntry([], 2).message).to.equal("2 objects applied");
    expect(localEntry(["x", "y"], 0)).to.include({ state: "Failed", reason: "ApplyFailed", message: "x; y" });
  });

  it("4xx answers but 429 are the object's fault", () => {
    expect([400, 403, 404, 422].every(isObjectFault)).to.equal(true);
    expect([429, 500, 503].some(isObjectFault)).to.equal(false);
  });
});

describe("edge mission status", () => {
  const summary = (applied: number, total: number, failed = 0, unreachable = 0) => ({
    total,
    applied,
    failed,
    unreachable,
    pending: total - applied - failed - unreachable,
  });

  it("Ready: Applied, NoClusterSelected, or the worst state", () => {
    expect(missionReady(summary(2, 2))).to.include({
      status: "True",
      reason: "Applied",
      message: "applied in 2 cluster(s)",
    });
    expect(missionReady(summary(0, 0)).reason).to.equal("NoClusterSelected");
    expect(missionReady(summary(0, 3, 1, 1)).reason).to.equal("Failed");
    expect(missionReady(summary(0, 3, 0, 1)).reason).to.equal("Unreachable");
    const p = missionReady(summary(1, 3));
    expect(p).to.include({
      reason: "Progressing",
      message: "1/3 applied, 0 failed, 0 unreachable, 2 pending",
    });
  });

  it("events for changed paths only: Warnings for failures, Normal for Applied here", () => {
    const before: ClusterMissionStatus[] = [
      { path: ".", state: "Pending" },
      { path: "a", state: "Applied" },
    ];
    const after: ClusterMissionStatus[] = [
      { path: ".", state: "Applied", message: "1 object applied" },
      { path: "a", state: "Applied" },
      { path: "b", state: "Applied" },
      { path: "c", state: "Unreachable", reason: "ClusterDisconnected", message: "gone" },
    ];
    expect(missionEvents(before, after)).to.deep.equal([
      { type: "Normal", reason: "Applied", message: "this cluster: 1 object applied" },
      { type: "Warning", reason: "ClusterDisconnected", message: "cluster c: gone" },
    ]);
    expect(missionEvents(after, after)).to.deep.equal([]);
  });
});
