import { expect } from "chai";
import fc from "fast-check";
import {
  cidrContains,
  cidrsOverlap,
  formatIP,
  IPPool,
  isCIDR,
  macFor,
  parseCIDR,
  parseExclusion,
  parseIP,
} from "../../controllers/network/ipam.ts";
import { chooseVNI, MAX_VNI, MIN_VNI } from "../../controllers/network/vni.ts";

/** A small random subnet with gateway and exclusions inside it. */
const poolSpec = fc
  .record({ third: fc.integer({ min: 0, max: 255 }), prefix: fc.integer({ min: 24, max: 30 }) })
  .chain(({ third, prefix }) => {
    const size = 2 ** (32 - prefix);
    const base = parseIP(`10.1.${third}.0`);
    const host = fc.integer({ min: 0, max: size - 1 }).map((o) => formatIP(base + o));
    return fc.record({
      cidr: fc.constant(`10.1.${third}.0/${prefix}`),
      gateway: fc.option(host, { nil: undefined }),
      excludeIPs: fc.array(
        fc.oneof(
          host,
          fc
            .tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 0, max: 3 }))
            .map(([o, n]) => `${formatIP(base + o)}..${formatIP(base + Math.min(size - 1, o + n))}`),
        ),
        { maxLength: 4 },
      ),
    });
  });

