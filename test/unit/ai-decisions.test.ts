// The ai pillar's pure decisions, each tested directly: accounting, validation, lifecycle,
// admission and growth planning, job and queue status, and the lean node transform.

import { expect } from "chai";
import fc from "fast-check";
import {
  accountPod,
  queueDominantShares,
  queueInfos,
  queueLoad,
  runningJobs,
  unitsFreeingSoon,
  unitsHeld,
} from "../../controllers/ai/accounting.ts";
import {
  evictionVictims,
  mayGrowNow,
  planAdmission,
  planAssignment,
  planGrowth,
} from "../../controllers/ai/admission.ts";
import type { GPUJob, GPUJobSpec, GPUQueue } from "../../controllers/ai/api.ts";
import { leanNode } from "../../controllers/ai/informers.ts";
import {
  describeRequest,
  jobStatus,
  queueStatus,
  replicasOf,
  waitingPhase,
} from "../../controllers/ai/job-status.ts";
import { nextStep, sortPods } from "../../controllers/ai/lifecycle.ts";
import type { NodeLike, PodLike } from "../../controllers/ai/objects.ts";
import { GpuCluster } from "../../controllers/ai/placement.ts";
import { InvalidJobError, validateJob } from "../../controllers/ai/validation.ts";
import { TerminalError } from "../../pkg/controller/controller.ts";
import { statusDiffers } from "../../pkg/status/status-writer.ts";

