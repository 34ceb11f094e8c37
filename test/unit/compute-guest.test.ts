// VMs whose guest Centaurus boots (pure): when, the QEMU launcher pod, its overhead, and the
// status read from it (Running only once the guest booted; the Guest condition).

import { expect } from "chai";
import type { VirtualMachine } from "../../controllers/compute/api.ts";
import {
  bootsGuest,
  GUESTS_LABEL,
  guestLauncherResources,
  LAUNCHER_ANNOTATION,
  parseAcceleration,
} from "../../controllers/compute/guest.ts";
import { desiredLauncher, observe } from "../../controllers/compute/launcher.ts";
import type { Pod } from "../../pkg/kube/core.ts";

const vm = (
  spec: Partial<VirtualMachine["spec"]> = {},
  status?: VirtualMachine["status"],
): VirtualMachine => ({
  apiVersion: "compute.centaurus.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "web", namespace: "acme-default", uid: "u-1", generation: 3 },
  spec: { image: "disk:1", cpu: 2, memory: "512Mi", ...spec },
  status,
});

const launcherPod = (ready: boolean, guest = true): Pod => ({
  metadata: {
    name: "web-launcher",
    namespace: "acme-default",
    uid: "p-1",
    annotations: guest ? { [LAUNCHER_ANNOTATION]: "qemu" } : {},
  },
  spec: { nodeName: "real-0" },
  status: {
    phase: "Running",
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
  },
});

type Spec = {
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  initContainers: Array<{ image: string; command: string[]; securityContext: Record<string, unknown> }>;
  containers: Array<{
    image: string;
    args: string[];
    resources: { requests: unknown; limits: unknown };
    readinessProbe?: unknown;
    securityContext: Record<string, unknown>;
  }>;
  volumes: Array<{ name: string }>;
};

