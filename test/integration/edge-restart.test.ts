// The edge operator across a restart: stopping it closes every child connection, and a mission
// deleted while it was down still has its objects removed by the next operator (derived from
// the objects' labels and owner references, not from a delete event the old process saw).

import { expect } from "chai";
import {
  EDGE_NAMESPACE,
  EdgeClusters,
  IDENTITY_CONFIGMAP,
  type Mission,
  Missions,
} from "../../controllers/edge/api.ts";
import { type EdgeOperator, setupEdge } from "../../controllers/edge/operator.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  edgeCluster,
  getOrUndefined,
  kubeconfigSecret,
  kubeconfigYAML,
  rootIdentity,
  statusByPath,
} from "../fixtures/edge-tree.ts";

describe("edge operator across a restart", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let namespace: string;
  const rootName = uniqueName("root");

  const start = async (): Promise<{ manager: Manager; operator: EdgeOperator }> => {
    const manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    const operator = setupEdge(manager, client);
    await manager.start();
    return { manager, operator };
  };
  const mission = (name: string, cm: string): Mission => ({
    apiVersion: "edge.centaurus.io/v1alpha1",
    kind: "Mission",
    metadata: { name },
    spec: {
      placement: { clusters: [rootName] },
      objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: cm, namespace }, data: { v: "1" } }],
    },
  });

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
    namespace = uniqueName("edge-restart");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
    await rootIdentity(client, { name: rootName });
  });

  after(async () => {
    await client.delete(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE);
    await client.delete(Resources.Namespace, namespace);
    client.close();
  });

  it("stop closes the child connections; a mission deleted meanwhile is cleaned up after the restart", async () => {
    const gone = uniqueName("gone");
    const kept = uniqueName("kept");
    const child = uniqueName("child");
    let { manager, operator } = await start();
    // A child (this very cluster, refused as a Cycle, but connected and probed): one open connection.
    await kubeconfigSecret(client, `${child}-kc`, kubeconfigYAML(cluster), namespace);
    await client.create(EdgeClusters, edgeCluster(child, `${child}-kc`, {}, namespace));
    await client.create(Missions, mission(gone, gone));
    await client.create(Missions, mission(kept, kept));
    for (const m of [gone, kept]) {
      await waitFor(
        `${m} applied`,
        async () => statusByPath(await client.get<Mission>(Missions, m))["."] === "Applied",
      );
    }
    await waitFor("a connection to the child", async () => operator.connections.size === 1);

    await manager.stop();
    expect(operator.connections.size).to.equal(0);

    // Deleted while no operator runs: nothing saw the delete event. (The garbage collector, through
    // the owner reference, is the backstop and may get there first; either way nothing is left.)
    await client.delete(Missions, gone);
    await waitFor(
      "the mission gone",
      async () => (await getOrUndefined(client, Missions, gone)) === undefined,
    );

    ({ manager, operator } = await start());
    try {
      await waitFor(
        "the deleted mission's ConfigMap removed after the restart",
        async () => (await getOrUndefined(client, Resources.ConfigMap, gone, namespace)) === undefined,
        { timeoutMs: 30_000 },
      );
      expect(await getOrUndefined(client, Resources.ConfigMap, kept, namespace)).to.not.equal(undefined);
    } finally {
      await client.delete(Missions, kept);
      await client.delete(EdgeClusters, child);
      await waitFor(
        "EdgeCluster gone",
        async () => (await getOrUndefined(client, EdgeClusters, child)) === undefined,
      ).catch(() => undefined);
      await manager.stop();
    }
  });
});