function reservedSet(spec: { cidr: string; gateway?: string; excludeIPs: string[] }): Set<number> {
  const c = parseCIDR(spec.cidr);
  const out = new Set<number>([
    c.base,
    c.base + c.size - 1,
    spec.gateway ? parseIP(spec.gateway) : c.base + 1,
  ]);
  for (const e of spec.excludeIPs) {
    const [lo, hi] = parseExclusion(e);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

describe("network ipam", () => {
  it("parses and formats addresses and CIDRs", () => {
    expect(formatIP(parseIP("10.0.255.1"))).to.equal("10.0.255.1");
    expect(() => parseIP("10.0.0.256")).to.throw();
    expect(() => parseIP("010.0.0.1")).to.throw();
    expect(isCIDR("10.0.0.0/16")).to.equal(true);
    expect(isCIDR("10.0.0.1/16")).to.equal(false);
    expect(isCIDR("10.0.0.0/33")).to.equal(false);
    expect(cidrContains(parseCIDR("10.0.0.0/16"), parseCIDR("10.0.3.0/24"))).to.equal(true);
    expect(cidrContains(parseCIDR("10.0.0.0/16"), parseCIDR("10.1.0.0/24"))).to.equal(false);
    expect(cidrsOverlap(parseCIDR("10.0.0.0/24"), parseCIDR("10.0.0.128/25"))).to.equal(true);
    expect(cidrsOverlap(parseCIDR("10.0.0.0/25"), parseCIDR("10.0.0.128/25"))).to.equal(false);
    expect(macFor("10.0.1.2")).to.equal("02:00:0a:00:01:02");
  });

  it("skips network, gateway, broadcast and excluded addresses", () => {
    const pool = new IPPool({ cidr: "10.0.0.0/29", excludeIPs: ["10.0.0.3", "10.0.0.5..10.0.0.5"] });
    const got: string[] = [];
    for (let ip = pool.allocate(); ip; ip = pool.allocate()) got.push(ip);
    expect(got).to.deep.equal(["10.0.0.2", "10.0.0.4", "10.0.0.6"]);
    expect(pool.capacity).to.equal(3);
    expect(pool.available).to.equal(0);
  });

  it("property: filling a subnet hands out every usable address once and no reserved one", () => {
    fc.assert(
      fc.property(poolSpec, (spec) => {
        const pool = new IPPool(spec);
        const c = parseCIDR(spec.cidr);
        const reserved = reservedSet(spec);
        const got = new Set<string>();
        for (let ip = pool.allocate(); ip !== undefined; ip = pool.allocate()) {
          expect(got.has(ip), `duplicate ${ip}`).to.equal(false);
          got.add(ip);
          expect(reserved.has(parseIP(ip)), `reserved ${ip} handed out`).to.equal(false);
          expect(parseIP(ip) >= c.base && parseIP(ip) < c.base + c.size).to.equal(true);
        }
        let usable = 0;
        for (let i = c.base; i < c.base + c.size; i++) if (!reserved.has(i)) usable++;
        expect(got.size).to.equal(usable);
        expect(pool.capacity).to.equal(usable);
      }),
      { numRuns: 300 },
    );
  });

  it("property: random allocate/release never duplicates and every freed address is reusable", () => {
    fc.assert(
      fc.property(
        poolSpec,
        fc.array(fc.oneof(fc.constant<"alloc">("alloc"), fc.nat(1000)), { maxLength: 120 }),
        (spec, ops) => {
          const pool = new IPPool(spec);
          const held = new Set<string>();
          for (const op of ops) {
            if (op === "alloc") {
              const ip = pool.allocate();
              if (ip === undefined) expect(held.size).to.equal(pool.capacity);
              else {
                expect(held.has(ip)).to.equal(false);
                held.add(ip);
              }
            } else if (held.size > 0) {
              const ip = [...held][op % held.size]!;
              pool.release(ip);
              held.delete(ip);
            }
          }
          // Fill up, free a subset, and get exactly that subset back.
          for (let ip = pool.allocate(); ip !== undefined; ip = pool.allocate()) held.add(ip);
          expect(held.size).to.equal(pool.capacity);
          const freed = [...held].filter((_, i) => i % 3 === 0);
          for (const ip of freed) pool.release(ip);
          const again = new Set<string>();
          for (let ip = pool.allocate(); ip !== undefined; ip = pool.allocate()) again.add(ip);
          expect([...again].sort()).to.deep.equal([...freed].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: a pool rebuilt from the claimed addresses never hands one of them out", () => {
    fc.assert(
      fc.property(poolSpec, fc.nat(50), fc.array(fc.nat(10), { maxLength: 5 }), (spec, n, skips) => {
        const first = new IPPool(spec);
        const claimed: string[] = [];
        for (let i = 0; i < n; i++) {
          const ip = first.allocate();
          if (ip) claimed.push(ip);
        }
        const rebuilt = IPPool.from(spec, claimed);
        expect(rebuilt.usedCount).to.equal(claimed.length);
        // Candidates lost in a race are skipped too.
        const skip = new Set<string>();
        for (const s of skips) {
          const c = rebuilt.next(skip);
          if (c && s % 2 === 0) skip.add(c);
        }
        for (let ip = rebuilt.allocate(skip); ip !== undefined; ip = rebuilt.allocate(skip)) {
          expect(claimed.includes(ip)).to.equal(false);
          expect(skip.has(ip)).to.equal(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("network vni", () => {
  it("grants a free requested VNI and refuses a taken one", () => {
    expect(chooseVNI("a", new Map([[7, "b"]]), 8)).to.deep.equal({ vni: 8 });
    expect(chooseVNI("a", new Map([[7, "b"]]), 7))
      .to.have.property("conflict")
      .that.matches(/used by VPC b/);
    expect(chooseVNI("a", new Map([[7, "a"]]), 7)).to.deep.equal({ vni: 7 });
    expect(chooseVNI("a", new Map(), 0)).to.have.property("conflict");
  });

  it("property: allocated VNIs are unique, in range and stable", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), { maxLength: 60 }), (names) => {
        const used = new Map<number, string>();
        for (const name of names) {
          const choice = chooseVNI(name, used);
          if (!("vni" in choice)) throw new Error(choice.conflict);
          expect(choice.vni).to.be.within(MIN_VNI, MAX_VNI);
          expect(used.has(choice.vni)).to.equal(false);
          used.set(choice.vni, name);
          expect(chooseVNI(name, used)).to.deep.equal(choice);
        }
      }),
    );
  });
});
