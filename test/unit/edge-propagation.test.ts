// Propagation to children, a child's known subtree, the EdgeCluster status and orphaned
// objects of a deleted mission (pure).

import { expect } from "chai";
import type { EdgeCluster, Mission } from "../../controllers/edge/api.ts";
import { edgeClusterStatus, unusableKubeconfigStatus } from "../../controllers/edge/edge-status.ts";
import { isOrphan } from "../../controllers/edge/local-apply.ts";
import {
  childCopy,
  copyReports,
  disconnectedReport,
  propagatedBy,
  propagationFailed,
} from "../../controllers/edge/propagation.ts";
import { grandchildReports, knownSubtree } from "../../controllers/edge/tree.ts";

const mission: Mission = {
  metadata: { name: "m", uid: "u", generation: 2 },
  spec: { placement: { clusters: ["a"] }, objects: [] },
};

describe("edge propagation", () => {
  it("a copy is labelled as this cluster's, and only this cluster's copies are its to remove", () => {
    const copy = childCopy(mission, "me");
    expect(copy.metadata).to.deep.equal({ name: "m", labels: { "edge.centaurus.io/propagated-by": "me" } });
    expect(copy.spec).to.equal(mission.spec);
    expect(propagatedBy(copy, "me")).to.equal(true);
    expect(propagatedBy(copy, "other")).to.equal(false);
    expect(propagatedBy(undefined, "me")).to.equal(false);
  });

  it("a copy reports up once it holds the spec and observed its generation", () => {
    const copy: Mission = { ...childCopy(mission, "me"), metadata: { name: "m", generation: 3 } };
    expect(copyReports(copy, mission)).to.equal(false);
    expect(copyReports({ ...copy, status: { observedGeneration: 3 } }, mission)).to.equal(true);
    const other = { ...copy, spec: { ...mission.spec, objects: [{ metadata: { name: "x" } }] } };
    expect(copyReports({ ...other, status: { observedGeneration: 3 } } as Mission, mission)).to.equal(false);
    expect(copyReports(undefined, mission)).to.equal(false);
  });

  it("a child that is away or refused the write makes its targets Unreachable", () => {
    expect(disconnectedReport("a", ["a"], undefined).problem).to.deep.equal({
      state: "Unreachable",
      reason: "ClusterDisconnected",
      message: "cluster a is Disconnected (last heartbeat never)",
    });
    const r = propagationFailed({ child: "a", connected: true, targets: ["a"] }, new Error("boom"));
    expect(r.problem?.reason).to.equal("PropagationFailed");
    expect(r.problem?.message).to.equal("writing the mission into cluster a failed: boom");
  });
});

describe("edge tree: the subtree a child reports", () => {
  it("leaves out grandchildren the child refused", () => {
    const g = (name: string, reason?: string) => ({
      metadata: { name },
      spec: { labels: { x: name } },
      status: reason ? { conditions: [{ type: "Ready", status: "False", reason }] } : undefined,
    });
    expect(
      grandchildReports([g("a"), g("b", "Cycle"), g("c", "AttachedTwice"), g("d", "Unreachable")]).map(
        (r) => r.name,
      ),
    ).to.deep.equal(["a", "d"]);
  });

  it("nothing for a refused child; the known one while connected; else marked Disconnected", () => {
    const known = [{ path: "a", connection: "Connected" as const }];
    const base = { name: "a", connected: true, accepted: true, current: known, recorded: [] };
    expect(knownSubtree({ ...base, accepted: false })).to.deep.equal([]);
    expect(knownSubtree(base)).to.deep.equal(known);
    expect(knownSubtree({ ...base, current: [], recorded: known })).to.deep.equal(known);
    expect(knownSubtree({ ...base, connected: false })).to.deep.equal([
      { path: "a", connection: "Disconnected" },
    ]);
    expect(knownSubtree({ ...base, connected: false, current: [], labels: { t: "e" } })).to.deep.equal([
      { path: "a", connection: "Disconnected", labels: { t: "e" } },
    ]);
  });
});

