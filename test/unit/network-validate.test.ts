import { expect } from "chai";
import type { Subnet, VPC } from "../../controllers/network/api.ts";
import { podTransform } from "../../controllers/network/informers.ts";
import { desiredTenantNetwork } from "../../controllers/network/tenant.ts";
import { subnetProblem, vpcProblem } from "../../controllers/network/validate.ts";
import { TerminalError } from "../../pkg/controller/controller.ts";
import { canonicalJSON } from "../../pkg/kube/object.ts";

const vpc = (name: string, cidr: string, tenant: string, at: string): VPC => ({
  metadata: { name, creationTimestamp: at },
  spec: { cidr, tenant, dividers: 1 },
});
const subnet = (name: string, cidr: string, at: string, vpcName = "v"): Subnet => ({
  metadata: { name, creationTimestamp: at },
  spec: { vpc: vpcName, cidr, bouncers: 1 },
});

describe("network validation", () => {
  it("refuses the newer of two overlapping VPCs of one tenant, allows other tenants", () => {
    const a = vpc("a", "10.0.0.0/16", "t1", "2026-01-01T00:00:00Z");
    const b = vpc("b", "10.0.128.0/17", "t1", "2026-01-01T00:00:01Z");
    const c = vpc("c", "10.0.0.0/16", "t2", "2026-01-01T00:00:02Z");
    expect(vpcProblem(a, [a, b, c])).to.equal(undefined);
    expect(vpcProblem(b, [a, b, c])).to.include({ reason: "CIDROverlap" });
    expect(vpcProblem(c, [a, b, c])).to.equal(undefined);
    // Same timestamp: the name decides, so every replica agrees.
    const d = vpc("d", "10.0.0.0/16", "t1", "2026-01-01T00:00:00Z");
    expect(vpcProblem(d, [a, d])?.message).to.match(/overlaps VPC a/);
    expect(vpcProblem(a, [a, d])).to.equal(undefined);
  });

  it("refuses subnets outside their VPC, overlapping a sibling, or with a missing VPC", () => {
    const v = vpc("v", "10.0.0.0/16", "t", "2026-01-01T00:00:00Z");
    const s1 = subnet("s1", "10.0.1.0/24", "2026-01-01T00:00:01Z");
    const s2 = subnet("s2", "10.0.1.128/25", "2026-01-01T00:00:02Z");
    const out = subnet("out", "10.1.0.0/24", "2026-01-01T00:00:03Z");
    const other = subnet("o", "10.0.1.0/24", "2026-01-01T00:00:00Z", "w");
    expect(subnetProblem(s1, v, [s1, s2, other])).to.equal(undefined);
    expect(subnetProblem(s2, v, [s1, s2])).to.include({ reason: "SubnetOverlap" });
    expect(subnetProblem(out, v, [out])).to.include({ reason: "SubnetOutsideVPC" });
    expect(subnetProblem(s1, undefined, [s1])).to.include({ reason: "VPCNotFound" });
    const bad = { ...s1, spec: { ...s1.spec, excludeIPs: ["10.0.1.9..10.0.1.2"] } };
    expect(subnetProblem(bad, v, [bad])).to.include({ reason: "InvalidExcludeIPs" });
  });

  it("derives a tenant's default network, or none without a vpcCIDR", () => {
    const t = { metadata: { name: "acme", uid: "u1" }, spec: { network: { vpcCIDR: "10.5.0.0/16" } } };
    const got = desiredTenantNetwork(t, ["acme-b", "acme-a"]);
    expect(got?.vpc.spec).to.deep.equal({ cidr: "10.5.0.0/16", tenant: "acme", dividers: 1 });
    expect(got?.subnet.spec).to.include({ vpc: "acme-default", cidr: "10.5.0.0/16" });
    expect(got?.subnet.spec.namespaces).to.deep.equal(["acme-a", "acme-b"]);
    expect(got?.vpc.metadata.ownerReferences?.[0]).to.include({ kind: "Tenant", uid: "u1" });
    expect(desiredTenantNetwork({ metadata: { name: "x", uid: "u" } }, [])).to.equal(undefined);
    expect(() =>
      desiredTenantNetwork(
        { metadata: { name: "x", uid: "u" }, spec: { network: { vpcCIDR: "10.5.0.1/16" } } },
        [],
      ),
    ).to.throw(TerminalError);
  });

  it("caches only the pod fields the controllers read", () => {
    const slim = podTransform({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "p",
        namespace: "n",
        uid: "u",
        labels: { a: "b" },
        annotations: { big: "x".repeat(1000), "network.centaurus.io/subnet": "s" },
        managedFields: [{}],
      },
      spec: { nodeName: "n1", containers: [{ name: "c", image: "i" }] },
      status: { phase: "Running", conditions: [{}] },
    } as never);
    // Named container ports are kept (NetworkPolicy's named ports resolve on them), nothing else.
    const ports = [{ name: "http", containerPort: 8080 }, { containerPort: 9000 }];
    const withPorts = podTransform({
      metadata: { name: "p", namespace: "n" },
      spec: {
        containers: [
          { name: "c", image: "i", ports },
          { name: "d", ports: [{ containerPort: 1 }] },
        ],
      },
    } as never);
    expect(withPorts.spec?.containers).to.deep.equal([
      { name: "c", ports: [{ name: "http", containerPort: 8080 }] },
    ]);
    expect(slim).to.deep.equal({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "p",
        namespace: "n",
        uid: "u",
        resourceVersion: undefined,
        creationTimestamp: undefined,
        deletionTimestamp: undefined,
        labels: { a: "b" },
        annotations: { "network.centaurus.io/subnet": "s" },
      },
      spec: { nodeName: "n1" },
      status: { phase: "Running" },
    });
    expect(canonicalJSON({ b: 1, a: [{ d: 2, c: undefined }] })).to.equal('{"a":[{"d":2}],"b":1}');
  });
});