const job = (spec: Partial<GPUJobSpec> = {}, status?: GPUJob["status"]): GPUJob => ({
  apiVersion: "ai.centaurus.io/v1alpha1",
  kind: "GPUJob",
  metadata: {
    name: "train",
    namespace: "ml",
    uid: "u",
    generation: 2,
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: {
    queue: "q",
    gpus: 1,
    replicas: { min: 1, max: 1 },
    template: { spec: { containers: [] } },
    ...spec,
  },
  status,
});
const queue = (name: string, spec: Partial<GPUQueue["spec"]> = {}): GPUQueue => ({
  metadata: { name },
  spec: { owner: { kind: "Team", name: "ml" }, ...spec },
});
const pod = (
  name: string,
  opts: { node?: string; devices?: string; phase?: string; replica?: number } = {},
): PodLike => ({
  metadata: {
    name,
    namespace: "ml",
    uid: `uid-${name}`,
    labels: opts.replica === undefined ? {} : { "ai.centaurus.io/replica": String(opts.replica) },
    annotations: opts.devices ? { "ai.centaurus.io/gpu-devices": opts.devices } : {},
  },
  spec: {
    nodeName: opts.node,
    containers: [{ name: "c", resources: { limits: { "nvidia.com/gpu": "1" } } }],
  },
  status: { phase: opts.phase ?? "Running" },
});
function cluster(nodes: number, count = 8): GpuCluster {
  const c = new GpuCluster();
  for (let i = 0; i < nodes; i++) c.upsertNode({ name: `n${i}`, count, memoryMiB: 81920, model: "A100" });
  return c;
}
const capacity = { totalUnits: 16, maxDevicesPerNode: 8, maxDeviceMemoryMiB: 81920 };

describe("ai accounting", () => {
  it("counts whole devices and shares as GPU units", () => {
    expect(unitsHeld({ node: "n", devices: [0, 1, 2] })).to.equal(3);
    expect(unitsHeld({ node: "n", devices: [0], share: { computePercent: 25, memoryMiB: 0 } })).to.equal(
      0.25,
    );
  });

  it("holds a bound pod's devices on a placeholder until its node is known, and the API server wins a clash", () => {
    const c = new GpuCluster();
    const placeholders = new Set<string>();
    expect(accountPod(c, placeholders, "ml/a", "u1", { node: "late", devices: [5] }, {})).to.equal(undefined);
    expect(placeholders.has("late")).to.equal(true);
    expect(c.nodeInfo("late")?.count).to.equal(6);
    expect(c.nodeInfo("late")?.schedulable).to.equal(false);
    // Our own reservation under other devices loses to what the pod records.
    c.upsertNode({ name: "n0", count: 8, memoryMiB: 1, model: "x" });
    c.allocate("ml/b", { node: "n0", devices: [0] }, {});
    expect(accountPod(c, placeholders, "ml/b", "u2", { node: "n0", devices: [1] }, { uid: "u2" })).to.equal(
      undefined,
    );
    expect(c.holder("ml/b")?.assignment.devices).to.deep.equal([1]);
    // Another pod on the same device is an overlap.
    expect(accountPod(c, placeholders, "ml/c", "u3", { node: "n0", devices: [1] }, { uid: "u3" })).to.be.a(
      "string",
    );
  });

  it("adds waiting jobs' minimums to their queue's demand, not its use", () => {
    const c = cluster(1);
    c.allocate("ml/a", { node: "n0", devices: [0, 1] }, { queue: "q" });
    const load = queueLoad(c.allHolders(), [job({ gpus: 2, replicas: { min: 3, max: 3 } })]);
    expect(load.get("q")).to.deep.equal({ used: 2, demand: 8 });
  });

  it("reads queue settings with their defaults", () => {
    expect(queueInfos([queue("a")])).to.deep.equal([
      { name: "a", weight: 1, guaranteedGPUs: 0, maxGPUs: undefined, lendIdle: true },
    ]);
  });

  it("weighs a queue by its dominant resource", () => {
    const c = cluster(1);
    c.allocate("ml/a", { node: "n0", devices: [0, 1, 2, 3] }, { queue: "q", job: "ml/train" });
    const nodes: NodeLike[] = [
      { metadata: { name: "n0" }, status: { allocatable: { cpu: "8", memory: "8Gi" } } },
    ];
    const shares = queueDominantShares(
      c.allHolders(),
      8,
      nodes,
      () => undefined,
      queueInfos([queue("q", { weight: 2 })]),
    );
    expect(shares.get("q")).to.equal(0.25);
  });

  it("lists running jobs without the replicas being deleted", () => {
    const c = cluster(1);
    c.allocate("ml/a", { node: "n0", devices: [0] }, { job: "ml/train" });
    c.allocate("ml/b", { node: "n0", devices: [1] }, { job: "ml/train" });
    const running = runningJobs(c.allHolders(), new Set(["ml/b"]), () =>
      job({ replicas: { min: 1, max: 4 } }),
    );
    expect(running).to.have.length(1);
    expect(running[0]).to.include({ key: "ml/train", replicas: 1, minReplicas: 1, unitsPerReplica: 1 });
  });

  it("counts what terminating pods still hold, and which hold nothing", () => {
    const c = cluster(1);
    c.allocate("ml/a", { node: "n0", devices: [0, 1] }, {});
    expect(unitsFreeingSoon(c, ["ml/a", "ml/gone"])).to.deep.equal({ units: 2, stale: ["ml/gone"] });
  });
});

describe("ai validation", () => {
  it("accepts a job that fits", () => {
    expect(validateJob(job(), queue("q"), capacity)).to.equal(undefined);
  });
  it("names what is wrong and what to do", () => {
    expect(validateJob(job(), undefined, capacity)?.reason).to.equal("QueueNotFound");
    expect(validateJob(job({ replicas: { min: 3, max: 2 } }), queue("q"), capacity)?.reason).to.equal(
      "InvalidReplicas",
    );
    expect(validateJob(job(), queue("q"), { ...capacity, totalUnits: 0 })?.reason).to.equal("NoGPUNodes");
    expect(validateJob(job({ gpus: 16 }), queue("q"), capacity)?.message).to.match(/no node has more than 8/);
    const frac = (computePercent: number, memoryMiB: number) =>
      job({ gpus: undefined, gpuFraction: { computePercent, memoryMiB } });
    expect(validateJob(frac(0, 1), queue("q"), capacity)?.reason).to.equal("InvalidFraction");
    expect(validateJob(frac(10, 200_000), queue("q"), capacity)?.reason).to.equal("FractionTooLarge");
    expect(
      validateJob(job({ gpus: 4, replicas: { min: 2, max: 2 } }), queue("q", { maxGPUs: 4 }), capacity)
        ?.reason,
    ).to.equal("ExceedsQueueMax");
  });
  it("is a terminal error when the spec cannot run: not retried, reason kept for the status", () => {
    const err = new InvalidJobError("QueueNotFound", "GPUQueue q does not exist");
    expect(err).to.be.instanceOf(TerminalError);
    expect(err.reason).to.equal("QueueNotFound");
  });
  it("property: a job whose minimum fits the queue max and the nodes is valid", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), (gpus, min) => {
        const j = job({ gpus, replicas: { min, max: min } });
        expect(validateJob(j, queue("q", { maxGPUs: gpus * min }), capacity)).to.equal(undefined);
      }),
    );
  });
});

