// Quantities (pure) and the tenancy helpers; the tenant ledger's arithmetic is in
// tenancy-ledger.test.ts.

import { expect } from "chai";
import fc from "fast-check";
import { remainingKinds } from "../../controllers/tenancy/blockers.ts";
import { covers } from "../../controllers/tenancy/desired.ts";
import { formatMilli, parseMilli } from "../../controllers/tenancy/quantity.ts";

describe("tenancy: quantities", () => {
  it("parses Kubernetes quantities to milli-units", () => {
    expect(parseMilli("500m")).to.equal(500n);
    expect(parseMilli("2")).to.equal(2000n);
    expect(parseMilli(3)).to.equal(3000n);
    expect(parseMilli("1.5")).to.equal(1500n);
    expect(parseMilli("4Gi")).to.equal(4n * 1024n ** 3n * 1000n);
    expect(parseMilli("1k")).to.equal(1_000_000n);
    expect(parseMilli("2e3")).to.equal(2_000_000n);
    expect(parseMilli("1n")).to.equal(1n); // rounded up, as the API server does
    expect(() => parseMilli("lots")).to.throw(/not a quantity/);
  });
  it("formats whole units without a suffix and fractions in milli", () => {
    expect(formatMilli(2000n)).to.equal("2");
    expect(formatMilli(1500n)).to.equal("1500m");
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), (m) => parseMilli(formatMilli(m)) === m));
  });
});

describe("tenancy: helpers", () => {
  it("reads the kinds a terminating namespace still holds", () => {
    expect(
      remainingKinds(
        "Some resources are remaining: configmaps. has 1 resource instances, virtualmachines.compute.centaurus.io has 2 resource instances",
      ),
    ).to.deep.equal([
      { resource: "configmaps", group: "" },
      { resource: "virtualmachines", group: "compute.centaurus.io" },
    ]);
  });
  it("covers: desired fields present in actual; absent equals empty", () => {
    expect(covers({ a: 1, b: [{ c: 2, d: 3 }] }, { b: [{ c: 2 }] })).to.equal(true);
    expect(covers({ a: 1 }, { a: 2 })).to.equal(false);
    expect(covers({}, { subjects: [] })).to.equal(true);
    expect(covers({ b: [1, 2] }, { b: [1] })).to.equal(false);
  });
});
