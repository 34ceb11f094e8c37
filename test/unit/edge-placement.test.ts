// Mission placement over the tree, status aggregation by path, and realignment diffs.

import { expect } from "chai";
import fc from "fast-check";
import { aggregateMissionStatus, countForPath, summarize } from "../../controllers/edge/aggregate.ts";
import type { LabelSelector, Mission, Placement, SubtreeEntry } from "../../controllers/edge/api.ts";
import { MISSION_LABEL, PROPAGATED_BY_LABEL } from "../../controllers/edge/api.ts";
import {
  type ChildSubtree,
  missionTargets,
  placementMatches,
  routeMission,
} from "../../controllers/edge/placement.ts";
import {
  mergePatch,
  planChildMissions,
  resolveObjects,
  staleInventory,
  validateObjects,
} from "../../controllers/edge/realign.ts";
import { leafName } from "../../controllers/edge/tree.ts";
import { selectorMatches } from "../../pkg/kube/label-selector.ts";
import { canonicalJSON } from "../../pkg/kube/object.ts";

const labels = fc.dictionary(
  fc.constantFrom("region", "tier", "gpu"),
  fc.constantFrom("north", "south", "edge", "far"),
  {
    maxKeys: 3,
  },
);
const selector: fc.Arbitrary<LabelSelector> = fc.record(
  {
    matchLabels: labels,
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({
          key: fc.constantFrom("region", "tier", "gpu"),
          operator: fc.constantFrom("In" as const, "NotIn" as const),
          values: fc.array(fc.constantFrom("north", "south", "edge", "far"), { minLength: 1, maxLength: 2 }),
        }),
        fc.record({
          key: fc.constantFrom("region", "tier", "gpu"),
          operator: fc.constantFrom("Exists" as const, "DoesNotExist" as const),
        }),
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

describe("edge placement: selectors", () => {
  it("follows Kubernetes label-selector semantics", () => {
    const l = { region: "north", tier: "far" };
    expect(selectorMatches({}, l)).to.equal(true);
    expect(selectorMatches({ matchLabels: { region: "north" } }, l)).to.equal(true);
    expect(selectorMatches({ matchLabels: { region: "south" } }, l)).to.equal(false);
    expect(
      selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["far", "x"] }] }, l),
    ).to.equal(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["far"] }] }, l),
    ).to.equal(false);
    expect(
      selectorMatches({ matchExpressions: [{ key: "gpu", operator: "NotIn", values: ["a"] }] }, l),
    ).to.equal(true);
    expect(selectorMatches({ matchExpressions: [{ key: "gpu", operator: "Exists" }] }, l)).to.equal(false);
    expect(selectorMatches({ matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] }, l)).to.equal(
      true,
    );
  });

  it("an empty placement selects nothing; names and absolute paths select", () => {
    const a1 = { name: "a1", path: "a/a1", labels: {} };
    expect(placementMatches({}, a1)).to.equal(false);
    expect(placementMatches({ clusters: ["a1"] }, a1)).to.equal(true);
    expect(placementMatches({ clusters: ["a/a1"] }, a1)).to.equal(true);
    expect(placementMatches({ clusters: ["a"] }, a1)).to.equal(false);
    expect(placementMatches({ clusterSelector: {} }, a1)).to.equal(true);
    // The unnamed root is never selected by an empty name.
    expect(placementMatches({ clusters: [""] }, { name: "", path: "", labels: {} })).to.equal(false);
  });
});

// A random tree below one cluster: children, each with a subtree of relative paths.
const tree = fc.uniqueArray(fc.constantFrom("a", "b", "c", "d"), { maxLength: 4 }).chain((names) =>
  fc.tuple(
    ...names.map((name) =>
      fc
        .uniqueArray(fc.constantFrom("x", "y", "x/z", "y/w"), { maxLength: 4 })
        .chain((below) =>
          fc.tuple(
            ...[name, ...below.map((p) => `${name}/${p}`)].map((path) => labels.map((l) => ({ path, l }))),
          ),
        )
        .map((entries) => ({
          name,
          subtree: entries.map(({ path, l }): SubtreeEntry => ({ path, connection: "Connected", labels: l })),
        })),
    ),
  ),
);