describe("ai lifecycle", () => {
  const valid = () => undefined;
  it("sorts pods into active, succeeded and failed", () => {
    const s = sortPods([pod("a"), pod("b", { phase: "Succeeded" }), pod("c", { phase: "Failed" })]);
    expect([s.active.length, s.succeeded.length, s.failed.length]).to.deep.equal([1, 1, 1]);
  });
  it("finishes, fails and succeeds", () => {
    expect(nextStep(job({}, { phase: "Succeeded" }), [], valid).kind).to.equal("finished");
    expect(nextStep(job({}, { phase: "Running" }), [pod("a", { phase: "Failed" })], valid)).to.include({
      kind: "fail",
      failedPod: "a",
    });
    expect(nextStep(job({}, { phase: "Running" }), [pod("a", { phase: "Succeeded" })], valid)).to.deep.equal({
      kind: "succeed",
      succeeded: 1,
    });
  });
  it("completes a recorded plan before validating anything", () => {
    const j = job({}, { phase: "Admitted", replicas: [{ name: "r", node: "n0", devices: [0] }] });
    expect(nextStep(j, [], () => ({ reason: "X", message: "m" })).kind).to.equal("complete-plan");
  });
  it("reports an invalid spec, restarts leftovers, admits, waits", () => {
    expect(nextStep(job(), [], () => ({ reason: "X", message: "m" })).kind).to.equal("invalid");
    expect(nextStep(job({}, { phase: "Pending" }), [pod("a")], valid).kind).to.equal("restart-leftovers");
    expect(nextStep(job({}, { phase: "Pending" }), [], valid).kind).to.equal("admit");
    expect(nextStep(job({}, { phase: "Running" }), [pod("a")], valid).kind).to.equal("wait");
  });
  it("runs: below min and may grow", () => {
    const j = job({ replicas: { min: 2, max: 4 } }, { phase: "Running" });
    expect(nextStep(j, [pod("a", { node: "n0" })], valid)).to.include({
      kind: "running",
      belowMin: true,
      mayGrow: true,
    });
  });
});

describe("ai admission and growth planning", () => {
  const input = (j: GPUJob, c: GpuCluster, extra: Partial<Parameters<typeof planAdmission>[0]> = {}) => {
    const queues = queueInfos([queue("q")]);
    return {
      job: j,
      cluster: c,
      queues,
      load: queueLoad(c.allHolders(), []),
      ranked: [],
      freeingSoon: 0,
      running: () => runningJobs(c.allHolders(), new Set(), () => job({ priority: 0 })),
      replicaName: (i: number) => `train-${i}-x`,
      ...extra,
    };
  };
  it("places a gang and its elastic extras up to max", () => {
    const c = cluster(1);
    const d = planAdmission(input(job({ gpus: 2, replicas: { min: 2, max: 3 } }), c));
    expect(d.kind).to.equal("placed");
    if (d.kind === "placed")
      expect([...d.placed.keys()]).to.deep.equal(["ml/train-0-x", "ml/train-1-x", "ml/train-2-x"]);
    expect(c.freeUnits()).to.equal(2);
  });
  it("queues behind a higher-priority waiting job", () => {
    const ahead = { key: "ml/top", priority: 9, queue: "q", createdAt: 0 };
    const d = planAdmission(input(job(), cluster(1), { ranked: [ahead] }));
    expect(d).to.deep.equal({ kind: "behind", ahead });
  });
  it("waits for GPUs it cannot get, or for evictions under way", () => {
    const c = cluster(1);
    c.allocate(
      "other/a",
      { node: "n0", devices: [0, 1, 2, 3, 4, 5, 6, 7] },
      { queue: "q", job: "other/a", priority: 5 },
    );
    const d = planAdmission(input(job({ gpus: 2 }), c));
    expect(d).to.include({ kind: "wait", reason: "InsufficientGPUs", parked: false });
    expect(planAdmission(input(job({ gpus: 2 }), c, { freeingSoon: 8 })).kind).to.equal(
      "wait-for-preemption",
    );
  });
  it("evicts a lower-priority job of its own queue", () => {
    const c = cluster(1);
    c.allocate(
      "ml/low",
      { node: "n0", devices: [0, 1, 2, 3, 4, 5, 6, 7] },
      { queue: "q", job: "ml/low", priority: 1 },
    );
    const d = planAdmission(
      input(job({ gpus: 8, priority: 10 }), c, {
        running: () => [
          {
            key: "ml/low",
            queue: "q",
            priority: 1,
            replicas: 1,
            minReplicas: 1,
            unitsPerReplica: 8,
            startedAt: 0,
          },
        ],
      }),
    );
    expect(d.kind).to.equal("evict");
    if (d.kind === "evict") expect(d.evictions[0]).to.include({ key: "ml/low", preempt: true });
  });
  it("grows into free GPUs, filling replica index gaps", () => {
    const c = cluster(1);
    const j = job({ gpus: 1, replicas: { min: 1, max: 4 } });
    expect(mayGrowNow(j, c)).to.equal(true);
    const plan = planGrowth(
      j,
      [pod("a", { replica: 1 })],
      c,
      queueInfos([queue("q")]),
      new Map(),
      (i) => `r${i}`,
    );
    expect(plan.map((r) => r.name)).to.deep.equal(["r0", "r2", "r3"]);
    expect(c.freeUnits()).to.equal(5);
  });
  it("property: planning never over-commits a device", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gpus: fc.integer({ min: 1, max: 8 }), min: fc.integer({ min: 1, max: 3 }) }), {
          maxLength: 8,
        }),
        (jobs) => {
          const c = cluster(2);
          for (const [i, s] of jobs.entries()) {
            const j = { ...job({ gpus: s.gpus, replicas: { min: s.min, max: s.min + 1 } }) };
            j.metadata = { ...j.metadata, name: `j${i}` };
            planAdmission(input(j, c, { replicaName: (k) => `j${i}-${k}` }));
          }
          expect(c.freeUnits()).to.be.at.least(0);
          for (const n of c.nodeNames())
            for (const d of c.devicesOf(n)) expect(d.computeUsed).to.be.at.most(100);
        },
      ),
    );
  });
  it("reads a recorded replica back as an assignment, with the job's share", () => {
    const frac = job({ gpus: undefined, gpuFraction: { computePercent: 30, memoryMiB: 10 } });
    expect(planAssignment(frac, { name: "r", node: "n0", devices: [2] })).to.deep.equal({
      node: "n0",
      devices: [2],
      share: { computePercent: 30, memoryMiB: 10 },
    });
  });
  it("evicts the highest-numbered replicas when shrinking, all when preempting", () => {
    const pods = [pod("a", { replica: 0 }), pod("b", { replica: 2 }), pod("c", { replica: 1 })];
    const e = { key: "k", replicas: 2, preempt: false, reason: "ElasticShrink" as const };
    expect(evictionVictims(pods, e).map((p) => p.metadata.name)).to.deep.equal(["b", "c"]);
    expect(evictionVictims(pods, { ...e, preempt: true })).to.have.length(3);
  });
});

