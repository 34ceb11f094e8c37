// The named steps of the launcher and its status (pure): volumes, the state a launcher puts a
// VM in, and why the API server refused a launcher.

import { expect } from "chai";
import type { VirtualMachine } from "../../controllers/compute/api.ts";
import { launcherState, launcherVolumes, refusal } from "../../controllers/compute/launcher.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { ApiError } from "../../pkg/kube/errors.ts";

const vm = (spec: Partial<VirtualMachine["spec"]> = {}): VirtualMachine => ({
  apiVersion: "compute.centaurus.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "web", namespace: "acme-default", uid: "u-1", generation: 3 },
  spec: { image: "img", ...spec },
});

const pod = (phase: string, node?: string, conditions?: NonNullable<Pod["status"]>["conditions"]): Pod => ({
  metadata: { name: "web-launcher", namespace: "acme-default", uid: "p-1" },
  spec: { nodeName: node },
  status: { phase, conditions },
});

describe("compute: launcher steps", () => {
  it("mounts cloud-init and every non-boot disk", () => {
    const { volumes, mounts } = launcherVolumes(
      vm({
        sshKeys: ["k"],
        disks: [
          { name: "root", boot: true },
          { name: "data", size: "1Gi" },
        ],
      }),
    );
    expect(volumes).to.deep.equal([
      { name: "cloudinit", secret: { secretName: "web-cloudinit" } },
      { name: "disk-data", emptyDir: { sizeLimit: "1Gi" } },
    ]);
    expect(mounts).to.have.length(2);
    expect(launcherVolumes(vm())).to.deep.equal({ volumes: [], mounts: [] });
  });

  it("states each launcher situation with its phase and reason", () => {
    const reason = (v: VirtualMachine, p?: Pod, e?: { reason: string; message: string }) => {
      const s = launcherState(v, p, e);
      return [s.phase, s.ready.reason, s.scheduled?.reason];
    };
    expect(reason(vm({ powerState: "Stopped" }))).to.deep.equal(["Stopped", "Stopped", undefined]);
    expect(reason(vm({ powerState: "Stopped" }), pod("Running", "n1"))).to.deep.equal([
      "Stopping",
      "Stopping",
      "Scheduled",
    ]);
    expect(reason(vm())).to.deep.equal(["Pending", "Creating", undefined]);
    expect(reason(vm(), undefined, { reason: "QuotaExceeded", message: "m" })).to.deep.equal([
      "Pending",
      "QuotaExceeded",
      undefined,
    ]);
    expect(reason(vm(), pod("Pending"))).to.deep.equal(["Scheduling", "Scheduling", undefined]);
    const unschedulable = pod("Pending", undefined, [
      { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "no cpu" },
    ]);
    expect(reason(vm(), unschedulable)).to.deep.equal(["Scheduling", "Unschedulable", "Unschedulable"]);
    expect(reason(vm(), pod("Pending", "n1"))).to.deep.equal(["Starting", "Starting", "Scheduled"]);
    expect(reason(vm(), pod("Running", "n1"))).to.deep.equal(["Running", "Running", "Scheduled"]);
    expect(reason(vm(), pod("Failed", "n1"))).to.deep.equal(["Failed", "LauncherExited", "Scheduled"]);
    const going = { ...pod("Running", "n1"), metadata: { name: "x", deletionTimestamp: "t" } };
    expect(reason(vm(), going)).to.deep.equal(["Starting", "Rebooting", "Scheduled"]);
    expect(launcherState(vm(), pod("Running", "n1"), undefined).ready.status).to.equal("True");
  });

  it("names why a launcher was refused, and nothing for other errors", () => {
    const err = (code: number, message: string) => new ApiError(code, { message }, "create pod");
    expect(refusal(err(403, "exceeded quota: tenant"))).to.deep.equal({
      reason: "QuotaExceeded",
      message: "exceeded quota: tenant",
    });
    expect(refusal(err(403, "forbidden"))?.reason).to.equal("LauncherForbidden");
    expect(refusal(err(422, "bad"))?.reason).to.equal("InvalidLauncher");
    expect(refusal(err(500, "boom"))).to.equal(undefined);
    // A quota not counted yet is transient: no refusal, the create is retried.
    const uncounted = 'pods "x" is forbidden: status unknown for quota: tenant-acme-quota, resources: pods';
    expect(refusal(err(403, uncounted))).to.equal(undefined);
    expect(refusal(new Error("x"))).to.equal(undefined);
  });
});
