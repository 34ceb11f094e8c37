// `centaurus edge tree` rendering.

import { expect } from "chai";
import type { EdgeCluster, Mission } from "../../controllers/edge/api.ts";
import { parseIdentity } from "../../controllers/edge/identity.ts";
import { renderTree } from "../../controllers/edge/treeview.ts";

describe("edge tree view", () => {
  const now = new Date("2026-01-01T00:00:10Z");
  const ec = (name: string, status: EdgeCluster["status"]): EdgeCluster => ({
    metadata: { name },
    spec: {
      kubeconfigSecretRef: { namespace: "default", name, key: "kubeconfig" },
      distro: "k8s",
      heartbeatPeriodSeconds: 1,
      disconnectTimeoutSeconds: 5,
    },
    status,
  });
  const mission = (clusters: Array<[string, "Applied" | "Unreachable" | "Pending"]>): Mission => ({
    metadata: { name: "m" },
    spec: { objects: [], placement: {} },
    status: { clusters: clusters.map(([path, state]) => ({ path, state })) },
  });

  it("draws the subtree by path with health and mission counts, and refused attachments with their reason", () => {
    const out = renderTree(
      { name: "root" },
      [
        ec("b", {
          connection: "Connected",
          nodes: { ready: 1, total: 2 },
          lastHeartbeat: "2026-01-01T00:00:08Z",
          subtree: [{ path: "b", connection: "Connected" }],
        }),
        ec("a", {
          connection: "Connected",
          nodes: { ready: 2, total: 2 },
          lastHeartbeat: "2026-01-01T00:00:09Z",
          subtree: [
            { path: "a", connection: "Connected" },
            { path: "a/a1", connection: "Disconnected", nodesReady: 1, nodesTotal: 1 },
          ],
        }),
        ec("loop", {
          connection: "Connected",
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "Cycle",
              message: "closes a cycle",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
          ],
        }),
      ],
      [
        mission([
          ["a", "Applied"],
          ["a/a1", "Unreachable"],
        ]),
        mission([
          ["a/a1", "Pending"],
          [".", "Applied"],
        ]),
      ],
      now,
    );
    expect(out.split("\n")).to.deep.equal([
      "root  missions 1 (1 applied)",
      "├── a  Connected  nodes 2/2  heartbeat 1s ago  missions 1 (1 applied)",
      "│   └── a1  Disconnected  nodes 1/1  missions 2 (0 applied, 1 unreachable, 1 pending)",
      "├── b  Connected  nodes 1/2  heartbeat 2s ago  missions 0",
      "└── loop  Connected  nodes -  heartbeat never  missions 0  [Cycle: closes a cycle]",
      "",
    ]);
  });
});

describe("edge identity ConfigMap", () => {
  it("reads name, path, labels and ancestors, tolerating what a hand-written one may lack or garble", () => {
    expect(
      parseIdentity({
        metadata: {},
        data: {
          name: "a1",
          path: "a/a1",
          labels: '{"region":"north"}',
          ancestors: '[{"clusterID":"r","path":""},{"clusterID":"x","path":"a"}]',
        },
      }),
    ).to.deep.equal({
      name: "a1",
      path: "a/a1",
      labels: { region: "north" },
      ancestors: [
        { clusterID: "r", path: "" },
        { clusterID: "x", path: "a" },
      ],
    });
    expect(parseIdentity(undefined)).to.deep.equal({ name: "", path: "", labels: {}, ancestors: [] });
    expect(parseIdentity({ metadata: {}, data: { name: "root", labels: "{not json" } }).labels).to.deep.equal(
      {},
    );
  });
});
