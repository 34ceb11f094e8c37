// The edge tree's pure logic: paths, subtree flattening, cycle and attached-twice detection.

import { expect } from "chai";
import fc from "fast-check";
import type { SubtreeEntry } from "../../controllers/edge/api.ts";
import {
  absolutePath,
  depthOf,
  flattenSubtree,
  leafName,
  markDisconnected,
  prefixPath,
  validateAttachments,
} from "../../controllers/edge/tree.ts";

const segment = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/);
const relPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));

describe("edge tree: paths", () => {
  it("prefixes relative paths and keeps '.' as the cluster itself", () => {
    expect(prefixPath("a", ".")).to.equal("a");
    expect(prefixPath("a", "a1")).to.equal("a/a1");
    expect(prefixPath("a", "a1/x")).to.equal("a/a1/x");
    expect(absolutePath("", ".")).to.equal("");
    expect(absolutePath("", "a")).to.equal("a");
    expect(absolutePath("a", "a1")).to.equal("a/a1");
    expect(leafName("a/a1")).to.equal("a1");
    expect(depthOf(".")).to.equal(0);
    expect(depthOf("a/a1")).to.equal(2);
  });

  it("prefixing adds exactly one level and keeps the leaf (property)", () => {
    fc.assert(
      fc.property(segment, relPath, (parent, rel) => {
        const p = prefixPath(parent, rel);
        expect(depthOf(p)).to.equal(depthOf(rel) + 1);
        expect(leafName(p)).to.equal(leafName(rel));
        expect(p.startsWith(`${parent}/`)).to.equal(true);
      }),
    );
  });
});

describe("edge tree: flattening a child's subtree", () => {
  it("lists the child first, then every descendant with paths relative to the parent", () => {
    const flat = flattenSubtree(
      {
        name: "a",
        clusterID: "id-a",
        connection: "Connected",
        labels: { region: "north" },
        nodesReady: 2,
        nodesTotal: 2,
      },
      [
        {
          name: "a1",
          subtree: [
            { path: "a1", clusterID: "id-a1", connection: "Connected", labels: { tier: "far" } },
            { path: "a1/x", clusterID: "id-x", connection: "Disconnected" },
          ],
        },
        { name: "a0" },
      ],
    );
    expect(flat.map((e) => [e.path, e.connection])).to.deep.equal([
      ["a", "Connected"],
      ["a/a0", "Disconnected"],
      ["a/a1", "Connected"],
      ["a/a1/x", "Disconnected"],
    ]);
    expect(flat[0]).to.include({ clusterID: "id-a", nodesReady: 2, nodesTotal: 2 });
    expect(flat[2]?.labels).to.deep.equal({ tier: "far" });
  });

  it("a disconnected child makes its whole subtree Disconnected", () => {
    const flat = flattenSubtree({ name: "a", connection: "Disconnected" }, [
      { name: "a1", subtree: [{ path: "a1", connection: "Connected" }] },
    ]);
    expect(flat.every((e) => e.connection === "Disconnected")).to.equal(true);
    expect(markDisconnected([{ path: "x", connection: "Connected" }])).to.deep.equal([
      { path: "x", connection: "Disconnected" },
    ]);
  });

  it("every flattened path is unique and starts with the child's name (property)", () => {
    const grandchild = fc.record({
      name: segment,
      subtree: fc.array(
        relPath.map((p): SubtreeEntry => ({ path: p, connection: "Connected" })),
        { maxLength: 5 },
      ),
    });
    fc.assert(
      fc.property(segment, fc.array(grandchild, { maxLength: 5 }), (name, gs) => {
        const flat = flattenSubtree({ name, connection: "Connected" }, gs);
        const paths = flat.map((e) => e.path);
        expect(new Set(paths).size).to.equal(paths.length);
        expect(paths[0]).to.equal(name);
        for (const p of paths.slice(1)) expect(p.startsWith(`${name}/`)).to.equal(true);
      }),
    );
  });
});

describe("edge tree: cycles and clusters attached twice", () => {
  const ancestors = [
    { clusterID: "root", path: "" },
    { clusterID: "a", path: "a" },
  ];

  it("accepts distinct children", () => {
    const v = validateAttachments({
      selfID: "a1",
      ancestors,
      children: [
        { name: "x", clusterID: "x" },
        {
          name: "y",
          clusterID: "y",
          subtree: [
            { path: "y", clusterID: "y" },
            { path: "y/z", clusterID: "z" },
          ],
        },
        { name: "pending" },
      ],
    });
    for (const n of ["x", "y", "pending"]) expect(v.get(n)).to.deep.equal({ accepted: true });
  });

  it("refuses a child that is this cluster, an ancestor, or whose subtree reaches back", () => {
    const v = validateAttachments({
      selfID: "a1",
      ancestors,
      children: [
        { name: "me", clusterID: "a1" },
        { name: "up", clusterID: "root" },
        { name: "around", clusterID: "w", subtree: [{ path: "around/q", clusterID: "a" }] },
      ],
    });
    for (const n of ["me", "up", "around"]) {
      const verdict = v.get(n);
      expect(verdict?.accepted).to.equal(false);
      if (verdict && !verdict.accepted) expect(verdict.reason).to.equal("Cycle");
    }
    const up = v.get("up");
    if (up && !up.accepted) expect(up.message).to.contain("the root");
  });

  it("refuses the younger of two EdgeClusters naming one cluster, and one reachable through a sibling", () => {
    const v = validateAttachments({
      selfID: "root",
      ancestors: [],
      children: [
        { name: "second", clusterID: "b", creationTimestamp: "2026-01-02T00:00:00Z" },
        { name: "first", clusterID: "b", creationTimestamp: "2026-01-01T00:00:00Z" },
        {
          name: "a",
          clusterID: "a",
          subtree: [
            { path: "a", clusterID: "a" },
            { path: "a/a1", clusterID: "a1" },
          ],
        },
        { name: "a1-again", clusterID: "a1" },
      ],
    });
    expect(v.get("first")).to.deep.equal({ accepted: true });
    expect(v.get("a")).to.deep.equal({ accepted: true });
    const second = v.get("second");
    expect(second?.accepted).to.equal(false);
    if (second && !second.accepted) expect(second.reason).to.equal("AttachedTwice");
    const again = v.get("a1-again");
    if (again && !again.accepted) {
      expect(again.reason).to.equal("AttachedTwice");
      expect(again.message).to.contain("a/a1");
    } else expect.fail("a1-again should be refused");
  });

  it("accepted children never share a cluster id, and never hold self or an ancestor (property)", () => {
    const id = fc.constantFrom("r", "p", "s", "c1", "c2", "c3", "c4");
    const child = fc.record({
      name: segment,
      clusterID: fc.option(id, { nil: undefined }),
      subtree: fc.array(fc.record({ path: relPath, clusterID: fc.option(id, { nil: undefined }) }), {
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(child, { selector: (c) => c.name, maxLength: 6 }), (children) => {
        const v = validateAttachments({
          selfID: "s",
          ancestors: [
            { clusterID: "r", path: "" },
            { clusterID: "p", path: "p" },
          ],
          children,
        });
        const accepted = children.filter((c) => v.get(c.name)?.accepted);
        const ids = accepted.map((c) => c.clusterID).filter((x) => x !== undefined);
        expect(new Set(ids).size).to.equal(ids.length);
        for (const c of accepted) {
          for (const x of [c.clusterID, ...c.subtree.map((e) => e.clusterID)]) {
            expect(["s", "r", "p"]).to.not.include(x);
          }
        }
        expect(v.size).to.equal(children.length);
      }),
    );
  });
});
