// The decisions split out of the Tenant reconciler (pure): the Ready condition of an active
// tenant and what a deletion waits for.

import { expect } from "chai";
import { heldByFinalizers, holdingConditions, waitingForLine } from "../../controllers/tenancy/blockers.ts";
import { sameRuntimeLabels } from "../../controllers/tenancy/owned-objects.ts";
import { activeReadiness } from "../../controllers/tenancy/status.ts";

describe("tenancy: reconcile steps", () => {
  it("reports conflicts first, then provisioning, then the quota ledger", () => {
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
    expect(activeReadiness([], [], 2, false).reason).to.equal("LedgerPending");
    expect(activeReadiness([], [], 2, true)).to.deep.equal({
      ready: true,
      reason: "Provisioned",
      message: "2 namespaces ready",
    });
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