describe("edge placement: routing through the tree", () => {
  const children: ChildSubtree[] = [
    {
      name: "a",
      subtree: [
        { path: "a", connection: "Connected" as const, labels: { region: "north" } },
        { path: "a/a1", connection: "Connected" as const, labels: { region: "north", tier: "far" } },
      ],
    },
    { name: "b", subtree: [{ path: "b", connection: "Connected" as const, labels: { region: "south" } }] },
  ];

  it("sends a mission only to children whose subtree holds a match", () => {
    expect(routeMission({ clusterSelector: { matchLabels: { tier: "far" } } }, "", children)).to.deep.equal([
      { child: "a", targets: ["a/a1"] },
    ]);
    expect(routeMission({ clusters: ["b"] }, "", children)).to.deep.equal([{ child: "b", targets: ["b"] }]);
    expect(routeMission({ clusters: ["a/a1"] }, "", children)).to.deep.equal([
      { child: "a", targets: ["a/a1"] },
    ]);
    // Seen from a (absolute path "a"), a1 is "a1" relative and "a/a1" absolute.
    expect(
      routeMission({ clusters: ["a/a1"] }, "a", [
        { name: "a1", subtree: [{ path: "a1", connection: "Connected" }] },
      ]),
    ).to.deep.equal([{ child: "a1", targets: ["a1"] }]);
    expect(
      missionTargets(
        { clusterSelector: { matchLabels: { region: "north" } } },
        { name: "", path: "", labels: {} },
        children,
      ),
    ).to.deep.equal(["a", "a/a1"]);
  });

  it("routes to exactly the children holding a selected cluster, never broadcasting (property)", () => {
    fc.assert(
      fc.property(
        tree,
        selector,
        fc.array(fc.constantFrom<string>("a", "x", "z", "b/y", "c"), { maxLength: 2 }),
        (cs, sel, names) => {
          const placement: Placement = { clusterSelector: sel, clusters: names };
          const routes = routeMission(placement, "", cs);
          for (const c of cs) {
            const matching = c.subtree
              .filter(
                (e) =>
                  names.includes(leafName(e.path)) ||
                  names.includes(e.path) ||
                  selectorMatches(sel, e.labels ?? {}),
              )
              .map((e) => e.path)
              .sort();
            const route = routes.find((r) => r.child === c.name);
            if (matching.length === 0) expect(route).to.equal(undefined);
            else expect(route?.targets).to.deep.equal(matching);
          }
        },
      ),
    );
  });
});

describe("edge status aggregation by path", () => {
  it("re-keys a child's report, marks a disconnected child's targets Unreachable, waits for the rest", () => {
    const clusters = aggregateMissionStatus({ path: ".", state: "Applied" }, [
      {
        child: "a",
        connected: true,
        targets: ["a", "a/a1", "a/a2"],
        reported: [
          { path: ".", state: "Applied" },
          { path: "a1", state: "Unreachable", reason: "ClusterDisconnected" },
        ],
      },
      { child: "b", connected: false, targets: ["b"] },
    ]);
    expect(clusters.map((c) => [c.path, c.state])).to.deep.equal([
      [".", "Applied"],
      ["a", "Applied"],
      ["a/a1", "Unreachable"],
      ["a/a2", "Pending"],
      ["b", "Unreachable"],
    ]);
    expect(summarize(clusters)).to.deep.equal({
      total: 5,
      applied: 2,
      failed: 0,
      unreachable: 2,
      pending: 1,
    });
    expect(countForPath([{ clusters }], "b")).to.deep.equal({
      total: 1,
      applied: 0,
      failed: 0,
      unreachable: 1,
    });
  });

  it("holds every target exactly once and counts add up (property)", () => {
    const state = fc.constantFrom(
      "Pending" as const,
      "Applied" as const,
      "Failed" as const,
      "Unreachable" as const,
    );
    const report = fc.record({
      child: fc.constantFrom("a", "b", "c"),
      connected: fc.boolean(),
      targets: fc.uniqueArray(fc.constantFrom(".", "x", "x/y"), { maxLength: 3 }),
      reported: fc.option(
        fc.uniqueArray(fc.record({ path: fc.constantFrom(".", "x", "x/y"), state }), {
          selector: (e) => e.path,
        }),
        {
          nil: undefined,
        },
      ),
    });
    fc.assert(
      fc.property(fc.uniqueArray(report, { selector: (r) => r.child, maxLength: 3 }), (reports) => {
        const rs = reports.map((r) => ({
          ...r,
          targets: r.targets.map((t) => (t === "." ? r.child : `${r.child}/${t}`)),
        }));
        const clusters = aggregateMissionStatus(undefined, rs);
        const paths = clusters.map((c) => c.path);
        expect(new Set(paths).size).to.equal(paths.length);
        for (const r of rs) for (const t of r.targets) expect(paths).to.include(t);
        for (const r of rs.filter((x) => !x.connected)) {
          for (const t of r.targets)
            expect(clusters.find((c) => c.path === t)?.state).to.equal("Unreachable");
        }
        const s = summarize(clusters);
        expect(s.applied + s.failed + s.unreachable + s.pending).to.equal(s.total);
      }),
    );
  });
});

