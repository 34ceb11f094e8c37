import { expect } from "chai";
import fc from "fast-check";
import { IP_ANNOTATION, IPS_ANNOTATION, type Subnet } from "../../controllers/network/api.ts";
import {
  desiredEndpoint,
  endpointAction,
  endpointDiffers,
  endpointName,
  ipAnnotations,
  podHoldsAddresses,
  wantedSubnets,
} from "../../controllers/network/endpoint-desired.ts";
import { TENANT_LABEL } from "../../controllers/shared/tenant.ts";
import type { Pod } from "../../pkg/kube/core.ts";

const pod = (annotations: Record<string, string> = {}, extra: Partial<Pod["metadata"]> = {}): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "p",
    namespace: "n",
    uid: "u1",
    labels: { app: "x", [TENANT_LABEL]: "t" },
    annotations,
    ...extra,
  },
  spec: { nodeName: "node-1" },
  status: { phase: "Running" },
});
const subnet = (name: string, extra: Partial<Subnet["metadata"]> = {}): Subnet => ({
  apiVersion: "network.centaurus.io/v1alpha1",
  kind: "Subnet",
  metadata: { name, ...extra },
  spec: { vpc: "v", cidr: "10.0.0.0/24", bouncers: 1 },
  status: { vni: 77 },
});

describe("network endpoint desired state", () => {
  it("names eth0 after the pod and suffixes the others", () => {
    expect(endpointName("p", 0)).to.equal("p");
    expect(endpointName("p", 2)).to.equal("p.eth2");
  });

  it("a pod's subnets: the annotation in order, else its namespace's first default by name", () => {
    expect(wantedSubnets(pod({ "network.centaurus.io/subnet": " a, b ,," }), [subnet("z")])).to.deep.equal([
      "a",
      "b",
    ]);
    expect(
      wantedSubnets(pod(), [subnet("z"), subnet("c"), subnet("b", { deletionTimestamp: "x" })]),
    ).to.deep.equal(["c"]);
    expect(wantedSubnets(pod(), [])).to.deep.equal([]);
  });

  it("the default subnet does not depend on the cache's order (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 8 }),
        (names) => {
          const subnets = names.map((n) => subnet(n));
          expect(wantedSubnets(pod(), subnets)).to.deep.equal(wantedSubnets(pod(), [...subnets].reverse()));
        },
      ),
    );
  });

  it("finished or deleted pods hold no addresses", () => {
    expect(podHoldsAddresses(pod())).to.equal(true);
    expect(podHoldsAddresses(undefined)).to.equal(false);
    expect(podHoldsAddresses({ ...pod(), status: { phase: "Succeeded" } })).to.equal(false);
    expect(podHoldsAddresses(pod({}, { deletionTimestamp: "now" }))).to.equal(false);
  });

  it("an Endpoint carries the subnet's VNI, the pod's node, labels and tenant, and a derived MAC", () => {
    const e = desiredEndpoint(pod(), subnet("s"), "10.0.0.5", 1);
    expect(e.metadata).to.include({ name: "p.eth1", namespace: "n" });
    expect(e.metadata.labels).to.deep.equal({
      "network.centaurus.io/subnet": "s",
      "network.centaurus.io/vpc": "v",
      [TENANT_LABEL]: "t",
    });
    expect(e.spec).to.include({
      subnet: "s",
      vpc: "v",
      vni: 77,
      ip: "10.0.0.5",
      interface: "eth1",
      node: "node-1",
    });
    expect(e.spec.pod).to.deep.equal({ name: "p", uid: "u1" });
    expect(e.metadata.ownerReferences?.[0]).to.include({
      kind: "Pod",
      name: "p",
      uid: "u1",
      blockOwnerDeletion: false,
    });
  });

  it("an Endpoint of another incarnation is evicted, a moved address replaced", () => {
    const d = desiredEndpoint(pod(), subnet("s"), "10.0.0.5", 0);
    expect(endpointAction(undefined, d)).to.equal("keep");
    expect(endpointAction(d, d)).to.equal("keep");
    expect(endpointAction({ ...d, spec: { ...d.spec, pod: { name: "p", uid: "old" } } }, d)).to.equal(
      "evict",
    );
    expect(endpointAction({ ...d, spec: { ...d.spec, ip: "10.0.0.6" } }, d)).to.equal("replace");
    expect(endpointDiffers(d, structuredClone(d))).to.equal(false);
    expect(endpointDiffers(undefined, d)).to.equal(true);
    expect(endpointDiffers({ ...d, metadata: { ...d.metadata, labels: {} } }, d)).to.equal(true);
  });

  it("annotations: eth0's address, all addresses only with several interfaces, removals as null", () => {
    expect(ipAnnotations(pod(), ["10.0.0.1"])).to.deep.equal({ [IP_ANNOTATION]: "10.0.0.1" });
    expect(ipAnnotations(pod({ [IP_ANNOTATION]: "10.0.0.1" }), ["10.0.0.1", "10.1.0.1"])).to.deep.equal({
      [IPS_ANNOTATION]: "eth0=10.0.0.1,eth1=10.1.0.1",
    });
    expect(
      ipAnnotations(pod({ [IP_ANNOTATION]: "10.0.0.1", [IPS_ANNOTATION]: "x" }), ["10.0.0.1"]),
    ).to.deep.equal({
      [IPS_ANNOTATION]: null,
    });
  });
});
