// The GPU scheduler against a real API server and kwok GPU nodes (2 nodes × 8 GPUs in the
// test cluster): gangs, bad input, fractional sharing, elastic growth and shrinking, fair
// share with guarantees and reclaim, priority preemption, namespace GPU quota, completion,
// bare pods, utilisation-aware placement, and an operator restart in the middle of a gang.

import { expect } from "chai";
import {
  type GPUJob,
  GPUJobCRD,
  type GPUJobSpec,
  GPUJobs,
  GPUQueueCRD,
  type GPUQueueSpec,
  GPUQueues,
  SCHEDULER_NAME,
} from "../../controllers/ai/api.ts";
import { setupAi } from "../../controllers/ai/index.ts";
import type { PodLike } from "../../controllers/ai/objects.ts";
import type { GpuScheduler } from "../../controllers/ai/scheduler.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { buildCRD, installCRDs } from "../../pkg/kube/crd.ts";
import type { ApiError } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

const TEMPLATE = { spec: { containers: [{ name: "train", image: "registry.example/train:1" }] } };

interface Ctx {
  client: KubeClient;
  namespace: string;
}

async function newManager(client: KubeClient, beforeBind?: (pod: string) => Promise<void>) {
  const manager = new Manager({
    client,
    metricsBindAddress: "",
    healthProbeBindAddress: "",
    leaderElection: false,
    gracefulShutdownMs: 2000,
  });
  const scheduler = setupAi(manager, client, { beforeBind });
  await manager.start();
  return { manager, scheduler };
}

function helpers(ctx: Ctx) {
  const queue = (name: string, spec: Partial<GPUQueueSpec> = {}) =>
    ctx.client.create(GPUQueues, {
      metadata: { name },
      spec: { owner: { kind: "Team", name: "ml" }, ...spec },
    });
  const job = (name: string, spec: Partial<GPUJobSpec> & { queue: string }) =>
    ctx.client.create<GPUJob>(GPUJobs, {
      metadata: { name, namespace: ctx.namespace },
      spec: { replicas: { min: 1, max: 1 }, template: TEMPLATE, ...spec } as GPUJobSpec,
    });
  const get = (name: string) => ctx.client.get<GPUJob>(GPUJobs, name, ctx.namespace);
  const ready = (j: GPUJob) => j.status?.conditions?.find((c) => c.type === "Ready");
  const waitPhase = (name: string, phase: string, timeoutMs = 45_000) =>
    waitFor(
      `${name} to be ${phase}`,
      async () => {
        const j = await get(name);
        return j.status?.phase === phase ? j : undefined;
      },
      { timeoutMs },
    );
  const waitReason = (name: string, reason: string) =>
    waitFor(`${name} to report ${reason}`, async () => {
      const j = await get(name);
      return ready(j)?.reason === reason ? j : undefined;
    });
  const pods = async (jobName?: string) =>
    (
      await ctx.client.list<PodLike>(Resources.Pod, {
        namespace: ctx.namespace,
        labelSelector: jobName ? `ai.centaurus.io/job=${jobName}` : undefined,
      })
    ).items.filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed",
    );
  const boundPods = async (jobName: string) => (await pods(jobName)).filter((p) => p.spec?.nodeName);
  return { queue, job, get, ready, waitPhase, waitReason, pods, boundPods };
}