describe("compute: guest-booting launchers", () => {
  it("boots guests only with a launcher image and nodes that run guests", () => {
    expect(bootsGuest("launcher:1", 1)).to.equal(true);
    expect(bootsGuest("launcher:1", 0)).to.equal(false);
    expect(bootsGuest(undefined, 3)).to.equal(false);
  });

  it("sizes the pod as the guest plus the launcher's overhead (100m, 256Mi)", () => {
    expect(guestLauncherResources(vm())).to.deep.equal({ cpu: "2100m", memory: "768Mi" });
    expect(guestLauncherResources(vm({ cpu: 1, memory: "1Gi" }))).to.deep.equal({
      cpu: "1100m",
      memory: "1280Mi",
    });
  });

  it("builds the QEMU launcher: container disk through init containers, cloud-init, readiness from the guest, no privilege", () => {
    const pod = desiredLauncher(vm({ cloudInit: { userData: "#cloud-config\n" } }), "acme", "launcher:1");
    const spec = pod.spec as unknown as Spec;
    expect(pod.metadata.annotations?.[LAUNCHER_ANNOTATION]).to.equal("qemu");
    expect(spec.runtimeClassName).to.equal(undefined);
    expect(spec.nodeSelector).to.deep.equal({ [GUESTS_LABEL]: "qemu" });
    expect(spec.initContainers.map((c) => c.image)).to.deep.equal(["launcher:1", "disk:1"]);
    expect(spec.initContainers[1]?.command).to.include("/disk/.");
    const compute = spec.containers[0];
    expect(compute?.image).to.equal("launcher:1");
    expect(compute?.args).to.include.members([
      "--container-disk",
      "--cloud-init",
      "acme-default/web",
      "512Mi",
    ]);
    expect(compute?.resources.limits).to.deep.equal({ cpu: "2100m", memory: "768Mi" });
    expect(compute?.resources.requests).to.deep.equal(compute?.resources.limits);
    expect(compute?.readinessProbe).to.have.nested.property("exec.command");
    for (const c of [...spec.initContainers, ...spec.containers]) {
      expect(c.securityContext).to.include({ allowPrivilegeEscalation: false, runAsNonRoot: true });
      expect(c.securityContext.privileged).to.equal(undefined);
    }
    expect(spec.volumes.map((v) => v.name)).to.include.members(["container-disk", "cloudinit"]);
    expect(JSON.stringify(spec.volumes)).to.not.contain("hostPath");
  });

  it("keeps the RuntimeClass launcher without a launcher image", () => {
    const spec = desiredLauncher(vm(), "acme").spec as unknown as Spec;
    expect(spec.runtimeClassName).to.equal("vm");
    expect(spec.containers[0]?.image).to.equal("disk:1");
  });

  it("reads the acceleration the launcher printed", () => {
    expect(
      parseAcceleration('boot\ncentaurus-launcher: acceleration=tcg reason="no /dev/kvm on this node"\n'),
    ).to.deep.equal({
      acceleration: "TCG",
      reason: "no /dev/kvm on this node",
    });
    expect(parseAcceleration("centaurus-launcher: acceleration=kvm\n")?.acceleration).to.equal("KVM");
    expect(parseAcceleration("nothing here")).to.equal(undefined);
  });

  it("is Running only once the guest booted, then says TCG and why", () => {
    const booting = observe(vm(), launcherPod(false), undefined);
    expect(booting.phase).to.equal("Starting");
    expect(booting.conditions?.[0]).to.include({ type: "Ready", status: "False", reason: "Booting" });
    expect(booting.conditions?.find((c) => c.type === "Guest")).to.include({
      status: "False",
      reason: "Booting",
    });
    const guest = { acceleration: "TCG" as const, reason: "no /dev/kvm on this node", launcherUID: "p-1" };
    const up = observe(vm({}, { guest }), launcherPod(true), undefined);
    expect(up.phase).to.equal("Running");
    expect(up.conditions?.find((c) => c.type === "Guest")).to.include({ status: "True", reason: "TCG" });
    expect(up.conditions?.find((c) => c.type === "Guest")?.message).to.contain("no /dev/kvm");
    // A new launcher (reboot, restart) is read again.
    const stale = observe(vm({}, { guest: { ...guest, launcherUID: "old" } }), launcherPod(true), undefined);
    expect(stale.conditions?.find((c) => c.type === "Guest")?.reason).to.equal("Booting");
  });

  it("says no guest runs where the launcher is the RuntimeClass pod (kwok nodes), phase as before", () => {
    const p = launcherPod(false, false);
    const s = observe(vm(), { ...p, spec: { nodeName: "kwok-plain-0" } }, undefined);
    expect(s.phase).to.equal("Running");
    const c = s.conditions?.find((x) => x.type === "Guest");
    expect(c).to.include({ status: "False", reason: "NoGuest" });
    expect(c?.message).to.contain("kwok-plain-0").and.contain("no guest runs");
    expect(
      observe(vm({ powerState: "Stopped" }), undefined, undefined).conditions?.map((x) => x.type),
    ).to.not.include("Guest");
  });
});

describe("compute: a guest that does not come up", () => {
  const troubled = (status: Partial<NonNullable<Pod["status"]>>): Pod => {
    const p = launcherPod(false);
    return { ...p, status: { ...p.status, ...status } };
  };

  it("names a container disk that cannot be pulled", () => {
    const s = observe(
      vm({ image: "disk:missing" }),
      troubled({
        phase: "Pending",
        initContainerStatuses: [
          { name: "tools" },
          { name: "container-disk", state: { waiting: { reason: "ErrImagePull", message: "not found" } } },
        ],
      }),
      undefined,
    );
    expect(s.conditions?.[0]).to.include({ type: "Ready", status: "False", reason: "ImageUnavailable" });
    expect(s.conditions?.[0]?.message).to.contain("disk:missing").and.contain("not found");
    expect(s.conditions?.find((c) => c.type === "Guest")?.reason).to.equal("ImageUnavailable");
  });

  it("shows the console's last lines of a guest that failed", () => {
    const console = [
      "line 1",
      "line 2",
      "line 3",
      "line 4",
      "line 5",
      "line 6",
      "Kernel panic - not syncing",
    ].join("\n");
    const s = observe(
      vm(),
      troubled({
        containerStatuses: [
          {
            name: "compute",
            restartCount: 2,
            state: { waiting: { reason: "CrashLoopBackOff" } },
            lastState: { terminated: { exitCode: 1, message: console } },
          },
        ],
      }),
      undefined,
    );
    expect(s.conditions?.[0]).to.include({ type: "Ready", status: "False", reason: "GuestFailed" });
    expect(s.conditions?.[0]?.message)
      .to.contain("Kernel panic")
      .and.contain("2 restarts")
      .and.not.contain("line 1");
  });
});
