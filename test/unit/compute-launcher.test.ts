// The launcher pod a VM runs as, and the VM status read from it (pure).

import { expect } from "chai";
import fc from "fast-check";
import type { VirtualMachine } from "../../controllers/compute/api.ts";
import { desiredCloudInit, desiredLauncher, observe } from "../../controllers/compute/launcher.ts";
import { desiredNamespaces } from "../../controllers/tenancy/desired.ts";
import type { Pod } from "../../pkg/kube/core.ts";

const vm = (
  spec: Partial<VirtualMachine["spec"]> = {},
  status?: VirtualMachine["status"],
): VirtualMachine => ({
  apiVersion: "compute.centaurus.io/v1alpha1",
  kind: "VirtualMachine",
  metadata: { name: "web", namespace: "acme-default", uid: "u-1", generation: 3 },
  spec: { image: "img", cpu: 2, memory: "4Gi", ...spec },
  status,
});

const pod = (
  over: Partial<Pod> & { phase?: string; node?: string; scheduled?: Pod["status"] } = {},
): Pod => ({
  metadata: { name: "web-launcher", namespace: "acme-default", uid: "p-1", ...over.metadata },
  spec: { nodeName: over.node },
  status: {
    phase: over.phase ?? "Pending",
    podIPs: over.node ? [{ ip: "10.244.0.7" }] : undefined,
    ...over.scheduled,
  },
});

describe("compute: launcher pod", () => {
  it("requests the VM's cpu and memory, runs its runtime class, is owned by the VM and labelled for the tenant", () => {
    const p = desiredLauncher(
      vm({ runtimeClassName: "kata", sshKeys: ["k"], disks: [{ name: "data", size: "10Gi" }] }),
      "acme",
    );
    expect(p.metadata.name).to.equal("web-launcher");
    expect(p.metadata.labels).to.deep.equal({
      "compute.centaurus.io/vm": "web",
      "tenancy.centaurus.io/tenant": "acme",
    });
    expect(p.metadata.ownerReferences?.[0]).to.include({
      kind: "VirtualMachine",
      uid: "u-1",
      controller: true,
    });
    expect(p.spec?.runtimeClassName).to.equal("kata");
    const c = (p.spec?.containers ?? [])[0] as { resources: unknown; image: string };
    expect(c.image).to.equal("img");
    expect(c.resources).to.deep.equal({
      requests: { cpu: "2", memory: "4Gi" },
      limits: { cpu: "2", memory: "4Gi" },
    });
    expect(JSON.stringify(p.spec?.volumes)).to.contain("web-cloudinit").and.to.contain("10Gi");
  });
  it("puts user data and SSH keys in a Secret", () => {
    const s = desiredCloudInit(
      vm({ cloudInit: { userData: "#cloud-config" }, sshKeys: ["a", "b"] }),
      undefined,
    ) as unknown as {
      stringData: Record<string, string>;
    };
    expect(s.stringData).to.deep.equal({ userdata: "#cloud-config", ssh_authorized_keys: "a\nb" });
  });
});