/** Every bound GPU pod in the cluster: no device is held twice, no shared device above 100%. */
async function assertNoDeviceOverCommitted(client: KubeClient): Promise<void> {
  const all = await client.list<PodLike>(Resources.Pod, {
    fieldSelector: `spec.schedulerName=${SCHEDULER_NAME}`,
  });
  const use = new Map<string, { whole: number; compute: number; holders: string[] }>();
  for (const p of all.items) {
    if (!p.spec?.nodeName || p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    const devices = p.metadata.annotations?.["ai.centaurus.io/gpu-devices"];
    if (!devices) continue;
    const compute = p.metadata.annotations?.["ai.centaurus.io/gpu-compute-percent"];
    for (const d of devices.split(",")) {
      const k = `${p.spec.nodeName}/${d}`;
      const u = use.get(k) ?? { whole: 0, compute: 0, holders: [] };
      if (compute) u.compute += Number(compute);
      else u.whole++;
      u.holders.push(p.metadata.name ?? "");
      use.set(k, u);
    }
  }
  for (const [k, u] of use) {
    expect(u.whole + (u.compute > 0 ? 1 : 0), `${k} held by ${u.holders.join(", ")}`).to.be.at.most(1);
    expect(u.compute, `${k} compute`).to.be.at.most(100);
  }
}

async function deleteAll(ctx: Ctx, scheduler?: GpuScheduler): Promise<void> {
  const { client, namespace } = ctx;
  const jobs = await client.list<GPUJob>(GPUJobs, { namespace });
  for (const j of jobs.items)
    await client.delete(GPUJobs, j.metadata.name ?? "", namespace, { propagationPolicy: "Foreground" });
  const pods = await client.list<PodLike>(Resources.Pod, { namespace });
  for (const p of pods.items) await client.delete(Resources.Pod, p.metadata.name ?? "", namespace);
  await waitFor(
    "the test's pods to be gone",
    async () => (await client.list(Resources.Pod, { namespace })).items.length === 0,
    {
      timeoutMs: 60_000,
    },
  );
  if (scheduler) {
    await waitFor(
      "every GPU to be free again",
      () => scheduler.cluster.allHolders().length === 0 || undefined,
      {
        timeoutMs: 30_000,
      },
    );
  }
}

describe("ai: GPU scheduler on kwok GPU nodes", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let manager: Manager;
  let scheduler: GpuScheduler;
  const ctx = {} as Ctx;
  const h = helpers(ctx);
  const queues: string[] = [];
  const mkQueue = async (spec: Partial<GPUQueueSpec> = {}) => {
    const name = uniqueName("q");
    await h.queue(name, spec);
    queues.push(name);
    return name;
  };

  before(async () => {
    cluster = testCluster();
    ctx.client = await cluster.clientFor();
    await installCRDs(ctx.client, [buildCRD(GPUJobCRD), buildCRD(GPUQueueCRD)]);
    ({ manager, scheduler } = await newManager(ctx.client));
    await waitFor("the GPU nodes", () => scheduler.cluster.totalUnits() >= 16 || undefined);
  });
  after(async () => {
    await manager.stop();
    ctx.client.close();
  });
  beforeEach(async () => {
    ctx.namespace = uniqueName("gpu");
    await ctx.client.create(Resources.Namespace, { metadata: { name: ctx.namespace } });
  });
  afterEach(async () => {
    await deleteAll(ctx, scheduler);
    for (const q of queues.splice(0)) await ctx.client.delete(GPUQueues, q);
    await ctx.client.delete(Resources.Namespace, ctx.namespace);
  });

  it("starts a gang with all its min replicas bound through pods/binding, devices on the pods", async () => {
    const q = await mkQueue();
    await h.job("gang", { queue: q, gpus: 4, replicas: { min: 3, max: 3 } });
    const j = await h.waitPhase("gang", "Running");
    const bound = await h.boundPods("gang");
    expect(bound).to.have.length(3);
    for (const p of bound) {
      expect(p.spec?.schedulerName).to.equal(SCHEDULER_NAME);
      expect(p.metadata.annotations?.["ai.centaurus.io/gpu-devices"]?.split(",")).to.have.length(4);
      expect(p.metadata.ownerReferences?.[0]?.kind).to.equal("GPUJob");
      const gpus = p.spec?.containers?.[0]?.resources?.requests?.["nvidia.com/gpu"];
      expect(gpus).to.equal("4");
    }
    expect(j.status?.replicas).to.have.length(3);
    expect(j.status?.currentReplicas).to.equal(3);
    expect(h.ready(j)?.status).to.equal("True");
    await assertNoDeviceOverCommitted(ctx.client);
    // A second gang that cannot fit whole waits with a reason and binds nothing.
    await h.job("toobig", { queue: q, gpus: 4, replicas: { min: 2, max: 2 } });
    const waiting = await h.waitReason("toobig", "InsufficientGPUs");
    expect(waiting.status?.phase).to.equal("Pending");
    expect(await h.boundPods("toobig")).to.have.length(0);
    expect(await h.pods("toobig")).to.have.length(0);
  });

  it("rejects bad input at admission (CEL) or with a condition that says why", async () => {
    const q = await mkQueue();
    const refused = async (spec: Partial<GPUJobSpec> & { queue: string }) => {
      try {
        await h.job(uniqueName("bad"), spec);
      } catch (err) {
        expect((err as ApiError).code).to.equal(422);
        return (err as ApiError).message;
      }
      throw new Error("the API server accepted an invalid GPUJob");
    };
    expect(await refused({ queue: q, gpus: 1, replicas: { min: 3, max: 2 } })).to.match(
      /min must not exceed/,
    );
    expect(await refused({ queue: q, gpuFraction: { computePercent: 150, memoryMiB: 10 } })).to.match(/100%/);
    expect(await refused({ queue: q })).to.match(/exactly one of gpus/);
    // A pod template no pod can come of: refused, not "binding 1 replicas" forever.
    expect(await refused({ queue: q, gpus: 1, template: { spec: { containers: [] } } })).to.match(
      /template.spec.containers must list at least one container/,
    );
    expect(await refused({ queue: q, gpus: 1, template: { spec: {} } as GPUJobSpec["template"] })).to.match(
      /spec.template.spec.containers: Required value/,
    );
    expect(await refused({ queue: "Not_A_Queue", gpus: 1 })).to.match(
      /queue \(a GPUQueue's name\) must be an object name/,
    );
    await h.job("noqueue", { queue: "no-such-queue", gpus: 1 });
    const nq = await h.waitReason("noqueue", "QueueNotFound");
    expect(h.ready(nq)?.message).to.match(/no-such-queue/);
    await h.job("huge", { queue: q, gpus: 16 });
    const huge = await h.waitReason("huge", "TooManyGPUsPerReplica");
    expect(h.ready(huge)?.message).to.match(/no node has more than 8/);
    await h.job("fat", { queue: q, gpuFraction: { computePercent: 10, memoryMiB: 200_000 } });
    await h.waitReason("fat", "FractionTooLarge");
    // Creating the missing queue unblocks the job.
    await h.queue("no-such-queue");
    queues.push("no-such-queue");
    await h.waitPhase("noqueue", "Running");
  });

  it("shares one device between fractional replicas and never over 100%", async () => {
    const q = await mkQueue();
    await h.job("half", {
      queue: q,
      gpuFraction: { computePercent: 50, memoryMiB: 40000 },
      replicas: { min: 2, max: 2 },
    });
    await h.waitPhase("half", "Running");
    const pods = await h.boundPods("half");
    const where = new Set(
      pods.map((p) => `${p.spec?.nodeName}/${p.metadata.annotations?.["ai.centaurus.io/gpu-devices"]}`),
    );
    expect(where.size, "binpack puts both halves on one device").to.equal(1);
    await h.job("third", { queue: q, gpuFraction: { computePercent: 40, memoryMiB: 1000 } });
    await h.waitPhase("third", "Running");
    const third = (await h.boundPods("third"))[0];
    expect(
      `${third?.spec?.nodeName}/${third?.metadata.annotations?.["ai.centaurus.io/gpu-devices"]}`,
    ).to.not.be.oneOf([...where]);
    await assertNoDeviceOverCommitted(ctx.client);
  });

  it("grows an elastic job to max on free GPUs, shrinks it to admit a guaranteed queue's job", async () => {
    const borrower = await mkQueue({ weight: 1 });
    const owner = await mkQueue({ weight: 1, guaranteedGPUs: 8 });
    await h.job("elastic", { queue: borrower, gpus: 1, replicas: { min: 4, max: 16 } });
    await waitFor(
      "elastic to take every free GPU",
      async () => (await h.boundPods("elastic")).length === 16 || undefined,
    );
    await h.waitPhase("elastic", "Running");
    await h.job("entitled", { queue: owner, gpus: 2, replicas: { min: 4, max: 4 } });
    await h.waitPhase("entitled", "Running", 60_000);
    expect(await h.boundPods("entitled")).to.have.length(4);
    const elastic = await h.waitPhase("elastic", "Running");
    expect(elastic.status?.currentReplicas).to.equal(8);
    await assertNoDeviceOverCommitted(ctx.client);
    const q = await ctx.client.get<{ metadata: object; status?: { allocatedGPUs?: number } }>(
      GPUQueues,
      owner,
    );
    await waitFor("the queue status to show its allocation", async () => {
      const got = await ctx.client.get<typeof q>(GPUQueues, owner);
      return got.status?.allocatedGPUs === 8 || undefined;
    });
  });

  it("preempts a lower-priority job for a higher-priority one in the same queue", async () => {
    const q = await mkQueue();
    await h.job("low", { queue: q, gpus: 8, priority: 1, replicas: { min: 2, max: 2 } });
    await h.waitPhase("low", "Running");
    await h.job("high", { queue: q, gpus: 8, priority: 10, replicas: { min: 1, max: 1 } });
    await h.waitPhase("high", "Running", 60_000);
    // The preempted job's status may first say it queues behind "high" (while high was still
    // waiting); it settles once high runs.
    const low = await waitFor("low's status to settle after preemption", async () => {
      const j = await h.get("low");
      return ["Preempted", "InsufficientGPUs"].includes(h.ready(j)?.reason ?? "") ? j : undefined;
    });
    expect(low.status?.phase).to.be.oneOf(["Preempted", "Pending"]);
    expect(h.ready(low)?.reason).to.be.oneOf(["Preempted", "InsufficientGPUs"]);
    // Equal priority never preempts: a second job at priority 10 waits.
    await h.job("peer", { queue: q, gpus: 8, priority: 10, replicas: { min: 2, max: 2 } });
    await h.waitReason("peer", "InsufficientGPUs");
    expect((await h.get("high")).status?.phase).to.equal("Running");
  });

  it("starts no lower-priority job while a higher-priority one waits for GPUs", async () => {
    const q = await mkQueue();
    await h.job("top", { queue: q, gpus: 4, priority: 9, replicas: { min: 3, max: 3 } });
    await h.waitPhase("top", "Running");
    await h.job("next", { queue: q, gpus: 8, priority: 5, replicas: { min: 1, max: 1 } });
    await h.waitReason("next", "InsufficientGPUs");
    await h.job("small", { queue: q, gpus: 1, priority: 1, replicas: { min: 1, max: 1 } });
    const small = await h.waitReason("small", "QueuedBehindHigherPriority");
    expect(h.ready(small)?.message).to.include("next");
    expect(await h.boundPods("small")).to.have.length(0);
    for (const p of await h.boundPods("top")) {
      await ctx.client.patch(
        Resources.Pod,
        p.metadata.name ?? "",
        ctx.namespace,
        "merge",
        { status: { phase: "Succeeded" } },
        {
          subresource: "status",
        },
      );
    }
    await h.waitPhase("next", "Running");
    await h.waitPhase("small", "Running");
  });

  it("counts GPUs against the namespace ResourceQuota: a refused gang reports QuotaExceeded", async () => {
    const q = await mkQueue();
    await ctx.client.create(Resources.ResourceQuota, {
      metadata: { name: "gpus", namespace: ctx.namespace },
      spec: { hard: { "requests.nvidia.com/gpu": "2" } },
    });
    await waitFor("the quota to be counted", async () => {
      const rq = await ctx.client.get<{ metadata: object; status?: { hard?: Record<string, string> } }>(
        Resources.ResourceQuota,
        "gpus",
        ctx.namespace,
      );
      return rq.status?.hard ? true : undefined;
    });
    await h.job("overquota", { queue: q, gpus: 1, replicas: { min: 3, max: 3 } });
    const j = await h.waitReason("overquota", "QuotaExceeded");
    expect(h.ready(j)?.message).to.match(/exceeded quota/);
    expect(await h.boundPods("overquota")).to.have.length(0);
    // The refused gang leaves no pod behind (they would hold the namespace's quota).
    await waitFor(
      "the refused gang's pods to be gone",
      async () => (await h.pods("overquota")).length === 0 || undefined,
    );
    await h.job("fits", { queue: q, gpus: 1, replicas: { min: 2, max: 2 } });
    await h.waitPhase("fits", "Running");
  });

  it("succeeds when every pod succeeds, and the freed GPUs are used again", async () => {
    const q = await mkQueue();
    await h.job("first", { queue: q, gpus: 8, replicas: { min: 2, max: 2 } });
    await h.waitPhase("first", "Running");
    await h.job("second", { queue: q, gpus: 8, replicas: { min: 2, max: 2 } });
    await h.waitReason("second", "InsufficientGPUs");
    for (const p of await h.boundPods("first")) {
      await ctx.client.patch(
        Resources.Pod,
        p.metadata.name ?? "",
        ctx.namespace,
        "merge",
        { status: { phase: "Succeeded" } },
        {
          subresource: "status",
        },
      );
    }
    await h.waitPhase("first", "Succeeded");
    await h.waitPhase("second", "Running");
    await assertNoDeviceOverCommitted(ctx.client);
  });

  it("grows an elastic job as GPUs free up", async () => {
    const q = await mkQueue();
    await h.job("holder", { queue: q, gpus: 8, replicas: { min: 1, max: 1 } });
    await h.waitPhase("holder", "Running");
    await h.job("grower", { queue: q, gpus: 1, replicas: { min: 2, max: 16 } });
    await waitFor(
      "grower to take the 8 free GPUs",
      async () => (await h.boundPods("grower")).length === 8 || undefined,
    );
    for (const p of await h.boundPods("holder")) {
      await ctx.client.patch(
        Resources.Pod,
        p.metadata.name ?? "",
        ctx.namespace,
        "merge",
        { status: { phase: "Succeeded" } },
        {
          subresource: "status",
        },
      );
    }
    await h.waitPhase("holder", "Succeeded");
    await waitFor(
      "grower to reach its max",
      async () => (await h.boundPods("grower")).length === 16 || undefined,
    );
    const grower = await h.waitPhase("grower", "Running");
    expect(grower.status?.currentReplicas).to.equal(16);
    await assertNoDeviceOverCommitted(ctx.client);
  });

  it("binds a bare pod that names the scheduler, and reads utilisation that nodes publish", async () => {
    const nodes = scheduler.cluster
      .nodeNames()
      .filter((n) => (scheduler.cluster.nodeInfo(n)?.count ?? 0) > 0);
    const [busy, idle] = nodes;
    await ctx.client.patch(Resources.Node, busy ?? "", undefined, "merge", {
      metadata: { annotations: { "ai.centaurus.io/gpu-utilization": "99,99,99,99,99,99,99,99" } },
    });
    await ctx.client.patch(Resources.Node, idle ?? "", undefined, "merge", {
      metadata: { annotations: { "ai.centaurus.io/gpu-utilization": "90,90,90,1,90,90,90,90" } },
    });
    try {
      await waitFor(
        "the utilisation to reach the scheduler",
        () => scheduler.cluster.nodeInfo(idle ?? "")?.utilization?.[3] === 1 || undefined,
      );
      await ctx.client.create(Resources.Pod, {
        metadata: {
          name: "bare",
          namespace: ctx.namespace,
          annotations: { "ai.centaurus.io/placement": "utilization" },
        },
        spec: {
          schedulerName: SCHEDULER_NAME,
          containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1" } } }],
        },
      });
      const p = await waitFor("the bare pod to be bound", async () => {
        const got = await ctx.client.get<PodLike>(Resources.Pod, "bare", ctx.namespace);
        return got.spec?.nodeName ? got : undefined;
      });
      expect(p.spec?.nodeName).to.equal(idle);
      expect(p.metadata.annotations?.["ai.centaurus.io/gpu-devices"]).to.equal("3");
      const metrics = await manager.registry.getSingleMetricAsString(
        "centaurus_gpu_device_utilization_ratio",
      );
      expect(metrics).to.match(/source="node-annotation"/);
      const alloc = await manager.registry.getSingleMetricAsString("centaurus_gpu_device_allocated_ratio");
      expect(alloc).to.include(`node="${idle}"`);
    } finally {
      for (const n of [busy, idle]) {
        await ctx.client.patch(Resources.Node, n ?? "", undefined, "merge", {
          metadata: { annotations: { "ai.centaurus.io/gpu-utilization": null } },
        });
      }
    }
  });
});

describe("ai: operator restart in the middle of binding a gang", function () {
  this.timeout(180_000);
  const ctx = {} as Ctx;
  const h = helpers(ctx);
  let queue: string;

  before(async () => {
    ctx.client = await testCluster().clientFor();
    await installCRDs(ctx.client, [buildCRD(GPUJobCRD), buildCRD(GPUQueueCRD)]);
    ctx.namespace = uniqueName("gpu-restart");
    await ctx.client.create(Resources.Namespace, { metadata: { name: ctx.namespace } });
    queue = uniqueName("q");
    await h.queue(queue);
  });
  afterEach(() => deleteAll(ctx));
  after(async () => {
    await ctx.client.delete(GPUQueues, queue);
    await ctx.client.delete(Resources.Namespace, ctx.namespace);
    ctx.client.close();
  });

  it("allocates no device twice and leaves no gang half-bound", async () => {
    // First operator: binds one replica of the gang, then hangs as if killed.
    let binds = 0;
    const stuck = new Promise<void>(() => {});
    const first = await newManager(ctx.client, async () => {
      if (++binds > 1) await stuck;
    });
    await h.job("gang", { queue, gpus: 2, replicas: { min: 4, max: 4 } });
    await waitFor("one replica bound, the rest not", async () => {
      const all = await h.pods("gang");
      const bound = all.filter((p) => p.spec?.nodeName);
      return all.length === 4 && bound.length === 1 ? true : undefined;
    });
    expect((await h.get("gang")).status?.phase).to.equal("Admitted");
    // "Kill" it: its work queues shut down after the 2 s drain while the stuck binding never
    // returns, so it makes no further decision (stop() itself never completes).
    const stopped = first.manager.stop();
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 3000))]);

    // Meanwhile someone else asks for GPUs: the recorded plan must not be handed out twice.
    const second = await newManager(ctx.client);
    try {
      await h.job("other", { queue, gpus: 8, replicas: { min: 1, max: 1 } });
      const gang = await h.waitPhase("gang", "Running");
      expect(await h.boundPods("gang")).to.have.length(4);
      expect(gang.status?.replicas).to.have.length(4);
      await h.waitPhase("other", "Running");
      await assertNoDeviceOverCommitted(ctx.client);
    } finally {
      await second.manager.stop();
    }
  });

  it("rolls a half-bound gang back when its recorded devices were taken while it was down", async () => {
    let binds = 0;
    const stuck = new Promise<void>(() => {});
    const first = await newManager(ctx.client, async () => {
      if (++binds > 1) await stuck;
    });
    await h.job("victim", { queue, gpus: 8, replicas: { min: 2, max: 2 } });
    const admitted = await waitFor("the plan recorded and one replica bound", async () => {
      const all = await h.pods("victim");
      const j = await h.get("victim");
      return all.filter((p) => p.spec?.nodeName).length === 1 && j.status?.phase === "Admitted"
        ? j
        : undefined;
    });
    await Promise.race([first.manager.stop(), new Promise((r) => setTimeout(r, 3000))]);
    // While no operator runs, someone binds a pod by hand onto the devices planned for the
    // unbound replica.
    const bound = new Set((await h.boundPods("victim")).map((p) => p.metadata.name));
    const pending = admitted.status?.replicas?.find((r) => !bound.has(r.name));
    expect(pending).to.not.equal(undefined);
    await ctx.client.create(Resources.Pod, {
      metadata: {
        name: "squatter",
        namespace: ctx.namespace,
        annotations: { "ai.centaurus.io/gpu-devices": (pending?.devices ?? []).join(",") },
      },
      spec: {
        schedulerName: SCHEDULER_NAME,
        nodeName: pending?.node,
        containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "8" } } }],
      },
    });
    const second = await newManager(ctx.client);
    try {
      await waitFor("a GangRolledBack event on the job", async () => {
        const events = await ctx.client.list<{
          metadata: object;
          reason?: string;
          regarding?: { name?: string };
        }>(Resources.Event, { namespace: ctx.namespace });
        return (
          events.items.some((e) => e.reason === "GangRolledBack" && e.regarding?.name === "victim") ||
          undefined
        );
      });
      // No replica of the gang stays bound beside the squatter: the gang is all or nothing.
      await waitFor("the gang to be undone or waiting", async () => {
        const j = await h.get("victim");
        const b = await h.boundPods("victim");
        return (
          (b.length === 0 && j.status?.phase === "Pending") ||
          (b.length === 2 && j.status?.phase === "Running") ||
          undefined
        );
      });
      await assertNoDeviceOverCommitted(ctx.client);
    } finally {
      await second.manager.stop();
      await ctx.client.delete(Resources.Pod, "squatter", ctx.namespace);
    }
  });
});
