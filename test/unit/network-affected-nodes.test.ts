import { expect } from "chai";
import fc from "fast-check";
import {
  bouncerMap,
  endpointNodes,
  nodesSelectedBy,
  policyPeers,
} from "../../controllers/network/affected-nodes.ts";
import type { Endpoint } from "../../controllers/network/api.ts";
import type { NetworkPolicy } from "../../pkg/kube/core.ts";

const ep = (
  name: string,
  ns: string,
  node: string | undefined,
  labels: Record<string, string>,
): Endpoint => ({
  apiVersion: "network.centaurus.io/v1alpha1",
  kind: "VPCEndpoint",
  metadata: { name, namespace: ns },
  spec: {
    subnet: "s",
    vpc: "v",
    vni: 1,
    ip: "10.0.0.1",
    mac: "m",
    interface: "eth0",
    ...(node ? { node } : {}),
    pod: { name, uid: name },
    podLabels: labels,
  },
});
const policy = (ns: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "p", namespace: ns },
  spec,
});

describe("network affected nodes", () => {
  it("a policy affects the hosts of the endpoints it selects; {} selects all", () => {
    const eps = [
      ep("a", "n", "h1", { app: "web" }),
      ep("b", "n", "h2", { app: "db" }),
      ep("c", "n", undefined, {}),
    ];
    expect([
      ...nodesSelectedBy(policy("n", { podSelector: { matchLabels: { app: "web" } } }), eps),
    ]).to.deep.equal(["h1"]);
    expect([...nodesSelectedBy(policy("n", { podSelector: {} }), eps)].sort()).to.deep.equal(["h1", "h2"]);
  });

  it("a peer names an endpoint by pod selector (same namespace) or namespace selector; ipBlocks never", () => {
    const e = ep("a", "n", "h1", { app: "web" });
    const from = (peer: object) => policy("other", { podSelector: {}, ingress: [{ from: [peer] }] });
    expect(policyPeers(from({ podSelector: { matchLabels: { app: "web" } } }), e, {})).to.equal(false);
    expect(
      policyPeers(from({ namespaceSelector: { matchLabels: { team: "a" } } }), e, { team: "a" }),
    ).to.equal(true);
    expect(policyPeers(from({ ipBlock: { cidr: "10.0.0.0/8" } }), e, {})).to.equal(false);
    const same = policy("n", {
      podSelector: {},
      egress: [{ to: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    });
    expect(policyPeers(same, e, {})).to.equal(true);
  });

  it("an endpoint affects its host, its subnet's bouncers and the hosts of policies peering it", () => {
    const e = ep("a", "n", "h1", { app: "web" });
    const peering = policy("n", {
      podSelector: { matchLabels: { app: "db" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    });
    const nodes = endpointNodes(e, {
      bouncersOf: () => ["b1"],
      policies: [peering],
      namespaceLabels: () => ({}),
      endpointsInNamespace: () => [e, ep("d", "n", "h3", { app: "db" })],
    });
    expect(nodes).to.deep.equal(["h1", "b1", "h3"]);
  });

  it("bouncers: as many as asked (at most the nodes), independent of the nodes' order (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^n[0-9]{1,3}$/), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (nodes, bouncers) => {
          const a = bouncerMap(nodes, [{ name: "s", bouncers }]).get("s") ?? [];
          const b = bouncerMap([...nodes].reverse(), [{ name: "s", bouncers }]).get("s") ?? [];
          expect(a).to.deep.equal(b);
          expect(a.length).to.equal(Math.min(bouncers, nodes.length));
          for (const n of a) expect(nodes).to.include(n);
        },
      ),
    );
  });
});
