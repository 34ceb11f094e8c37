// Which reconcile failures are worth a warning: a lost write race that its retry resolves is not.

import { expect } from "chai";
import { isRoutineRetry, QUIET_RETRIES } from "../../pkg/controller/error-policy.ts";
import { ApiError } from "../../pkg/kube/errors.ts";

describe("error policy: routine retries", () => {
  const conflict = new ApiError(
    409,
    { reason: "Conflict", message: "the object has been modified" },
    "PUT x",
  );
  const uncounted = new ApiError(
    403,
    { reason: "Forbidden", message: "status unknown for quota: tenant-acme-quota, resources: pods" },
    "POST pods",
  );
  const forbidden = new ApiError(403, { reason: "Forbidden", message: "cannot create pods" }, "POST pods");

  it("a conflict or an uncounted quota is routine for its first retries, a warning if it keeps coming", () => {
    for (const err of [conflict, uncounted]) {
      expect(isRoutineRetry(err, 1)).to.equal(true);
      expect(isRoutineRetry(err, QUIET_RETRIES)).to.equal(true);
      expect(isRoutineRetry(err, QUIET_RETRIES + 1)).to.equal(false);
    }
  });

  it("anything else is worth a warning at once", () => {
    expect(isRoutineRetry(forbidden, 1)).to.equal(false);
    expect(isRoutineRetry(new Error("boom"), 1)).to.equal(false);
  });
});
