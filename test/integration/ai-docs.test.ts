// Runs the worked example of docs/gpu-scheduling.md: applies its YAML blocks and checks what
// the page says a user sees.

import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse } from "yaml";
import { renderGpuTop } from "../../cli/gpu.ts";
import {
  type GPUJob,
  GPUJobCRD,
  GPUJobs,
  type GPUQueue,
  GPUQueueCRD,
  GPUQueues,
  SCHEDULER_NAME,
} from "../../controllers/ai/api.ts";
import { setupAi } from "../../controllers/ai/index.ts";
import type { NodeLike, PodLike } from "../../controllers/ai/objects.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { buildCRD, installCRDs } from "../../pkg/kube/crd.ts";
import type { ApiError } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

const DOC = new URL("../../docs/gpu-scheduling.md", import.meta.url);

function yamlBlocks(markdown: string): KubeObject[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? "") as KubeObject);
}

describe("ai: docs/gpu-scheduling.md worked example", function () {
  this.timeout(120_000);
  let client: KubeClient;
  let manager: Manager;
  let namespace: string;
  const objects = yamlBlocks(readFileSync(DOC, "utf8"));

  before(async () => {
    client = await testCluster().clientFor();
    await installCRDs(client, [buildCRD(GPUJobCRD), buildCRD(GPUQueueCRD)]);
    manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    setupAi(manager, client);
    await manager.start();
    namespace = uniqueName("ml");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
  });
  after(async () => {
    await client.delete(Resources.Namespace, namespace);
    await waitFor(
      "the example's pods to be gone",
      async () => (await client.list(Resources.Pod, { namespace })).items.length === 0 || undefined,
    );
    await client.delete(GPUQueues, "vision");
    await manager.stop();
    client.close();
  });

  it("has a queue and two jobs to apply", () => {
    expect(objects.map((o) => o.kind)).to.deep.equal(["GPUQueue", "GPUJob", "GPUJob"]);
  });

  it("starts resnet at its max of 4 replicas and the notebook on a share of a free device", async () => {
    for (const o of objects) {
      const obj = { ...o, metadata: { ...o.metadata, ...(o.kind === "GPUJob" ? { namespace } : {}) } };
      await apply(client, o.kind === "GPUJob" ? GPUJobs : GPUQueues, obj);
    }
    const running = async (name: string) => {
      const j = await client.get<GPUJob>(GPUJobs, name, namespace);
      return j.status?.phase === "Running" ? j : undefined;
    };
    const resnet = await waitFor("resnet Running", () => running("resnet"));
    const notebook = await waitFor("notebook Running", () => running("notebook"));
    expect(resnet.status?.currentReplicas).to.equal(4);
    expect(notebook.status?.currentReplicas).to.equal(1);
    const pods = (await client.list<PodLike>(Resources.Pod, { namespace })).items;
    expect(pods).to.have.length(5);
    for (const p of pods) expect(p.spec?.schedulerName).to.equal(SCHEDULER_NAME);
    const resnetDevices = new Set(
      pods
        .filter((p) => p.metadata.labels?.["ai.centaurus.io/job"] === "resnet")
        .flatMap((p) =>
          (p.metadata.annotations?.["ai.centaurus.io/gpu-devices"] ?? "")
            .split(",")
            .map((d) => `${p.spec?.nodeName}/${d}`),
        ),
    );
    expect(resnetDevices.size).to.equal(8);
    const nb = pods.find((p) => p.metadata.labels?.["ai.centaurus.io/job"] === "notebook");
    expect(
      resnetDevices.has(`${nb?.spec?.nodeName}/${nb?.metadata.annotations?.["ai.centaurus.io/gpu-devices"]}`),
    ).to.equal(false);

    // What `centaurus gpu top` shows for it.
    const nodes = (await client.list<NodeLike>(Resources.Node, { labelSelector: "nvidia.com/gpu.count" }))
      .items;
    const queues = (await client.list<GPUQueue>(GPUQueues)).items.filter((q) => q.metadata.name === "vision");
    const top = renderGpuTop(nodes, pods, queues);
    expect(top).to.match(new RegExp(`25%\\s+10240Mi\\s+-\\s+${namespace}/notebook-`));
    expect(top).to.match(/vision\s+2\s+8\s+16\s+8.25/);
  });

  it("refuses the bad input the page lists, with its messages", async () => {
    const base = objects[1] as GPUJob;
    const attempt = async (spec: Partial<GPUJob["spec"]>, drop: string[] = []) => {
      const s: Record<string, unknown> = { ...base.spec, ...spec };
      for (const d of drop) delete s[d];
      try {
        await client.create(GPUJobs, { metadata: { name: uniqueName("bad"), namespace }, spec: s });
      } catch (err) {
        return (err as ApiError).message;
      }
      return "accepted";
    };
    expect(await attempt({ replicas: { min: 3, max: 2 } })).to.include(
      "replicas.min must not exceed replicas.max",
    );
    expect(await attempt({ gpuFraction: { computePercent: 150, memoryMiB: 0 } }, ["gpus"])).to.include(
      "gpuFraction.computePercent must not exceed 100%",
    );
    expect(await attempt({}, ["gpus"])).to.include("set exactly one of gpus");
    expect(await attempt({ template: { spec: { containers: [] } } })).to.include(
      "template.spec.containers must list at least one container",
    );
    expect(await attempt({ queue: "ML_Queue" })).to.include(
      "queue (a GPUQueue's name) must be an object name",
    );
    const immutable = await client
      .patch(GPUJobs, "resnet", namespace, "merge", { spec: { queue: "other" } })
      .then(
        () => "accepted",
        (err: ApiError) => err.message,
      );
    expect(immutable).to.include("queue is immutable");
  });
});
