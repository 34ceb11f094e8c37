// The controller runtime driving the example mirror controller against a real API server.

import { expect } from "chai";
import { retryOnConflict } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { addFinalizer, removeFinalizer } from "../../pkg/status/finalizers.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  type ConfigMap,
  MIRROR_LABEL,
  MIRROR_NAME_ANNOTATION,
  mirrorController,
} from "../fixtures/mirror-controller.ts";

interface Event extends KubeObject {
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { name?: string };
}

async function metricValue(manager: Manager, name: string, labels: Record<string, string>): Promise<number> {
  const metric = manager.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val));
  return match?.value ?? 0;
}

describe("controller runtime with the example mirror controller", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let manager: Manager;
  let namespace: string;

  const source = (
    name: string,
    data: Record<string, string>,
    annotations?: Record<string, string>,
  ): ConfigMap => ({
    metadata: { name, namespace, labels: { [MIRROR_LABEL]: "true" }, annotations },
    data,
  });
  const getCopy = (name: string) => client.get<ConfigMap>(Resources.ConfigMap, name, namespace);

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
    manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    manager.add(mirrorController(client));
    await manager.start();
  });
  after(async () => {
    await manager.stop();
    client.close();
  });
  beforeEach(async () => {
    namespace = uniqueName("ctl");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
  });
  afterEach(() => client.delete(Resources.Namespace, namespace));

  it("creates an owner-referenced copy and keeps it in step with its source", async () => {
    const src = await client.create(Resources.ConfigMap, source("app", { a: "1" }));
    const copy = await waitFor("the copy", () => getCopy("app-mirror"));
    expect(copy.data).to.deep.equal({ a: "1" });
    expect(copy.metadata.ownerReferences?.[0]).to.include({
      kind: "ConfigMap",
      name: "app",
      uid: src.metadata.uid,
      controller: true,
    });
    await client.patch(Resources.ConfigMap, "app", namespace, "merge", { data: { a: "2", b: "3" } });
    await waitFor(
      "the copy to follow",
      async () => JSON.stringify((await getCopy("app-mirror")).data) === JSON.stringify({ a: "2", b: "3" }),
    );
  });

  it("is level-triggered: a deleted copy comes back, a hand-edited copy is put right", async () => {
    await client.create(Resources.ConfigMap, source("lvl", { k: "v" }));
    const first = await waitFor("the copy", () => getCopy("lvl-mirror"));
    await client.delete(Resources.ConfigMap, "lvl-mirror", namespace);
    const second = await waitFor("the copy to come back", async () => {
      const c = await getCopy("lvl-mirror");
      return c.metadata.uid !== first.metadata.uid ? c : undefined;
    });
    expect(second.data).to.deep.equal({ k: "v" });
    // Another writer (a person with kubectl) changes the copy: the controller restores it.
    await client.patch(Resources.ConfigMap, "lvl-mirror", namespace, "merge", { data: { k: "tampered" } });
    await waitFor("the copy to be restored", async () => (await getCopy("lvl-mirror")).data?.k === "v");
  });

  it("deleting the source removes the copy (garbage collection through the owner reference)", async () => {
    await client.create(Resources.ConfigMap, source("gone", { k: "v" }));
    await waitFor("the copy", () => getCopy("gone-mirror"));
    await client.delete(Resources.ConfigMap, "gone", namespace);
    await waitFor("the copy to be collected", async () => {
      try {
        await getCopy("gone-mirror");
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    });
  });

  it("a terminal error is reported as a Warning event and not retried", async () => {
    const before = await metricValue(manager, "controller_runtime_terminal_reconcile_errors_total", {
      controller: "mirror",
    });
    await client.create(
      Resources.ConfigMap,
      source("bad", { k: "v" }, { [MIRROR_NAME_ANNOTATION]: "Not_A_Name" }),
    );
    const event = await waitFor("a Warning event", async () => {
      const events = await client.list<Event>(Resources.Event, { namespace });
      return events.items.find((e) => e.regarding?.name === "bad" && e.reason === "InvalidMirrorName");
    });
    expect(event.type).to.equal("Warning");
    expect(event.note).to.contain("Not_A_Name");
    // The event is written inside reconcile; the metric counts the reconcile once it returns.
    const afterFirst = await waitFor("the terminal error to be counted", async () => {
      const n = await metricValue(manager, "controller_runtime_terminal_reconcile_errors_total", {
        controller: "mirror",
      });
      return n === before + 1 ? n : undefined;
    });
    // Backoff would have retried within 5, 10, 20, ... ms; a second of silence shows it did not.
    await new Promise((r) => setTimeout(r, 1000));
    expect(
      await metricValue(manager, "controller_runtime_terminal_reconcile_errors_total", {
        controller: "mirror",
      }),
    ).to.equal(afterFirst);
    // Fixing the input is a change, and the change is reconciled.
    await client.patch(Resources.ConfigMap, "bad", namespace, "merge", {
      metadata: { annotations: { [MIRROR_NAME_ANNOTATION]: "good-name" } },
    });
    await waitFor("the copy under the fixed name", () => getCopy("good-name"));
  });

  it("two writers in conflict converge: optimistic concurrency loses no update", async () => {
    await client.create(Resources.ConfigMap, { metadata: { name: "counter", namespace }, data: { n: "0" } });
    const increment = () =>
      retryOnConflict(async () => {
        const cur = await client.get<ConfigMap>(Resources.ConfigMap, "counter", namespace);
        const n = Number(cur.data?.n ?? "0");
        return client.replace(Resources.ConfigMap, { ...cur, data: { n: String(n + 1) } });
      }, 50);
    // Two writers, ten increments each, racing on the same object.
    await Promise.all(
      [0, 1].map(async () => {
        for (let i = 0; i < 10; i++) await increment();
      }),
    );
    expect((await client.get<ConfigMap>(Resources.ConfigMap, "counter", namespace)).data?.n).to.equal("20");
  });

  it("finalizers are added and removed without dropping another owner's", async () => {
    const obj = await client.create<ConfigMap>(Resources.ConfigMap, {
      metadata: { name: "fin", namespace, finalizers: ["other.io/keep"] },
    });
    const stale = obj; // read before someone else adds theirs
    await client.patch(Resources.ConfigMap, "fin", namespace, "json", [
      { op: "add", path: "/metadata/finalizers/-", value: "third.io/late" },
    ]);
    const added = await addFinalizer(client, Resources.ConfigMap, stale, "centaurus.io/cleanup");
    expect(added.metadata.finalizers).to.have.members([
      "other.io/keep",
      "third.io/late",
      "centaurus.io/cleanup",
    ]);
    // Someone drops their finalizer in between: our finalizer's index shifts, the `test` op
    // catches it and the helper re-reads instead of removing the wrong entry.
    await client.patch(Resources.ConfigMap, "fin", namespace, "json", [
      { op: "test", path: "/metadata/finalizers/0", value: "other.io/keep" },
      { op: "remove", path: "/metadata/finalizers/0" },
    ]);
    const removed = await removeFinalizer(client, Resources.ConfigMap, added, "centaurus.io/cleanup");
    expect(removed.metadata.finalizers).to.deep.equal(["third.io/late"]);
    await client.patch(Resources.ConfigMap, "fin", namespace, "merge", { metadata: { finalizers: null } });
  });

  it("exports controller-runtime metrics with real values", async () => {
    await client.create(Resources.ConfigMap, source("m", { k: "v" }));
    await waitFor("the copy", () => getCopy("m-mirror"));
    expect(
      await metricValue(manager, "controller_runtime_reconcile_total", {
        controller: "mirror",
        result: "success",
      }),
    ).to.be.greaterThan(0);
    expect(await metricValue(manager, "workqueue_adds_total", { name: "mirror" })).to.be.greaterThan(0);
    const text = await manager.registry.metrics();
    for (const name of [
      "controller_runtime_reconcile_time_seconds_bucket",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_max_concurrent_reconciles",
      "controller_runtime_active_workers",
      "workqueue_depth",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_work_duration_seconds_bucket",
      "workqueue_retries_total",
      "rest_client_requests_total",
    ]) {
      expect(text, name).to.contain(name);
    }
  });
});
