// Node counting and capacity sums behind the distro adapters.

import { expect } from "chai";
import fc from "fast-check";
import { adapterFor, summarizeNodes, sumQuantities } from "../../controllers/edge/adapter.ts";

describe("edge distro adapters", () => {
  it("sums Kubernetes quantities in their base unit", () => {
    expect(sumQuantities(["32", "4"])).to.equal("36");
    expect(sumQuantities(["128Gi", "8Gi"])).to.equal("136Gi");
    expect(sumQuantities(["512Mi", "512Mi"])).to.equal("1Gi");
    expect(sumQuantities(["500m", "1"])).to.equal("1500m");
    expect(sumQuantities(["1k", "1"])).to.equal("1001");
  });

  it("summing whole Gi values equals their integer sum (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1024 }), { minLength: 1, maxLength: 20 }), (gis) => {
        expect(sumQuantities(gis.map((g) => `${g}Gi`))).to.equal(`${gis.reduce((a, b) => a + b, 0)}Gi`);
      }),
    );
  });

  it("counts ready and total nodes and adds capacities", () => {
    const node = (ready: boolean, cpu: string) => ({
      metadata: {},
      status: {
        conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
        capacity: { cpu, memory: "8Gi" },
      },
    });
    expect(summarizeNodes([node(true, "4"), node(false, "32")])).to.deep.equal({
      nodes: { ready: 1, total: 2 },
      capacity: { cpu: "36", memory: "16Gi" },
    });
  });

  it("has one adapter per distro, k8s by default", () => {
    expect(adapterFor(undefined).distro).to.equal("k8s");
    for (const d of ["k8s", "k3s", "arktos"] as const) expect(adapterFor(d).distro).to.equal(d);
  });
});
