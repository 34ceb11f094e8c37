// The decisions split out of the Tenant reconciler (pure): the Ready condition of an active
// tenant, how one namespace's quota moves to its target, and what a deletion waits for.

import { expect } from "chai";
import { heldByFinalizers, holdingConditions, waitingForLine } from "../../controllers/tenancy/blockers.ts";
import { sameRuntimeLabels } from "../../controllers/tenancy/owned-objects.ts";
import { hardDiffers, planHard } from "../../controllers/tenancy/quota.ts";
import { activeReadiness } from "../../controllers/tenancy/status.ts";

describe("tenancy: reconcile steps", () => {
  it("reports conflicts first, then provisioning, then quota syncing", () => {
    expect(activeReadiness(["ns a taken"], ["b"], 2, false)).to.deep.equal({
      ready: false,
      reason: "NamespaceConflict",
      message: "ns a taken",
    });
    expect(activeReadiness([], ["b", "c"], 2, true)).to.deep.equal({
      ready: false,
      reason: "Provisioning",
      message: "creating namespaces b, c",
    });
    expect(activeReadiness([], [], 2, false).reason).to.equal("QuotaSyncing");
    expect(activeReadiness([], [], 2, true)).to.deep.equal({
      ready: true,
      reason: "Provisioned",
      message: "2 namespaces ready",
    });
  });

  it("plans a lowering that never raises, then the target", () => {
    const keys = ["cpu", "memory"];
    const plan = planHard(
      keys,
      { cpu: "1", memory: "4Gi" },
      { cpu: "2", memory: "2Gi" },
      { cpu: "2", memory: "2Gi" },
    );
    expect(plan.lower).to.deep.equal({ cpu: "1", memory: "2Gi" });
    expect(plan.raise).to.deep.equal({ cpu: "1", memory: "4Gi" });
    const up = planHard(
      keys,
      { cpu: "3", memory: "2Gi" },
      { cpu: "2", memory: "2Gi" },
      { cpu: "2", memory: "2Gi" },
    );
    expect(up).to.deep.equal({ raise: { cpu: "3", memory: "2Gi" } });
    // status.hard behind spec.hard still needs the write.
    expect(planHard(["cpu"], { cpu: "2" }, { cpu: "2" }, { cpu: "1" })).to.deep.equal({
      raise: { cpu: "2" },
    });
    expect(
      planHard(
        keys,
        { cpu: "2", memory: "2Gi" },
        { cpu: "2", memory: "2Gi" },
        { cpu: "2000m", memory: "2Gi" },
      ),
    ).to.deep.equal({});
  });

  it("compares hards by amount", () => {
    expect(hardDiffers({ cpu: "1000m" }, { cpu: "1" })).to.equal(false);
    expect(hardDiffers(undefined, { cpu: "1" })).to.equal(true);
    expect(hardDiffers({ cpu: "1" }, {})).to.equal(false);
  });

  it("says what a terminating namespace waits for", () => {
    const ns = (conditions: Array<{ type: string; status: string; message?: string }>) => ({
      metadata: { name: "acme-dev" },
      status: { conditions },
    });
    const held = ns([
      { type: "NamespaceFinalizersRemaining", status: "True", message: "finalizers remain" },
      { type: "NamespaceDeletionDiscoveryFailure", status: "True", message: "discovery" },
      { type: "NamespaceContentRemaining", status: "False", message: "none" },
    ]);
    expect(holdingConditions(held).map((c) => c.type)).to.deep.equal(["NamespaceFinalizersRemaining"]);
    expect(heldByFinalizers(held)).to.equal(true);
    expect(waitingForLine(held, ["configmaps/a (finalizer x)"])).to.equal(
      "namespace acme-dev: waiting for configmaps/a (finalizer x)",
    );
    expect(waitingForLine(held, [])).to.equal("namespace acme-dev: finalizers remain");
    expect(heldByFinalizers(ns([]))).to.equal(false);
    expect(waitingForLine(ns([]), [])).to.equal("namespace acme-dev: deleting its content");
  });

  it("compares only runtime-class labels of namespaces", () => {
    const ns = (labels: Record<string, string>) => ({ metadata: { name: "n", labels } });
    expect(
      sameRuntimeLabels(
        ns({ a: "1", "runtimeclass.x/kata": "allowed" }),
        ns({ "runtimeclass.x/kata": "allowed" }),
      ),
    ).to.equal(true);
    expect(sameRuntimeLabels(ns({ "x/runtime-classes-restricted": "true" }), ns({}))).to.equal(false);
  });
});