describe("compute: VM status from its launcher", () => {
  it("walks Pending → Scheduling → Starting → Running, with node and IP", () => {
    expect(observe(vm(), undefined, undefined).phase).to.equal("Pending");
    expect(observe(vm(), pod(), undefined).phase).to.equal("Scheduling");
    expect(observe(vm(), pod({ node: "n1" }), undefined).phase).to.equal("Starting");
    const s = observe(vm(), pod({ node: "n1", phase: "Running" }), undefined);
    expect(s).to.include({
      phase: "Running",
      node: "n1",
      launcherPod: "web-launcher",
      observedGeneration: 3,
    });
    expect(s.ipAddresses).to.deep.equal(["10.244.0.7"]);
    expect(s.conditions?.[0]).to.include({ type: "Ready", status: "True" });
  });
  it("shows the VPC addresses the network pillar wrote on the launcher, per interface, rather than the pod IP", () => {
    const running = (annotations: Record<string, string>) =>
      pod({ node: "n1", phase: "Running", metadata: { name: "web-launcher", annotations } });
    const one = observe(vm(), running({ "network.centaurus.io/ip": "10.10.0.2" }), undefined);
    expect(one.ipAddresses).to.deep.equal(["10.10.0.2"]);
    expect(one.interfaces).to.deep.equal([{ name: "eth0", ip: "10.10.0.2" }]);
    const nics = [
      { name: "public", subnet: "front" },
      { name: "private", subnet: "back" },
    ];
    const two = observe(
      vm({ interfaces: nics }),
      running({
        "network.centaurus.io/ip": "10.1.0.5",
        "network.centaurus.io/ips": "eth0=10.1.0.5,eth1=10.2.0.9",
      }),
      undefined,
    );
    expect(two.ipAddresses).to.deep.equal(["10.1.0.5", "10.2.0.9"]);
    expect(two.interfaces).to.deep.equal([
      { name: "public", ip: "10.1.0.5" },
      { name: "private", ip: "10.2.0.9" },
    ]);
    // The launcher asks the network pillar for those subnets, eth0 first.
    expect(desiredLauncher(vm({ interfaces: nics }), "acme").metadata.annotations).to.include({
      "network.centaurus.io/subnet": "front,back",
    });
  });
  it("an unschedulable launcher gives False conditions with reason Unschedulable and the scheduler's words", () => {
    const s = observe(
      vm(),
      pod({
        scheduled: {
          conditions: [
            {
              type: "PodScheduled",
              status: "False",
              reason: "Unschedulable",
              message: "0/6 nodes: Insufficient cpu",
            },
          ],
        },
      }),
      undefined,
    );
    expect(s.phase).to.equal("Scheduling");
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).to.deep.equal([
      ["Ready", "False", "Unschedulable"],
      ["Scheduled", "False", "Unschedulable"],
    ]);
    expect(s.conditions?.[0]?.message).to.contain("Insufficient cpu");
  });
  it("stopping and stopped; a refused launcher reports its reason", () => {
    expect(
      observe(vm({ powerState: "Stopped" }), pod({ node: "n", phase: "Running" }), undefined).phase,
    ).to.equal("Stopping");
    const stopped = observe(vm({ powerState: "Stopped" }), undefined, undefined);
    expect(stopped.phase).to.equal("Stopped");
    expect(stopped.node).to.equal(undefined);
    const refused = observe(vm(), undefined, {
      reason: "QuotaExceeded",
      message: "exceeded quota: tenant-acme-quota",
    });
    expect(refused.conditions?.[0]).to.include({ status: "False", reason: "QuotaExceeded" });
  });
  it("property: Ready is True exactly when the phase is Running, and Ready comes first", () => {
    const phases = fc.constantFrom("Pending", "Running", "Failed", "Succeeded");
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.option(
          fc.record({ node: fc.option(fc.constantFrom("n1", "n2"), { nil: undefined }), phase: phases }),
          { nil: undefined },
        ),
        fc.boolean(),
        (on, p, deleting) => {
          const launcher = p
            ? pod({
                node: p.node,
                phase: p.phase,
                metadata: { name: "web-launcher", deletionTimestamp: deleting ? "x" : undefined },
              })
            : undefined;
          const s = observe(vm({ powerState: on ? "Running" : "Stopped" }), launcher, undefined);
          expect(s.conditions?.[0]?.type).to.equal("Ready");
          expect(s.conditions?.[0]?.status === "True").to.equal(s.phase === "Running");
          if (!on) expect(["Stopping", "Stopped"]).to.include(s.phase);
        },
      ),
    );
  });
});

describe("tenancy: namespaces a tenant gets", () => {
  it("always a default one, labelled, with runtime-class labels when restricted", () => {
    const ns = desiredNamespaces({
      apiVersion: "tenancy.centaurus.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "acme", uid: "t-1" },
      spec: { namespaces: ["web"], allowedRuntimeClasses: ["vm", "kata"] },
    });
    expect(ns.map((n) => n.metadata.name)).to.deep.equal(["acme-default", "acme-web"]);
    expect(ns[0]?.metadata.labels).to.deep.equal({
      "tenancy.centaurus.io/tenant": "acme",
      "tenancy.centaurus.io/namespace": "default",
      "tenancy.centaurus.io/runtime-classes-restricted": "true",
      "runtimeclass.tenancy.centaurus.io/kata": "allowed",
      "runtimeclass.tenancy.centaurus.io/vm": "allowed",
      // Pod Security Admission at the tenant's level (baseline unless a cluster admin says otherwise).
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "baseline",
      "pod-security.kubernetes.io/audit": "baseline",
    });
  });
});