describe("ai job and queue status", () => {
  it("sets phase, Ready and Admitted, and drops undefined fields", () => {
    const s = jobStatus(
      job(),
      "Running",
      { type: "Ready", status: "True", reason: "Running", message: "ok" },
      {
        currentReplicas: 2,
        targetReplicas: undefined,
      },
    );
    expect(s).to.include({ phase: "Running", observedGeneration: 2, currentReplicas: 2 });
    expect("targetReplicas" in s).to.equal(false);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).to.deep.equal([
      ["Ready", "True", "Running"],
      ["Admitted", "True", "Admitted"],
    ]);
    const failed = jobStatus(job(), "Failed", {
      type: "Ready",
      status: "False",
      reason: "PodFailed",
      message: "x",
    });
    expect(failed.conditions?.map((c) => c.type)).to.deep.equal(["Ready"]);
  });
  it("keeps Preempted while waiting", () => {
    expect(waitingPhase(job({}, { phase: "Preempted" }))).to.equal("Preempted");
    expect(waitingPhase(job({}, { phase: "Running" }))).to.equal("Pending");
  });
  it("records bound pods' placements by name", () => {
    const r = replicasOf([
      pod("b", { node: "n1", devices: "1" }),
      pod("a", { node: "n0", devices: "0,1" }),
      pod("c"),
    ]);
    expect(r).to.deep.equal([
      { name: "a", node: "n0", devices: [0, 1] },
      { name: "b", node: "n1", devices: [1] },
    ]);
  });
  it("describes requests", () => {
    expect(describeRequest({ kind: "whole", count: 2 })).to.equal("2 GPU(s) each");
  });
  it("shows a queue's figures and writes only when they change", () => {
    const q = queue("q");
    const jobs = [job({}, { phase: "Running" }), job({}, { phase: "Pending" })];
    const s = queueStatus(q, 2.456, 3, jobs, (j) => j.status?.phase === "Pending");
    expect(s).to.include({ allocatedGPUs: 2.46, deservedGPUs: 3, runningJobs: 1, waitingJobs: 1 });
    // What StatusWriter compares: a fresh status differs from none, the same one again does not.
    expect(statusDiffers(undefined, { ...s })).to.equal(true);
    expect(statusDiffers({ ...s }, { ...s })).to.equal(false);
  });
});

describe("ai informers", () => {
  it("keeps only what the scheduler reads of a node", () => {
    const n = leanNode({
      metadata: { name: "n", labels: { "nvidia.com/gpu.count": "8", other: "x" } },
      status: {
        allocatable: { "nvidia.com/gpu": "8", cpu: "4", pods: "110" },
        conditions: [
          { type: "Ready", status: "True" },
          { type: "MemoryPressure", status: "False" },
        ],
      },
    });
    expect(n.metadata.labels).to.deep.equal({ "nvidia.com/gpu.count": "8" });
    expect(n.status?.allocatable).to.deep.equal({ "nvidia.com/gpu": "8", cpu: "4" });
    expect(n.status?.conditions).to.have.length(1);
  });
});