describe("edge realignment", () => {
  const m = (name: string, v: string, by?: string): Mission => ({
    metadata: { name, ...(by ? { labels: { [PROPAGATED_BY_LABEL]: by } } : {}) },
    spec: {
      placement: { clusters: ["x"] },
      objects: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "n" }, data: { v } },
      ],
    },
  });

  it("writes missing and changed missions, removes only its own leftovers", () => {
    const plan = planChildMissions(
      [m("same", "1"), m("changed", "2"), m("new", "1")],
      [m("same", "1", "me"), m("changed", "1", "me"), m("gone", "1", "me"), m("local", "1")],
      "me",
    );
    expect(plan).to.deep.equal({ apply: ["changed", "new"], remove: ["gone"] });
  });

  it("after any sequence of changes, applying the plan makes the child equal the desired set (property)", () => {
    const version = fc.constantFrom("1", "2", "3");
    const set = fc.uniqueArray(fc.tuple(fc.constantFrom<string>("m1", "m2", "m3", "m4"), version), {
      selector: ([n]) => n,
      maxLength: 4,
    });
    fc.assert(
      fc.property(set, set, (desiredSpec, actualSpec) => {
        const desired = desiredSpec.map(([n, v]) => m(n, v));
        const actual = new Map(actualSpec.map(([n, v]) => [n, m(n, v, "me")]));
        const plan = planChildMissions(desired, [...actual.values()], "me");
        for (const n of plan.remove) actual.delete(n);
        for (const n of plan.apply) {
          const d = desired.find((x) => x.metadata.name === n) as Mission;
          actual.set(n, { ...d, metadata: { name: n, labels: { [PROPAGATED_BY_LABEL]: "me" } } });
        }
        expect([...actual.keys()].sort()).to.deep.equal(desired.map((d) => d.metadata.name).sort());
        expect(planChildMissions(desired, [...actual.values()], "me")).to.deep.equal({
          apply: [],
          remove: [],
        });
      }),
    );
  });

  it("merge patch follows RFC 7386, canonical JSON ignores key order", () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: [1] })).to.deep.equal({
      a: 1,
      b: { d: 3, e: 4 },
      f: [1],
    });
    expect(canonicalJSON({ b: 1, a: [{ y: 1, x: 2 }] })).to.equal(
      canonicalJSON({ a: [{ x: 2, y: 1 }], b: 1 }),
    );
  });

  it("resolves overrides for the cluster by name or path and labels every object", () => {
    const spec = {
      placement: { clusters: ["a1"] },
      objects: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "c", namespace: "n" },
          data: { v: "1", w: "1" },
        },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "d", namespace: "n" }, data: { v: "1" } },
      ],
      overrides: [
        {
          cluster: "a/a1",
          objects: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: "c", namespace: "n" },
              data: { v: "2" },
            },
          ],
        },
        {
          cluster: "b",
          objects: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: "d", namespace: "n" },
              data: { v: "9" },
            },
          ],
        },
      ],
    };
    const [c, d] = resolveObjects(spec, "m", ["a1", "a/a1"]);
    expect(c?.data).to.deep.equal({ v: "2", w: "1" });
    expect(d?.data).to.deep.equal({ v: "1" });
    expect(c?.metadata.labels).to.deep.equal({ [MISSION_LABEL]: "m" });
    // The mission itself is not modified.
    expect(spec.objects[0]?.data).to.deep.equal({ v: "1", w: "1" });
  });

  it("finds stale inventory and invalid objects", () => {
    const a = { apiVersion: "v1", kind: "ConfigMap", namespace: "n", name: "a" };
    const b = { apiVersion: "v1", kind: "ConfigMap", namespace: "n", name: "b" };
    expect(staleInventory([a, b], [b])).to.deep.equal([a]);
    expect(
      validateObjects([
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } },
        { metadata: {} },
      ]),
    ).to.have.length(3);
  });
});
