// The edge operator against one real API server: the cluster's own missions (identity set by
// hand, as at a root), overrides, pruning, garbage collection, failures reported per path,
// bad EdgeClusters, and the CRDs' validation.

import { expect } from "chai";
import {
  EDGE_NAMESPACE,
  type EdgeCluster,
  EdgeClusters,
  IDENTITY_CONFIGMAP,
  MISSION_LABEL,
  type Mission,
  Missions,
} from "../../controllers/edge/api.ts";
import { setupEdge } from "../../controllers/edge/operator.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isInvalid } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  type ConfigMap,
  edgeCluster,
  getOrUndefined,
  kubeconfigSecret,
  kubeconfigYAML,
  rootIdentity,
  statusByPath,
} from "../fixtures/edge-tree.ts";

describe("edge operator in one cluster", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let manager: Manager;
  let namespace: string;
  const rootName = uniqueName("root");
  const missions: string[] = [];
  const edgeClusters: string[] = [];
  const secrets: string[] = [];

  const cm = (name: string, data: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data,
  });
  const mission = (name: string, spec: Mission["spec"]): Mission => ({
    apiVersion: "edge.centaurus.io/v1alpha1",
    kind: "Mission",
    metadata: { name },
    spec,
  });
  const readyOf = async (name: string) =>
    (await getOrUndefined<EdgeCluster>(client, EdgeClusters, name))?.status?.conditions?.find(
      (x) => x.type === "Ready",
    );

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
    namespace = uniqueName("edge");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
    // Who this cluster is, set by hand as at a root: missions select it by name or label.
    await rootIdentity(client, { name: rootName, labels: JSON.stringify({ tier: "cloud" }) });
    manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    setupEdge(manager, client);
    await manager.start();
  });

  after(async () => {
    for (const m of missions) await client.delete(Missions, m);
    for (const ec of edgeClusters) await client.delete(EdgeClusters, ec);
    await waitFor("the test's EdgeClusters gone", async () => {
      const left = (await client.list(EdgeClusters)).items.filter((e) =>
        edgeClusters.includes(e.metadata.name ?? ""),
      );
      return left.length === 0;
    }).catch(() => undefined);
    for (const s of secrets) await client.delete(Resources.Secret, s, namespace);
    await manager.stop();
    await client.delete(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE);
    await client.delete(Resources.Namespace, namespace);
    client.close();
  });

  it("applies a mission here when it selects this cluster, with its overrides, labelled and owned", async function () {
    this.timeout(180_000);
    const name = uniqueName("here");
    missions.push(name);
    await client.create(
      Missions,
      mission(name, {
        placement: { clusters: [rootName] },
        objects: [cm("one", { v: "1" }), cm("two", { v: "1" })],
        overrides: [{ cluster: rootName, objects: [cm("one", { v: "here" })] }],
      }),
    );
    const m = await waitFor("the mission Applied here", async () => {
      const got = await client.get<Mission>(Missions, name);
      return statusByPath(got)["."] === "Applied" ? got : undefined;
    });
    expect(m.status?.summary).to.deep.equal({ total: 1, applied: 1, failed: 0, unreachable: 0, pending: 0 });
    expect(m.status?.conditions?.[0]).to.include({ type: "Ready", status: "True", reason: "Applied" });
    const one = await client.get<ConfigMap>(Resources.ConfigMap, "one", namespace);
    expect(one.data).to.deep.equal({ v: "here" });
    expect(one.metadata.labels?.[MISSION_LABEL]).to.equal(name);
    expect(one.metadata.ownerReferences?.[0]).to.include({ kind: "Mission", name, uid: m.metadata.uid });

    // An object dropped from the mission is removed.
    await client.patch(Missions, name, undefined, "merge", { spec: { objects: [cm("one", { v: "1" })] } });
    await waitFor(
      "ConfigMap two removed",
      async () => (await getOrUndefined(client, Resources.ConfigMap, "two", namespace)) === undefined,
    );
    // No longer selected here: its objects go, and the status says no cluster is selected.
    await client.patch(Missions, name, undefined, "merge", {
      spec: { placement: { clusters: null, clusterSelector: { matchLabels: { tier: "edge" } } } },
    });
    await waitFor(
      "ConfigMap one removed once the mission no longer selects this cluster",
      async () => (await getOrUndefined(client, Resources.ConfigMap, "one", namespace)) === undefined,
    );
    await waitFor("Ready False NoClusterSelected", async () => {
      const got = await client.get<Mission>(Missions, name);
      return got.status?.conditions?.[0]?.reason === "NoClusterSelected";
    });
    // Selected again by label.
    await client.patch(Missions, name, undefined, "merge", {
      spec: { placement: { clusterSelector: { matchLabels: { tier: "cloud" } } } },
    });
    await waitFor("ConfigMap one back", () => getOrUndefined(client, Resources.ConfigMap, "one", namespace));
    // Deleting the mission removes its objects (garbage collection through the owner reference).
    await client.delete(Missions, name);
    // kube-controller-manager's garbage collector learns new kinds (the Mission CRD installed
    // seconds ago) on its periodic discovery resync (30 s), hence the generous deadline.
    await waitFor(
      "ConfigMap one garbage-collected",
      async () => (await getOrUndefined(client, Resources.ConfigMap, "one", namespace)) === undefined,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  });

  it("restores an object changed or deleted by hand", async () => {
    const name = uniqueName("drift");
    missions.push(name);
    await client.create(
      Missions,
      mission(name, { placement: { clusters: [rootName] }, objects: [cm(name, { v: "1" })] }),
    );
    await waitFor("applied", () => getOrUndefined(client, Resources.ConfigMap, name, namespace));
    await client.patch(Resources.ConfigMap, name, namespace, "merge", { data: { v: "hand" } });
    await waitFor("changed value put back", async () => {
      const got = await getOrUndefined<ConfigMap>(client, Resources.ConfigMap, name, namespace);
      return got?.data?.v === "1";
    });
    await client.delete(Resources.ConfigMap, name, namespace);
    await waitFor("deleted object back", () => getOrUndefined(client, Resources.ConfigMap, name, namespace));
  });

  it("reports Failed with the reason for objects this cluster cannot take", async () => {
    const name = uniqueName("bad");
    missions.push(name);
    await client.create(
      Missions,
      mission(name, {
        placement: { clusters: [rootName] },
        objects: [
          { apiVersion: "example.com/v1", kind: "Nope", metadata: { name: "x" } },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "y", namespace: uniqueName("missing") },
            data: {},
          },
        ],
      }),
    );
    const entry = await waitFor("Failed here", async () => {
      const got = await client.get<Mission>(Missions, name);
      return got.status?.clusters?.find((c) => c.path === "." && c.state === "Failed");
    });
    expect(entry.reason).to.equal("ApplyFailed");
    expect(entry.message).to.contain("does not serve example.com/v1 Nope");
    expect(entry.message).to.match(/ConfigMap y: .*not found/);
    const event = await waitFor("a Warning event about the mission", async () => {
      const events = await client.list<
        KubeObject & { reason?: string; type?: string; regarding?: { name?: string } }
      >(Resources.Event, { namespace: "default" });
      return events.items.find((e) => e.regarding?.name === name && e.reason === "ApplyFailed");
    });
    expect(event.type).to.equal("Warning");
  });

  it("refuses a cluster attached to itself (Cycle) and reports unusable kubeconfigs", async () => {
    const self = uniqueName("self");
    const garbage = uniqueName("garbage");
    const nokey = uniqueName("nokey");
    edgeClusters.push(self, garbage, nokey);
    secrets.push(`${self}-kc`, `${garbage}-kc`);
    await kubeconfigSecret(client, `${self}-kc`, kubeconfigYAML(cluster), namespace);
    await kubeconfigSecret(client, `${garbage}-kc`, "this: [is not a kubeconfig", namespace);
    await client.create(EdgeClusters, edgeCluster(self, `${self}-kc`, {}, namespace));
    await client.create(EdgeClusters, edgeCluster(garbage, `${garbage}-kc`, {}, namespace));
    const noKey = edgeCluster(nokey, `${self}-kc`, {}, namespace);
    noKey.spec.kubeconfigSecretRef.key = "other";
    await client.create(EdgeClusters, noKey);

    const cycle = await waitFor("Cycle", async () => {
      const r = await readyOf(self);
      return r?.reason === "Cycle" ? r : undefined;
    });
    expect(cycle.message).to.contain("points at this cluster itself");
    const bad = await waitFor("KubeconfigInvalid", async () => {
      const r = await readyOf(garbage);
      return r?.reason === "KubeconfigInvalid" ? r : undefined;
    });
    expect(bad.message).to.contain("not a usable kubeconfig");
    const missingKey = await waitFor("KubeconfigInvalid (no key)", async () => {
      const r = await readyOf(nokey);
      return r?.reason === "KubeconfigInvalid" ? r : undefined;
    });
    expect(missingKey.message).to.contain('has no key "other"');
    const ec = await client.get<EdgeCluster>(EdgeClusters, self);
    expect(ec.status?.subtree ?? []).to.deep.equal([]);
    expect(ec.metadata.finalizers).to.include("edge.centaurus.io/detach");
  });

  it("rejects invalid specs at the API server", async () => {
    const ec = edgeCluster(uniqueName("timeouts"), "s", {});
    ec.spec.heartbeatPeriodSeconds = 30;
    ec.spec.disconnectTimeoutSeconds = 10;
    const err1 = await client.create(EdgeClusters, ec).catch((e: unknown) => e);
    expect(isInvalid(err1), String(err1)).to.equal(true);
    expect(String(err1)).to.contain("disconnectTimeoutSeconds must be at least heartbeatPeriodSeconds");
    const ec2 = edgeCluster(uniqueName("distro"), "s", {});
    (ec2.spec as { distro: string }).distro = "openshift";
    expect(isInvalid(await client.create(EdgeClusters, ec2).catch((e: unknown) => e))).to.equal(true);
    const err3 = await client
      .create(Missions, mission(uniqueName("noplace"), { placement: {}, objects: [] }))
      .catch((e: unknown) => e);
    expect(String(err3)).to.contain("placement needs clusters, a clusterSelector, or both");
    const err4 = await client
      .create(
        Missions,
        mission(uniqueName("noval"), {
          placement: { clusterSelector: { matchExpressions: [{ key: "k", operator: "In" }] } },
          objects: [],
        }),
      )
      .catch((e: unknown) => e);
    expect(String(err4)).to.contain("In and NotIn need values");
    const err5 = await client
      .create(EdgeClusters, edgeCluster(uniqueName("badref"), "edge_a.kubeconfig", {}, "Default"))
      .catch((e: unknown) => e);
    expect(String(err5)).to.contain(
      "kubeconfigSecretRef.namespace must be lower-case letters, digits and '-'",
    );
    expect(String(err5)).to.contain("kubeconfigSecretRef.name must be an object name");
  });
});
