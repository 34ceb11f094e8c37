import { expect } from "chai";
import type { IPAddress, Subnet, VPC } from "../../controllers/network/api.ts";
import { CLAIM_INFORMER, SUBNET_INFORMER } from "../../controllers/network/informers.ts";
import {
  allVPCs,
  claimsOfPod,
  existingNodes,
  namespaceLabelsChanged,
  podsOfSubnet,
  siblingSubnets,
  specOrReadinessChanged,
  subnetReadinessChanged,
  subnetsOfVPC,
  subnetVPCChanged,
} from "../../controllers/network/triggers.ts";
import { Store } from "../../pkg/cache/store.ts";
import type { Node, Pod } from "../../pkg/kube/core.ts";

const subnet = (name: string, vpc: string, namespaces: string[] = [], generation = 1): Subnet => ({
  apiVersion: "network.centaurus.io/v1alpha1",
  kind: "Subnet",
  metadata: { name, generation },
  spec: { vpc, cidr: "10.0.0.0/24", bouncers: 1, namespaces },
});
const vpc = (name: string): VPC => ({
  apiVersion: "x",
  kind: "VPC",
  metadata: { name },
  spec: { cidr: "10.0.0.0/16", dividers: 1 },
});
const pod = (ns: string, name: string, annotations: Record<string, string> = {}): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, annotations },
  spec: {},
  status: {},
});
const ready = {
  conditions: [
    { type: "Ready", status: "True" as const, reason: "Ready", message: "", lastTransitionTime: "" },
  ],
};

describe("network triggers (watch mappers and predicates)", () => {
  it("a VPC wakes its subnets; a subnet wakes its siblings; any VPC wakes every VPC", () => {
    const subnets = new Store<Subnet>(SUBNET_INFORMER.indexers);
    for (const s of [subnet("a", "v1"), subnet("b", "v1"), subnet("c", "v2")]) subnets.upsert(s);
    expect(subnetsOfVPC(subnets)(vpc("v1")).sort()).to.deep.equal(["a", "b"]);
    expect(siblingSubnets(subnets)(subnet("x", "v2"))).to.deep.equal(["c"]);
    const vpcs = new Store<VPC>();
    vpcs.upsert(vpc("v1"));
    vpcs.upsert(vpc("v2"));
    expect(allVPCs(vpcs)().sort()).to.deep.equal(["v1", "v2"]);
  });

  it("a subnet wakes the pods of its namespaces and those that name it", () => {
    const pods = new Store<Pod>();
    pods.upsert(pod("n1", "a"));
    pods.upsert(pod("n2", "b", { "network.centaurus.io/subnet": "other, s" }));
    pods.upsert(pod("n3", "c", { "network.centaurus.io/subnet": "sx" }));
    expect(podsOfSubnet(pods)(subnet("s", "v", ["n1"])).sort()).to.deep.equal(["n1/a", "n2/b"]);
  });

  it("a deleted pod maps to its claims", () => {
    const claims = new Store<IPAddress>(CLAIM_INFORMER.indexers);
    claims.upsert({
      apiVersion: "x",
      kind: "VPCAddress",
      metadata: { name: "s-10-0-0-1" },
      spec: { subnet: "s", ip: "10.0.0.1", endpoint: { namespace: "n", name: "p", pod: "p", podUID: "u" } },
    });
    expect(claimsOfPod(claims)(pod("n", "p"))).to.deep.equal(["s-10-0-0-1"]);
    expect(claimsOfPod(claims)(pod("n", "q"))).to.deep.equal([]);
  });

  it("only nodes that exist get a program", () => {
    const nodes = new Store<Node>();
    nodes.upsert({ apiVersion: "v1", kind: "Node", metadata: { name: "h1" } });
    expect(existingNodes(nodes)(["h1", "h2", ""])).to.deep.equal(["h1"]);
  });

  it("predicates let through only the changes that matter", () => {
    const s = subnet("s", "v");
    expect(subnetVPCChanged.update?.(s, { ...s })).to.equal(false);
    expect(subnetVPCChanged.update?.(s, subnet("s", "w"))).to.equal(true);
    expect(subnetReadinessChanged.update?.(s, { ...s, status: ready })).to.equal(true);
    expect(subnetReadinessChanged.update?.(s, subnet("s", "v", [], 2))).to.equal(true);
    expect(specOrReadinessChanged.update?.(s, { ...s, status: { vni: 3 } })).to.equal(true);
    expect(specOrReadinessChanged.update?.(s, { ...s })).to.equal(false);
    const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "n", labels: { a: "1" } } };
    expect(
      namespaceLabelsChanged.update?.(ns, { ...ns, metadata: { ...ns.metadata, labels: { a: "2" } } }),
    ).to.equal(true);
    expect(namespaceLabelsChanged.update?.(ns, { ...ns })).to.equal(false);
    expect(namespaceLabelsChanged.create?.(ns)).to.equal(false);
  });
});
