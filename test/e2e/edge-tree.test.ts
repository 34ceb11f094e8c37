// Fornax across four real local clusters: root → a, b; a → a1. The same edge operator runs
// for each cluster (four in-process managers, each with its own client); children are
// attached through kubeconfig Secrets built from each cluster's server, CA and admin token.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse } from "yaml";
import { type EdgeCluster, EdgeClusters, type Mission, Missions } from "../../controllers/edge/api.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { canonicalJSON } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";

const Deployments = {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
};

import { testCluster } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  type ConfigMap,
  configMapMission,
  edgeCluster,
  getOrUndefined,
  kubeconfigSecret,
  kubeconfigYAML,
  startTree,
  statusByPath,
  stopTree,
  type Tree,
} from "../fixtures/edge-tree.ts";

describe("edge tree across four real clusters (root → a, b; a → a1)", function () {
  this.timeout(15 * 60_000);
  let tree: Tree | undefined;
  const c = (n: string): KubeClient => tree?.clients[n] as KubeClient;
  const created: string[] = [];

  before(async function () {
    this.timeout(10 * 60_000);
    try {
      tree = await startTree(testCluster());
    } catch (err) {
      await stopTree(tree);
      tree = undefined;
      throw err;
    }
    const clusters = tree.clusters;
    await kubeconfigSecret(c("root"), "edge-a", kubeconfigYAML(clusters.a as LocalCluster));
    await kubeconfigSecret(c("root"), "edge-b", kubeconfigYAML(clusters.b as LocalCluster));
    await kubeconfigSecret(c("a"), "edge-a1", kubeconfigYAML(clusters.a1 as LocalCluster));
    await c("root").create(EdgeClusters, edgeCluster("a", "edge-a", { region: "north", tier: "edge" }));
    await c("root").create(EdgeClusters, edgeCluster("b", "edge-b", { region: "south", tier: "edge" }));
    await c("a").create(EdgeClusters, edgeCluster("a1", "edge-a1", { region: "north", tier: "far" }));
  });

  after(async function () {
    this.timeout(120_000);
    if (tree) {
      for (const m of created)
        await c("root")
          .delete(Missions, m)
          .catch(() => undefined);
      for (const ec of ["a", "b", "a1-again", "no-secret", "nowhere"]) {
        await c("root")
          .delete(EdgeClusters, ec)
          .catch(() => undefined);
      }
      // The detach finalizer cleans the children up while their operators still run.
      await waitFor(
        "the root's EdgeClusters gone",
        async () => (await c("root").list(EdgeClusters)).items.length === 0,
        { timeoutMs: 30_000 },
      ).catch(() => undefined);
      await c("root").delete(Resources.Secret, "edge-a", "default");
      await c("root").delete(Resources.Secret, "edge-b", "default");
      await c("root").delete(Resources.Secret, "edge-nowhere", "default");
      await c("root").delete(Resources.Secret, "edge-a1-again", "default");
    }
    await stopTree(tree);
  });

  it("the root sees the whole tree, flattened by path, with heartbeats and nodes", async () => {
    const subtree = await waitFor(
      "EdgeCluster a to report a and a/a1 Connected",
      async () => {
        const ec = await c("root").get<EdgeCluster>(EdgeClusters, "a");
        const paths = (ec.status?.subtree ?? [])
          .filter((e) => e.connection === "Connected")
          .map((e) => e.path);
        return paths.includes("a") && paths.includes("a/a1") && ec.status?.nodes?.total
          ? ec.status
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(subtree.connection).to.equal("Connected");
    expect(subtree.nodes).to.deep.equal({ ready: 2, total: 2 });
    expect(subtree.capacity?.cpu).to.equal("36");
    expect(subtree.lastHeartbeat).to.be.a("string");
    const b = await waitFor("EdgeCluster b Connected", async () => {
      const ec = await c("root").get<EdgeCluster>(EdgeClusters, "b");
      return ec.status?.connection === "Connected" ? ec : undefined;
    });
    expect(b.status?.subtree?.map((e) => e.path)).to.deep.equal(["b"]);
  });

  it("a mission selected by label reaches exactly the matching clusters at every depth", async () => {
    created.push("north", "far-only");
    await c("root").create(
      Missions,
      configMapMission(
        "north",
        "edge-north",
        { v: "1" },
        { clusterSelector: { matchLabels: { region: "north" } } },
      ),
    );
    await c("root").create(
      Missions,
      configMapMission(
        "far-only",
        "edge-far",
        { v: "1" },
        { clusterSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["far"] }] } },
      ),
    );
    const north = await waitFor(
      "mission north Applied at a and a/a1 in the root's status",
      async () => {
        const m = await c("root").get<Mission>(Missions, "north");
        const s = statusByPath(m);
        return s.a === "Applied" && s["a/a1"] === "Applied" ? m : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(statusByPath(north)).to.deep.equal({ a: "Applied", "a/a1": "Applied" });
    expect(north.status?.summary).to.include({ total: 2, applied: 2, failed: 0, unreachable: 0 });
    for (const n of ["a", "a1"]) {
      const cm = await c(n).get<ConfigMap>(Resources.ConfigMap, "north-config", "edge-north");
      expect(cm.data).to.deep.equal({ v: "1" });
    }
    expect(await getOrUndefined(c("b"), Resources.ConfigMap, "north-config", "edge-north")).to.equal(
      undefined,
    );
    expect(await getOrUndefined(c("root"), Resources.ConfigMap, "north-config", "edge-north")).to.equal(
      undefined,
    );
    // Not a broadcast: b, whose subtree cannot match, never receives the mission.
    expect(await getOrUndefined(c("b"), Missions, "north")).to.equal(undefined);

    const far = await waitFor(
      "mission far-only Applied at a/a1 only",
      async () => {
        const m = await c("root").get<Mission>(Missions, "far-only");
        return statusByPath(m)["a/a1"] === "Applied" ? m : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(statusByPath(far)).to.deep.equal({ "a/a1": "Applied" });
    // a passes it on without applying it itself.
    expect(await getOrUndefined(c("a"), Missions, "far-only")).to.not.equal(undefined);
    expect(await getOrUndefined(c("a"), Resources.ConfigMap, "far-only-config", "edge-far")).to.equal(
      undefined,
    );
    expect(await getOrUndefined(c("a1"), Resources.ConfigMap, "far-only-config", "edge-far")).to.not.equal(
      undefined,
    );
    expect(await getOrUndefined(c("b"), Missions, "far-only")).to.equal(undefined);
  });

  it("an object deleted or changed by hand in b is restored", async () => {
    created.push("south");
    await c("root").create(
      Missions,
      configMapMission("south", "edge-south", { v: "1" }, { clusters: ["b"] }),
    );
    await waitFor(
      "mission south Applied at b",
      async () => statusByPath(await c("root").get<Mission>(Missions, "south")).b === "Applied",
      { timeoutMs: 60_000 },
    );
    await c("b").delete(Resources.ConfigMap, "south-config", "edge-south");
    await waitFor("the ConfigMap deleted by hand to come back", () =>
      getOrUndefined<ConfigMap>(c("b"), Resources.ConfigMap, "south-config", "edge-south"),
    );
    await c("b").patch(Resources.ConfigMap, "south-config", "edge-south", "merge", { data: { v: "hacked" } });
    await waitFor("the ConfigMap changed by hand to be put right", async () => {
      const cm = await getOrUndefined<ConfigMap>(c("b"), Resources.ConfigMap, "south-config", "edge-south");
      return cm?.data?.v === "1";
    });
  });

  it("a1 stopped: Disconnected at the root within the timeout; changes meanwhile converge when it returns", async () => {
    const a1 = tree?.clusters.a1 as LocalCluster;
    created.push("late");
    await a1.stopComponent("kube-apiserver", 0);
    try {
      // The disconnect timeout is 5 s; the deadline leaves generous room for a loaded machine
      // (the heartbeat that notices it, and a's status reaching the root through its watch).
      await waitFor(
        "a/a1 Disconnected in the root's EdgeCluster a",
        async () => {
          const ec = await c("root").get<EdgeCluster>(EdgeClusters, "a");
          return ec.status?.subtree?.find((e) => e.path === "a/a1")?.connection === "Disconnected";
        },
        { timeoutMs: 20_000 },
      );
      await waitFor(
        "mission north Unreachable at a/a1, still Applied at a",
        async () => {
          const s = statusByPath(await c("root").get<Mission>(Missions, "north"));
          return s["a/a1"] === "Unreachable" && s.a === "Applied";
        },
        { timeoutMs: 30_000 },
      );
      // Meanwhile: change one mission, remove another, add a third.
      await c("root").patch(Missions, "north", undefined, "merge", {
        spec: configMapMission(
          "north",
          "edge-north",
          { v: "2" },
          { clusterSelector: { matchLabels: { region: "north" } } },
        ).spec,
      });
      await c("root").delete(Missions, "far-only");
      await c("root").create(
        Missions,
        configMapMission("late", "edge-late", { v: "1" }, { clusters: ["a1"] }),
      );
      await waitFor(
        "mission north v2 Applied at a while a1 is away",
        async () =>
          (await c("a").get<ConfigMap>(Resources.ConfigMap, "north-config", "edge-north")).data?.v === "2",
      );
    } finally {
      a1.startComponent("kube-apiserver");
    }
    await waitFor(
      "a1's API server back",
      async () => {
        await c("a1").request("GET", "/readyz");
        return true;
      },
      { timeoutMs: 120_000 },
    );
    await waitFor(
      "the tree converged after a1 came back",
      async () => {
        const north = statusByPath(await c("root").get<Mission>(Missions, "north"));
        const late = statusByPath(await c("root").get<Mission>(Missions, "late"));
        const cm = await getOrUndefined<ConfigMap>(
          c("a1"),
          Resources.ConfigMap,
          "north-config",
          "edge-north",
        );
        return north["a/a1"] === "Applied" && late["a/a1"] === "Applied" && cm?.data?.v === "2";
      },
      { timeoutMs: 90_000 },
    );
    // Nothing left over: the mission removed while a1 was away is gone there, with its objects.
    await waitFor(
      "far-only gone from a and a1 with its ConfigMap",
      async () =>
        (await getOrUndefined(c("a"), Missions, "far-only")) === undefined &&
        (await getOrUndefined(c("a1"), Missions, "far-only")) === undefined &&
        (await getOrUndefined(c("a1"), Resources.ConfigMap, "far-only-config", "edge-far")) === undefined,
      { timeoutMs: 60_000 },
    );
    const a1Missions = (await c("a1").list<Mission>(Missions)).items.map((m) => m.metadata.name).sort();
    expect(a1Missions).to.deep.equal(["late", "north"]);
    expect(
      (await c("a1").get<ConfigMap>(Resources.ConfigMap, "late-config", "edge-late")).data,
    ).to.deep.equal({
      v: "1",
    });
    const ec = await c("root").get<EdgeCluster>(EdgeClusters, "a");
    expect(ec.status?.subtree?.find((e) => e.path === "a/a1")?.connection).to.equal("Connected");
  });

  it("bad EdgeClusters get a condition with a reason: missing Secret, unreachable, cycle, attached twice", async () => {
    const reasonOf = async (client: KubeClient, name: string) => {
      const ec = await getOrUndefined<EdgeCluster>(client, EdgeClusters, name);
      return ec?.status?.conditions?.find((x) => x.type === "Ready");
    };
    await c("root").create(EdgeClusters, edgeCluster("no-secret", "does-not-exist", {}));
    await kubeconfigSecret(
      c("root"),
      "edge-nowhere",
      kubeconfigYAML(tree?.clusters.a1 as LocalCluster).replace(
        (tree?.clusters.a1 as LocalCluster | undefined)?.state.server ?? "",
        "https://127.0.0.1:1",
      ),
    );
    await c("root").create(EdgeClusters, edgeCluster("nowhere", "edge-nowhere", {}));
    await kubeconfigSecret(c("root"), "edge-a1-again", kubeconfigYAML(tree?.clusters.a1 as LocalCluster));
    await c("root").create(EdgeClusters, edgeCluster("a1-again", "edge-a1-again", {}));
    await kubeconfigSecret(c("a1"), "edge-root", kubeconfigYAML(tree?.clusters.root as LocalCluster));
    await c("a1").create(EdgeClusters, edgeCluster("loop", "edge-root", {}));

    const missing = await waitFor("no-secret: SecretNotFound", async () => {
      const r = await reasonOf(c("root"), "no-secret");
      return r?.reason === "SecretNotFound" ? r : undefined;
    });
    expect(missing.message).to.contain("default/does-not-exist");
    const unreachable = await waitFor("nowhere: Unreachable", async () => {
      const r = await reasonOf(c("root"), "nowhere");
      return r?.reason === "Unreachable" ? r : undefined;
    });
    expect(unreachable.message).to.contain("does not answer");
    const twice = await waitFor("a1-again: AttachedTwice", async () => {
      const r = await reasonOf(c("root"), "a1-again");
      return r?.reason === "AttachedTwice" ? r : undefined;
    });
    expect(twice.message).to.contain("a/a1");
    const cycle = await waitFor("loop: Cycle", async () => {
      const r = await reasonOf(c("a1"), "loop");
      return r?.reason === "Cycle" ? r : undefined;
    });
    expect(cycle.message).to.contain("ancestor");
    // The refused attachments do not show in the tree.
    await waitFor("the root's view of a's subtree without the refused loop", async () => {
      const a = await c("root").get<EdgeCluster>(EdgeClusters, "a");
      return canonicalJSON(a.status?.subtree?.map((e) => e.path)) === canonicalJSON(["a", "a/a1"]);
    });
    await c("a1").delete(EdgeClusters, "loop");
    await c("a1").delete(Resources.Secret, "edge-root", "default");
  });
  it("runs the worked example of docs/edge.md, and `centaurus edge tree` shows it", async () => {
    const doc = readFileSync(
      join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "edge.md"),
      "utf8",
    );
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? "") as KubeObject);
    expect(blocks.map((b) => b.kind)).to.deep.equal(["EdgeCluster", "Mission"]);
    created.push("web-north");
    for (const obj of blocks) await apply(c("root"), obj.kind === "Mission" ? Missions : EdgeClusters, obj);
    const m = await waitFor(
      "web-north Applied at a and a/a1",
      async () => {
        const got = await c("root").get<Mission>(Missions, "web-north");
        const s = statusByPath(got);
        return s.a === "Applied" && s["a/a1"] === "Applied" ? got : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(statusByPath(m)).to.deep.equal({ a: "Applied", "a/a1": "Applied" });
    const replicas = async (n: string) =>
      (await c(n).get<KubeObject & { spec?: { replicas?: number } }>(Deployments, "web", "web")).spec
        ?.replicas;
    expect(await replicas("a")).to.equal(3);
    expect(await replicas("a1")).to.equal(1);
    expect(await getOrUndefined(c("b"), Missions, "web-north")).to.equal(undefined);

    const root = tree?.clusters.root as LocalCluster;
    const out = execFileSync(
      "npx",
      ["tsx", "bin/centaurus.ts", "edge", "tree", "--kubeconfig", root.kubeconfigPath],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(out).to.match(/├── a {2}Connected {2}nodes 2\/2 .*missions \d+ \(\d+ applied/);
    expect(out).to.match(/│ {3}└── a1 {2}Connected {2}nodes 2\/2 {2}missions \d+/);
    expect(out).to.match(/[├└]── b {2}Connected/);
    expect(out).to.match(/no-secret {2}Disconnected .*\[SecretNotFound: /);
  });
  it("deleting EdgeCluster b detaches it: the root's missions and their objects leave b", async () => {
    expect(await getOrUndefined(c("b"), Missions, "south")).to.not.equal(undefined);
    await c("root").delete(EdgeClusters, "b");
    await waitFor(
      "EdgeCluster b gone at the root",
      async () => (await getOrUndefined(c("root"), EdgeClusters, "b")) === undefined,
    );
    await waitFor(
      "mission south and its ConfigMap gone from b",
      async () =>
        (await getOrUndefined(c("b"), Missions, "south")) === undefined &&
        (await getOrUndefined(c("b"), Resources.ConfigMap, "south-config", "edge-south")) === undefined,
      { timeoutMs: 60_000 },
    );
    const south = await c("root").get<Mission>(Missions, "south");
    await waitFor("the root's status no longer lists b", async () => {
      const m = await c("root").get<Mission>(Missions, "south");
      return m.status?.summary?.total === 0 ? m : undefined;
    });
    expect(south.metadata.name).to.equal("south");
  });
});
