// The tenant ledger's arithmetic (pure): what a pod or VM is charged, when a create is
// refused (exactly when it would pass a limit, never otherwise), and how the keeper brings the
// charges back to what lives.

import { expect } from "chai";
import fc from "fast-check";
import { GPU_COMPUTE_ANNOTATION, GPU_MEMORY_ANNOTATION } from "../../controllers/shared/gpu-share.ts";
import {
  type Charge,
  decodeCharge,
  decodeUse,
  encodeCharge,
  encodeUse,
  exhausted,
  hardOf,
  ledgerKey,
  ledgerUsage,
  podUse,
  reconcileCharges,
  refusal,
  totalUse,
  unaccounted,
} from "../../controllers/tenancy/ledger.ts";
import type { Pod } from "../../pkg/kube/core.ts";

const pod = (spec: Record<string, unknown>, annotations?: Record<string, string>): Pod => ({
  metadata: { name: "p", namespace: "acme-web", annotations },
  spec: spec as Pod["spec"],
});
const req = (cpu: string, memory?: string) => ({
  name: "c",
  image: "x",
  resources: { requests: { cpu, ...(memory ? { memory } : {}) } },
});

describe("tenancy: the ledger's charges", () => {
  it("charges a pod as the API server's quota counts it: containers and sidecars summed, the largest init container, overhead", () => {
    const use = podUse(
      pod({
        containers: [req("100m", "64Mi"), req("200m")],
        initContainers: [req("500m"), { ...req("50m"), restartPolicy: "Always" }],
        overhead: { cpu: "10m" },
      }),
    );
    expect(encodeUse(use)).to.deep.equal({
      cpu: "510m",
      memory: String(64 * 1024 * 1024),
      "limits.cpu": "510m",
      "limits.memory": String(64 * 1024 * 1024),
      pods: "1",
    });
  });

  it("charges whole GPUs as GPUs and device-equivalents of compute, a share as compute and memory", () => {
    const whole = podUse(
      pod({ containers: [{ name: "c", resources: { requests: { "nvidia.com/gpu": "2" } } }] }),
    );
    expect(whole["nvidia.com/gpu"]).to.equal(2000n);
    expect(whole["ai.centaurus.io/gpu-compute"]).to.equal(2000n);
    const share = podUse(
      pod(
        { containers: [{ name: "c" }] },
        { [GPU_COMPUTE_ANNOTATION]: "30", [GPU_MEMORY_ANNOTATION]: "1024" },
      ),
    );
    expect(share["nvidia.com/gpu"]).to.equal(undefined);
    expect(share["ai.centaurus.io/gpu-compute"]).to.equal(300n);
    expect(encodeUse(share)["ai.centaurus.io/gpu-memory"]).to.equal(String(1024 ** 3));
  });

  it("stores a charge as one line and reads it back", () => {
    const c: Charge = {
      ref: "pods/acme-web/p",
      at: "2026-12-02T10:00:00.000Z",
      use: { cpu: "100m", pods: "1" },
    };
    expect(encodeCharge(c)).to.equal("pods/acme-web/p 2026-12-02T10:00:00.000Z cpu=100m,pods=1");
    expect(decodeCharge(encodeCharge(c))).to.deep.equal(c);
  });

  it("reads the quota's keys under their ResourceQuota spellings too", () => {
    expect(ledgerKey("requests.cpu")).to.equal("cpu");
    expect(ledgerKey("count/virtualmachines.compute.centaurus.io")).to.equal("virtualmachines");
    expect(ledgerKey("count/configmaps")).to.equal(undefined);
    expect(hardOf({ cpu: "2", "requests.nvidia.com/gpu": 4 })).to.deep.equal({
      cpu: 2000n,
      "nvidia.com/gpu": 4000n,
    });
    expect(decodeUse({ cpu: "100m", bogus: "1" })).to.deep.equal({ cpu: 100n });
  });

  it("refuses in the API server's quota words, naming the tenant and what is left", () => {
    const over = exhausted({ cpu: 2000n }, { cpu: 1950n }, { cpu: 100n, pods: 1000n });
    expect(over).to.have.length(1);
    expect(refusal("acme", "tenant-acme-quota", over)).to.equal(
      "exceeded quota: tenant-acme-quota, requested: cpu=100m, used: cpu=1950m, limited: cpu=2; tenant acme has 50m cpu left in all its namespaces together",
    );
    expect(exhausted({ cpu: 2000n }, { cpu: 1900n }, { cpu: 100n })).to.deep.equal([]);
    expect(ledgerUsage({ cpu: 2000n }, { cpu: 1900n, pods: 19000n })).to.deep.equal({
      hard: { cpu: "2" },
      used: { cpu: "1900m", pods: "19" },
    });
  });

  it("property: admitting in any order never passes a limit, and refuses only what would pass it", () => {
    const step = fc.record({ cpu: fc.integer({ min: 1, max: 700 }), release: fc.boolean() });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.array(step, { maxLength: 60 }), (limit, steps) => {
        const hard = { cpu: BigInt(limit) };
        const charges: Record<string, string> = {};
        steps.forEach((s, i) => {
          const keys = Object.keys(charges);
          if (s.release && keys.length) {
            delete charges[keys[s.cpu % keys.length] ?? ""];
            return;
          }
          const used = totalUse(charges).cpu ?? 0n;
          const over = exhausted(hard, totalUse(charges), { cpu: BigInt(s.cpu) });
          // Refused exactly when it would not fit: the last millicore can always be spent.
          expect(over.length > 0).to.equal(used + BigInt(s.cpu) > hard.cpu);
          if (!over.length)
            charges[`u${i}`] = encodeCharge({ ref: "pods/x/y", at: "", use: { cpu: `${s.cpu}m` } });
          expect((totalUse(charges).cpu ?? 0n) <= hard.cpu).to.equal(true);
        });
      }),
    );
  });
});

describe("tenancy: the ledger keeper's decisions", () => {
  const now = Date.parse("2026-12-02T10:00:00Z");
  const at = (agoMs: number) => new Date(now - agoMs).toISOString();
  const charge = (agoMs: number): string =>
    encodeCharge({ ref: "pods/acme-web/p", at: at(agoMs), use: { pods: "1" } });
  const holder = (uid: string) => ({ uid, ref: `pods/acme-web/${uid}`, use: { pods: 1000n } });

  it("drops what went, keeps what lives, waits for a young charge, and charges what runs uncharged", () => {
    const charges = {
      live: charge(60_000),
      went: charge(1_000),
      young: charge(2_000),
      failed: charge(30_000),
    };
    const seen = {
      live: new Map([
        ["live", holder("live")],
        ["adopted", holder("adopted")],
      ]),
      gone: new Set(["went"]),
    };
    expect(unaccounted(charges, seen, now, 10_000).map(([uid]) => uid)).to.deep.equal(["failed"]);
    const r = reconcileCharges(charges, seen, now, 10_000, new Set());
    expect(Object.keys(r.charges).sort()).to.deep.equal(["adopted", "live", "young"]);
    expect(r.pending).to.equal(1);
    expect(r.changed).to.equal(true);
    // A charge the cache does not show but the API server has stays.
    expect(Object.keys(reconcileCharges(charges, seen, now, 10_000, new Set(["failed"])).charges)).to.include(
      "failed",
    );
  });

  it("changes nothing when the charges are what lives", () => {
    const seen = { live: new Map([["a", holder("a")]]), gone: new Set<string>() };
    const r = reconcileCharges({ a: charge(60_000) }, seen, now, 10_000, new Set());
    expect(r.changed).to.equal(false);
    expect(r.pending).to.equal(0);
  });
});
