import { expect } from "chai";
import fc from "fast-check";
import type { Subnet, VPC } from "../../controllers/network/api.ts";
import { gatewayOf, isReady, subnetStatus, vpcStatus } from "../../controllers/network/status.ts";

const vpc = (name: string, cidr: string, extra: Partial<VPC> = {}): VPC => ({
  apiVersion: "network.centaurus.io/v1alpha1",
  kind: "VPC",
  metadata: { name, generation: 1, creationTimestamp: `2026-01-01T00:00:0${name.length % 10}Z` },
  spec: { cidr, dividers: 1 },
  ...extra,
});
const readyVPC = (name: string, cidr: string, vni: number): VPC =>
  vpc(name, cidr, {
    status: {
      vni,
      conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: "" }],
    },
  });
const subnet = (name: string, vpcName: string, cidr: string): Subnet => ({
  apiVersion: "network.centaurus.io/v1alpha1",
  kind: "Subnet",
  metadata: { name, generation: 2 },
  spec: { vpc: vpcName, cidr, bouncers: 1 },
});

describe("network status (VPC and subnet)", () => {
  it("allocates a VNI once, says so in an event and lists the subnets sorted", () => {
    const d = vpcStatus(vpc("a", "10.0.0.0/16"), [], ["s2", "s1"], () => undefined);
    expect(d.status.vni).to.be.a("number");
    expect(d.status.subnets).to.deep.equal(["s1", "s2"]);
    expect(d.status.observedGeneration).to.equal(1);
    expect(isReady({ status: d.status })).to.equal(true);
    expect(d.events.map((e) => e.reason)).to.deep.equal(["VNIAllocated"]);
    const again = vpcStatus(
      { ...vpc("a", "10.0.0.0/16"), status: d.status },
      [],
      ["s1", "s2"],
      () => undefined,
    );
    expect(again.status.vni).to.equal(d.status.vni);
    expect(again.events).to.deep.equal([]);
  });

  it("refuses a VNI another VPC holds and warns only when the reason changes", () => {
    const other = readyVPC("b", "10.1.0.0/16", 4242);
    const mine = vpc("a", "10.0.0.0/16", { spec: { cidr: "10.0.0.0/16", dividers: 1, vni: 4242 } });
    const d = vpcStatus(mine, [other], [], (o) => o.status?.vni);
    expect(d.status.conditions?.[0]).to.include({ status: "False", reason: "VNIConflict" });
    expect(d.events.map((e) => e.type)).to.deep.equal(["Warning"]);
    const again = vpcStatus({ ...mine, status: d.status }, [other], [], (o) => o.status?.vni);
    expect(again.events).to.deep.equal([]);
  });

  it("never gives a VPC a VNI that another VPC holds (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 4000 }), { maxLength: 20 }), (vnis) => {
        const others = vnis.map((v, i) => readyVPC(`o${i}`, `10.${i + 1}.0.0/16`, v));
        const d = vpcStatus(vpc("mine", "10.0.0.0/16"), others, [], (o) => o.status?.vni);
        expect(vnis).to.not.include(d.status.vni);
      }),
    );
  });

  it("an overlapping VPC of the same tenant is not ready and gets no VNI", () => {
    const older = readyVPC("b", "10.0.0.0/8", 7);
    older.metadata.creationTimestamp = "2025-01-01T00:00:00Z";
    const d = vpcStatus(vpc("a", "10.0.0.0/16"), [older], [], (o) => o.status?.vni);
    expect(d.status.vni).to.equal(undefined);
    expect(d.status.conditions?.[0]).to.include({ reason: "CIDROverlap" });
  });

  it("a subnet waits for its VPC, then counts addresses", () => {
    const s = subnet("s", "v", "10.0.1.0/24");
    const waiting = subnetStatus(s, vpc("v", "10.0.0.0/16"), [s], () => {
      throw new Error("pool not needed");
    });
    expect(waiting.status.conditions?.[0]).to.include({ status: "False", reason: "VPCNotReady" });
    expect(waiting.status.gateway).to.equal(gatewayOf(s));
    const ready = subnetStatus(s, readyVPC("v", "10.0.0.0/16", 9), [s], () => ({
      usedCount: 3,
      available: 250,
      capacity: 253,
    }));
    expect(ready.status).to.include({ vni: 9, usedIPs: 3, availableIPs: 250, observedGeneration: 2 });
    expect(ready.status.conditions?.map((c) => [c.type, c.status, c.reason])).to.deep.equal([
      ["Ready", "True", "Ready"],
      ["IPsAvailable", "True", "AddressesFree"],
    ]);
    const full = subnetStatus(s, readyVPC("v", "10.0.0.0/16", 9), [s], () => ({
      usedCount: 253,
      available: 0,
      capacity: 253,
    }));
    expect(full.status.conditions?.[1]).to.include({ status: "False", reason: "SubnetFull" });
  });

  it("a subnet outside its VPC is refused with a warning", () => {
    const s = subnet("s", "v", "192.168.0.0/24");
    const d = subnetStatus(s, readyVPC("v", "10.0.0.0/16", 9), [s], () => ({
      usedCount: 0,
      available: 1,
      capacity: 1,
    }));
    expect(d.status.conditions?.[0]).to.include({ reason: "SubnetOutsideVPC" });
    expect(d.events.map((e) => e.reason)).to.deep.equal(["SubnetOutsideVPC"]);
  });
});