describe("edge status: the EdgeCluster's status", () => {
  const ec: EdgeCluster = {
    metadata: { name: "a", generation: 4 },
    spec: {
      kubeconfigSecretRef: { namespace: "ns", name: "kc", key: "kubeconfig" },
      distro: "k8s",
      heartbeatPeriodSeconds: 1,
      disconnectTimeoutSeconds: 5,
    },
    status: {
      clusterID: "old",
      lastHeartbeat: "2026-01-01T00:00:00Z",
      nodes: { ready: 1, total: 2 },
      subtree: [{ path: "a", connection: "Connected" }],
    },
  };
  const ready = { type: "Ready", status: "False" as const, reason: "HeartbeatTimeout", message: "m" };

  it("keeps what the status recorded while this process has no probe", () => {
    const s = edgeClusterStatus({
      ec,
      connection: "Disconnected",
      probe: undefined,
      lastHeartbeat: undefined,
      subtree: [],
      missions: { total: 0, applied: 0, failed: 0, unreachable: 0 },
      ready,
    });
    expect(s).to.include({ observedGeneration: 4, clusterID: "old", lastHeartbeat: "2026-01-01T00:00:00Z" });
    expect(s.nodes).to.deep.equal({ ready: 1, total: 2 });
    expect(s.conditions?.[0]).to.include({ reason: "HeartbeatTimeout", observedGeneration: 4 });
  });

  it("takes this process's probe when it has one", () => {
    const s = edgeClusterStatus({
      ec,
      connection: "Connected",
      probe: { clusterID: "new", nodes: { ready: 3, total: 3 }, capacity: { cpu: "3" } },
      lastHeartbeat: new Date("2026-02-01T00:00:00Z"),
      subtree: [],
      missions: undefined,
      ready: { ...ready, status: "True", reason: "Connected" },
    });
    expect(s).to.include({ clusterID: "new", lastHeartbeat: "2026-02-01T00:00:00Z" });
    expect(s.capacity).to.deep.equal({ cpu: "3" });
  });

  it("an unusable kubeconfig: Disconnected, the subtree marked so, the reason in Ready", () => {
    const s = unusableKubeconfigStatus(ec, "SecretNotFound", "gone");
    expect(s.connection).to.equal("Disconnected");
    expect(s.subtree).to.deep.equal([{ path: "a", connection: "Disconnected" }]);
    expect(s.conditions?.[0]).to.include({ status: "False", reason: "SecretNotFound", message: "gone" });
  });
});

describe("edge local apply: what a deleted mission left", () => {
  const obj = (
    labels: Record<string, string>,
    owners: Array<{ kind: string; name: string; uid: string }>,
  ) => ({
    metadata: { labels, ownerReferences: owners },
  });
  const label = { "edge.centaurus.io/mission": "m" };

  it("an object labelled and owned by a Mission of that name that is not the live one", () => {
    expect(isOrphan(obj(label, [{ kind: "Mission", name: "m", uid: "old" }]), "m", undefined)).to.equal(true);
    expect(isOrphan(obj(label, [{ kind: "Mission", name: "m", uid: "old" }]), "m", "new")).to.equal(true);
    expect(isOrphan(obj(label, [{ kind: "Mission", name: "m", uid: "new" }]), "m", "new")).to.equal(false);
    // Not applied by a mission (no owner reference), or another mission's: never touched.
    expect(isOrphan(obj(label, []), "m", undefined)).to.equal(false);
    expect(isOrphan(obj(label, [{ kind: "Mission", name: "other", uid: "x" }]), "m", undefined)).to.equal(
      false,
    );
    expect(isOrphan(obj({}, [{ kind: "Mission", name: "m", uid: "old" }]), "m", undefined)).to.equal(false);
  });
});
