// The GPU scheduler inside the controller runtime: an invalid GPUJob fails terminally (no
// retries, no repeated status writes) and says why in its status; Manager.stop() waits for a
// binding in flight and stops the profiler runnable.

import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  type GPUJob,
  GPUJobCRD,
  type GPUJobSpec,
  GPUJobs,
  GPUQueueCRD,
  SCHEDULER_NAME,
} from "../../controllers/ai/api.ts";
import { setupAiPillar } from "../../controllers/ai/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { buildCRD, installCRDs } from "../../pkg/kube/crd.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

const TEMPLATE = { spec: { containers: [{ name: "train", image: "registry.example/train:1" }] } };

function newManager(client: KubeClient) {
  return new Manager({
    client,
    metricsBindAddress: "",
    healthProbeBindAddress: "",
    leaderElection: false,
    gracefulShutdownMs: 2000,
  });
}

async function reconcileCount(manager: Manager, controller: string): Promise<number> {
  const m = await manager.registry.getSingleMetric("controller_runtime_reconcile_total")?.get();
  return (m?.values ?? [])
    .filter((v) => v.labels.controller === controller)
    .reduce((sum, v) => sum + v.value, 0);
}

describe("ai: the scheduler in the controller runtime", function () {
  this.timeout(120_000);
  let client: KubeClient;
  let namespace: string;

  before(async () => {
    client = await testCluster().clientFor();
    await installCRDs(client, [buildCRD(GPUJobCRD), buildCRD(GPUQueueCRD)]);
  });
  beforeEach(async () => {
    namespace = uniqueName("gpu-rt");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
  });
  afterEach(async () => {
    await client.delete(Resources.Namespace, namespace);
  });
  after(() => client.close());

  it("does not retry a GPUJob with an invalid spec, and says why in its status", async () => {
    const manager = newManager(client);
    setupAiPillar(manager, client);
    await manager.start();
    try {
      await client.create<GPUJob>(GPUJobs, {
        metadata: { name: "orphan", namespace },
        spec: {
          queue: uniqueName("missing"),
          gpus: 1,
          replicas: { min: 1, max: 1 },
          template: TEMPLATE,
        } as GPUJobSpec,
      });
      const failed = await waitFor("the job to report QueueNotFound", async () => {
        const j = await client.get<GPUJob>(GPUJobs, "orphan", namespace);
        const ready = j.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.reason === "QueueNotFound" ? j : undefined;
      });
      const ready = failed.status?.conditions?.find((c) => c.type === "Ready");
      expect(ready?.status).to.equal("False");
      expect(ready?.message).to.match(/does not exist; create it or fix spec.queue/);
      const terminal = await manager.registry
        .getSingleMetric("controller_runtime_terminal_reconcile_errors_total")
        ?.get();
      expect(terminal?.values.find((v) => v.labels.controller === "gpujob")?.value).to.be.at.least(1);
      // Settled: no retries and no status writes while nothing changes.
      const before = await reconcileCount(manager, "gpujob");
      await new Promise((r) => setTimeout(r, 5000));
      const later = await client.get<GPUJob>(GPUJobs, "orphan", namespace);
      expect(later.metadata.resourceVersion, "no repeated status writes").to.equal(
        failed.metadata.resourceVersion,
      );
      expect(
        (await reconcileCount(manager, "gpujob")) - before,
        "reconciles while nothing changed",
      ).to.be.at.most(2);
    } finally {
      await manager.stop();
    }
  });

  it("Manager.stop() waits for a binding in flight and stops the profiler", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smi-"));
    const smi = join(dir, "nvidia-smi");
    writeFileSync(smi, "#!/bin/sh\necho '0, GPU-1, Test GPU, 55, 100, 1000'\n");
    chmodSync(smi, 0o755);
    let entered!: () => void;
    const bindEntered = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let bindFinished = false;
    const manager = newManager(client);
    const { scheduler, binder, profiler } = setupAiPillar(manager, client, {
      smiPath: smi,
      beforeBind: async () => {
        entered();
        await held;
        bindFinished = true;
      },
    });
    await manager.start();
    await waitFor("the GPU nodes", () => scheduler.cluster.totalUnits() > 0 || undefined);
    expect(profiler.running, "the profiler runs").to.equal(true);
    await client.create(Resources.Pod, {
      metadata: { name: "held", namespace },
      spec: {
        schedulerName: SCHEDULER_NAME,
        containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1" } } }],
      },
    });
    await bindEntered;
    expect(binder.size).to.equal(1);
    let stopped = false;
    const stopping = manager.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(stopped, "stop() waits for the binding").to.equal(false);
    release();
    await stopping;
    expect(bindFinished).to.equal(true);
    expect(binder.size).to.equal(0);
    expect(profiler.running, "the profiler is stopped").to.equal(false);
    const pod = await client.get<Pod>(Resources.Pod, "held", namespace);
    expect(pod.spec?.nodeName, "the pod ended up bound").to.be.a("string").and.not.equal("");
    await client.delete(Resources.Pod, "held", namespace);
  });
});
