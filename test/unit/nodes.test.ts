import { expect } from "chai";
import fc from "fast-check";
import {
  fakeNode,
  fakeNodes,
  KWOK_ANNOTATION,
  NODE_PROFILES,
  type NodeProfile,
  nodeName,
  PROFILE_LABEL,
  parseNodeSpec,
} from "../../pkg/localcluster/nodes.ts";

const EXPECTED_FORM =
  /expected profile=count with profile one of real, plain, gpu, edge, e\.g\. real=1,plain=3,gpu=2,edge=1/;

describe("localcluster: fake nodes", () => {
  describe("parseNodeSpec", () => {
    it("parses profile=count pairs", () => {
      expect(parseNodeSpec("plain=3,gpu=2,edge=1")).to.deep.equal({ plain: 3, gpu: 2, edge: 1 });
      expect(parseNodeSpec("gpu=4")).to.deep.equal({ plain: 0, gpu: 4, edge: 0 });
      expect(parseNodeSpec(" edge = 2 , plain=0 ")).to.deep.equal({ plain: 0, gpu: 0, edge: 2 });
    });

    it("gives zero nodes for an empty or blank spec", () => {
      expect(parseNodeSpec("")).to.deep.equal({ plain: 0, gpu: 0, edge: 0 });
      expect(parseNodeSpec("   ")).to.deep.equal({ plain: 0, gpu: 0, edge: 0 });
    });

    for (const bad of [
      "cpu=3",
      "plain=-1",
      "plain=1.5",
      "plain=three",
      "plain",
      "=3",
      "plain=3,",
      "PLAIN=1",
    ]) {
      it(`rejects ${JSON.stringify(bad)} with a message showing the expected form`, () => {
        expect(() => parseNodeSpec(bad)).to.throw(EXPECTED_FORM);
      });
    }

    it("names the offending entry in the error", () => {
      expect(() => parseNodeSpec("plain=1,gpu=x")).to.throw(/bad --nodes entry "gpu=x"/);
    });

    // BUG (pkg/localcluster/nodes.ts:22-24): the count goes through Number(), so malformed
    // entries are accepted: "plain=" and "plain= " give 0 (Number("") === 0), "plain=3=4" gives 3
    // (the extra "=4" is ignored), "gpu=0x2" gives 2 and "edge=1e1" gives 10. Expected: each throws
    // the "expected profile=count ..." error; actual: parseNodeSpec returns counts.
    it("rejects entries whose count is missing or not a plain decimal integer", () => {
      for (const bad of ["plain=", "plain= ", "plain=3=4", "gpu=0x2", "edge=1e1"]) {
        expect(() => parseNodeSpec(bad), bad).to.throw(EXPECTED_FORM);
      }
    });

    it("accepts one real node and refuses more: this machine is one host", () => {
      expect(parseNodeSpec("real=1,plain=3")).to.deep.equal({ plain: 3, gpu: 0, edge: 0, real: 1 });
      expect(parseNodeSpec("real=0")).to.deep.equal({ plain: 0, gpu: 0, edge: 0, real: 0 });
      expect(() => parseNodeSpec("real=2")).to.throw(/at most one real node/);
    });

    it("property: formatting counts and parsing them back is the identity", () => {
      fc.assert(
        fc.property(
          fc.record({ plain: fc.nat(50), gpu: fc.nat(50), edge: fc.nat(50) }),
          fc.shuffledSubarray([...NODE_PROFILES]),
          (counts, order) => {
            const spec = order.map((p) => `${p}=${counts[p]}`).join(",");
            const expected = { plain: 0, gpu: 0, edge: 0 };
            for (const p of order) expected[p] = counts[p];
            expect(parseNodeSpec(spec)).to.deep.equal(expected);
          },
        ),
      );
    });
  });

  describe("fakeNodes", () => {
    it("creates the requested number of nodes per profile with predictable names", () => {
      const nodes = fakeNodes({ plain: 3, gpu: 2, edge: 1 });
      expect(nodes.map((n) => n.metadata.name)).to.deep.equal([
        "kwok-plain-0",
        "kwok-plain-1",
        "kwok-plain-2",
        "kwok-gpu-0",
        "kwok-gpu-1",
        "kwok-edge-0",
      ]);
      expect(fakeNodes({ plain: 0, gpu: 0, edge: 0 })).to.deep.equal([]);
      expect(nodeName("gpu", 7)).to.equal("kwok-gpu-7");
    });

    it("every node is a cluster-scoped v1 Node carrying the kwok annotation and its profile label", () => {
      for (const node of fakeNodes({ plain: 2, gpu: 2, edge: 2 })) {
        expect(node.apiVersion).to.equal("v1");
        expect(node.kind).to.equal("Node");
        expect(node.metadata.namespace).to.equal(undefined);
        expect(node.metadata.annotations).to.have.property(KWOK_ANNOTATION, "fake");
        expect(node.metadata.labels).to.have.property("type", "kwok");
        expect(node.metadata.labels).to.have.property("kubernetes.io/hostname", node.metadata.name);
        const profile = node.metadata.labels![PROFILE_LABEL] as NodeProfile;
        expect(NODE_PROFILES).to.include(profile);
        expect(node.metadata.name).to.match(new RegExp(`^kwok-${profile}-\\d+$`));
        expect(node.status.allocatable).to.deep.equal(node.status.capacity);
        for (const key of ["cpu", "memory", "pods", "ephemeral-storage"]) {
          expect(node.status.capacity).to.have.property(key);
        }
      }
    });

    it("only GPU nodes declare nvidia.com/gpu capacity and GPU labels", () => {
      const gpu = fakeNode("gpu", 0);
      expect(gpu.status.capacity).to.have.property("nvidia.com/gpu", "8");
      expect(gpu.status.allocatable).to.have.property("nvidia.com/gpu", "8");
      expect(gpu.metadata.labels).to.have.property("nvidia.com/gpu.present", "true");
      expect(gpu.metadata.labels).to.have.property("nvidia.com/gpu.count", "8");
      for (const profile of ["plain", "edge"] as const) {
        const node = fakeNode(profile, 0);
        expect(node.status.capacity).not.to.have.property("nvidia.com/gpu");
        expect(node.metadata.labels).not.to.have.property("nvidia.com/gpu.present");
      }
    });

    it("only edge nodes are tainted (NoSchedule) and labelled as edge", () => {
      const edge = fakeNode("edge", 0);
      expect(edge.spec.taints).to.deep.equal([
        { key: "centaurus.io/edge", value: "true", effect: "NoSchedule" },
      ]);
      expect(edge.metadata.labels).to.have.property("node-role.kubernetes.io/edge", "");
      expect(edge.metadata.labels).to.have.property("topology.kubernetes.io/zone", "edge");
      expect(fakeNode("plain", 0).spec.taints).to.equal(undefined);
      expect(fakeNode("gpu", 0).spec.taints).to.equal(undefined);
    });

    it("property: counts in, the same counts out, with unique names", () => {
      fc.assert(
        fc.property(fc.record({ plain: fc.nat(20), gpu: fc.nat(20), edge: fc.nat(20) }), (counts) => {
          const nodes = fakeNodes(counts);
          expect(nodes).to.have.length(counts.plain + counts.gpu + counts.edge);
          expect(new Set(nodes.map((n) => n.metadata.name)).size).to.equal(nodes.length);
          for (const p of NODE_PROFILES) {
            const ofProfile = nodes.filter((n) => n.metadata.labels?.[PROFILE_LABEL] === p);
            expect(ofProfile.map((n) => n.metadata.name)).to.deep.equal(
              Array.from({ length: counts[p] }, (_, i) => nodeName(p, i)),
            );
          }
          expect(nodes.every((n) => n.metadata.annotations?.[KWOK_ANNOTATION] === "fake")).to.equal(true);
        }),
      );
    });
  });
});
