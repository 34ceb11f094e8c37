// Quantities and the tenant-wide quota split (pure): the hards never add up to more than the
// tenant's limit, every namespace keeps at least what it uses, and nothing is raised once
// the tenant is full.

import { expect } from "chai";
import fc from "fast-check";
import { remainingKinds } from "../../controllers/tenancy/blockers.ts";
import { covers } from "../../controllers/tenancy/desired.ts";
import { formatMilli, parseMilli } from "../../controllers/tenancy/quantity.ts";
import { allocate, allocateAll, quotaKey, starved, tenantUsage } from "../../controllers/tenancy/quota.ts";

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

describe("tenancy: quota keys and usage", () => {
  it("maps tenant keys to ResourceQuota keys", () => {
    expect(quotaKey("virtualmachines")).to.equal("count/virtualmachines.compute.centaurus.io");
    expect(quotaKey("nvidia.com/gpu")).to.equal("requests.nvidia.com/gpu");
    expect(quotaKey("example.com/fpga")).to.equal("requests.example.com/fpga");
    expect(quotaKey("cpu")).to.equal("cpu");
    expect(quotaKey("count/deployments.apps")).to.equal("count/deployments.apps");
  });
  it("sums use over namespaces under the tenant's names", () => {
    const u = tenantUsage({ pods: "10", "nvidia.com/gpu": "4" }, [
      { pods: "2", "requests.nvidia.com/gpu": "1" },
      { pods: "3" },
      undefined,
    ]);
    expect(u).to.deep.equal({
      hard: { pods: "10", "nvidia.com/gpu": "4" },
      used: { pods: "5", "nvidia.com/gpu": "1" },
    });
  });
});

describe("tenancy: splitting the tenant's headroom", () => {
  const ns = (i: number) => `ns-${i}`;
  it("splits evenly, remainder to the first namespaces by name", () => {
    const hards = allocate("pods", 10_000n, [
      { namespace: "b", used: 0n, current: 0n },
      { namespace: "a", used: 0n, current: 0n },
      { namespace: "c", used: 0n, current: 0n },
    ]);
    expect(hards).to.deep.equal([3000n, 4000n, 3000n]);
  });
  it("moves headroom to where use grew", () => {
    const hards = allocate("pods", 4000n, [
      { namespace: "a", used: 2000n, current: 2000n },
      { namespace: "b", used: 0n, current: 1000n },
      { namespace: "c", used: 0n, current: 1000n },
    ]);
    expect(hards).to.deep.equal([3000n, 1000n, 0n]);
  });
  it("splits cpu by millicores and other resources by whole units", () => {
    const cpu = allocate("cpu", 1000n, [
      { namespace: "a", used: 0n, current: 0n },
      { namespace: "b", used: 0n, current: 0n },
      { namespace: "c", used: 0n, current: 0n },
    ]);
    expect(cpu).to.deep.equal([334n, 333n, 333n]);
  });
  it("property: Σ hard ≤ limit when use fits, each hard ≥ its use; never raises when full", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("pods", "cpu", "memory"),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        fc.array(
          fc.record({
            used: fc.bigInt({ min: 0n, max: 10n ** 8n }),
            current: fc.bigInt({ min: 0n, max: 10n ** 9n }),
          }),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        (key, limit, raw) => {
          const states = raw.map((s, i) => ({ namespace: ns(i), ...s }));
          const hards = allocate(key, limit, states);
          const used = states.reduce((a, s) => a + s.used, 0n);
          const sum = hards.reduce((a, h) => a + h, 0n);
          if (used < limit) {
            expect(sum <= limit).to.equal(true);
            expect(hards.every((h, i) => h >= (states[i]?.used ?? 0n))).to.equal(true);
          } else {
            expect(hards.every((h, i) => h <= (states[i]?.current ?? 0n))).to.equal(true);
          }
        },
      ),
    );
  });
  it("rotates the spare units when there are fewer than namespaces, so none is starved", () => {
    const states = ["a", "b", "c"].map((namespace) => ({ namespace, used: 0n, current: 0n }));
    const holders = [0, 1, 2].map((r) => allocate("pods", 1000n, states, r).findIndex((h) => h > 0n));
    expect(holders.sort()).to.deep.equal([0, 1, 2]);
    expect(starved("pods", 2000n, [0n, 0n, 0n])).to.equal(true);
    expect(starved("pods", 3000n, [0n, 0n, 0n])).to.equal(false);
    expect(starved("cpu", 2n, [0n, 0n, 0n])).to.equal(true);
    expect(starved("pods", 3000n, [3000n, 0n])).to.equal(false); // full: nothing to hand out
  });
  it("allocates every key of a tenant quota", () => {
    const out = allocateAll(
      { pods: "4", memory: "1Gi" },
      ["a", "b"],
      () => 0n,
      () => 0n,
    );
    expect(out.get("a")).to.deep.equal({ pods: "2", memory: "536870912" });
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
