// A quota race on GPUs: 50 GPUJobs created at once by two tenants' admins (their own tokens),
// each on its tenant's own queue, against tenant GPU quotas of 3 and 5. Whole GPUs held by the
// tenant's pods never pass its quota at any sample, a gang is all or nothing, each tenant ends
// up using its quota in full, and once its running jobs go, waiting ones use it in full again.

import { expect } from "chai";
import { type GPUJob, GPUJobs, type GPUQueue, GPUQueues } from "../../controllers/ai/api.ts";
import { aiModule } from "../../controllers/ai/index.ts";
import type { PodLike } from "../../controllers/ai/objects.ts";
import { type Tenant, TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { installModules, startManager, waitGone, waitReady } from "../fixtures/tenancy.ts";

const MODULES = [tenancyModule, aiModule];
const TEMPLATE = { spec: { containers: [{ name: "train", image: "registry.example/train:1" }] } };

describe("tenancy: GPU quota under a race of two tenants", function () {
  this.timeout(240_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let manager: Manager;
  const tenants = [
    { name: uniqueName("ga"), user: "tenant-a-admin", quota: 3 },
    { name: uniqueName("gb"), user: "tenant-b-admin", quota: 5 },
  ];
  const ns = (t: string) => `${t}-default`;

  before(async () => {
    cluster = testCluster();
    admin = await cluster.clientFor();
    await installModules(admin, MODULES);
    manager = await startManager(admin, MODULES);
    for (const t of tenants) {
      await admin.create(TenantResource, {
        metadata: { name: t.name },
        spec: { admins: [{ kind: "User", name: t.user }], quota: { "nvidia.com/gpu": t.quota } },
      } as Tenant);
      await admin.create<GPUQueue>(GPUQueues, {
        metadata: { name: `${t.name}-q` },
        spec: { owner: { kind: "Tenant", name: t.name } },
      } as GPUQueue);
    }
    for (const t of tenants) {
      await waitReady(admin, t.name);
      await waitFor(`${t.name}'s namespace to list its queue`, async () => {
        const n = await admin.get(Resources.Namespace, ns(t.name));
        return n.metadata.annotations?.["ai.centaurus.io/allowed-queues"] === `${t.name}-q`;
      });
    }
  });
  // The suite's timeout covers the hook (a this.timeout() here could reach the last test's timer).
  after(async () => {
    for (const t of tenants) {
      await admin.delete(GPUQueues, `${t.name}-q`).catch(() => undefined);
      await admin.delete(TenantResource, t.name).catch(() => undefined);
    }
    for (const t of tenants)
      await waitGone(`tenant ${t.name}`, () => admin.get(TenantResource, t.name), 90_000);
    await manager?.stop();
    admin?.close();
  });

  /**
   * Whole GPUs requested by the tenant's live pods, and the jobs with a bound pod. A pod being
   * deleted is not counted (the quota frees it too; kwok removes it a moment later).
   */
  const held = async (t: string) => {
    const pods = (await admin.list<PodLike>(Resources.Pod, { namespace: ns(t) })).items.filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed",
    );
    const gpus = pods.reduce(
      (s, p) => s + Number(p.spec?.containers?.[0]?.resources?.requests?.["nvidia.com/gpu"] ?? 0),
      0,
    );
    const running = new Set(
      pods.filter((p) => p.spec?.nodeName).map((p) => p.metadata.labels?.["ai.centaurus.io/job"] ?? ""),
    );
    return { gpus, running };
  };

  it("50 concurrent jobs never pass either quota, and each tenant uses its quota in full, twice", async () => {
    const clients = await Promise.all(tenants.map((t) => cluster.clientFor(t.user)));
    let sampling = true;
    const peaks = tenants.map(() => 0);
    const sampler = (async () => {
      for (let i = 0; sampling && i < 5_000; i++) {
        for (const [k, t] of tenants.entries()) peaks[k] = Math.max(peaks[k] ?? 0, (await held(t.name)).gpus);
      }
    })();
    const creates = Array.from({ length: 50 }, (_, i) => {
      const k = i % 2;
      const t = tenants[k] as (typeof tenants)[number];
      return (clients[k] as KubeClient).create<GPUJob>(GPUJobs, {
        metadata: { name: `race-${i}`, namespace: ns(t.name) },
        spec: { queue: `${t.name}-q`, gpus: 1, replicas: { min: 1, max: 1 }, template: TEMPLATE },
      } as GPUJob);
    });
    const results = await Promise.allSettled(creates);
    expect(results.filter((r) => r.status === "rejected").map((r) => String(r.reason))).to.deep.equal([]);
    try {
      for (const [k, t] of tenants.entries()) {
        await waitFor(
          `${t.name} to use its ${t.quota} GPUs`,
          async () => (await held(t.name)).running.size === t.quota,
          {
            timeoutMs: 90_000,
          },
        );
        // The running jobs go; waiting ones take the quota in full again.
        const first = (await held(t.name)).running;
        for (const job of first) await (clients[k] as KubeClient).delete(GPUJobs, job, ns(t.name));
        await waitFor(
          `${t.name} to use its ${t.quota} GPUs again with other jobs`,
          async () => {
            const now = (await held(t.name)).running;
            return now.size === t.quota && [...now].every((j) => !first.has(j));
          },
          { timeoutMs: 90_000 },
        );
      }
    } finally {
      sampling = false;
      await sampler;
      for (const c of clients) c.close();
    }
    expect(peaks, "most GPUs a tenant's pods held at any sample").to.deep.equal(tenants.map((t) => t.quota));
    for (const t of tenants) {
      const got = await admin.get<Tenant>(TenantResource, t.name);
      expect(Number(got.status?.used?.["nvidia.com/gpu"] ?? 0)).to.be.at.most(t.quota);
    }
  });

  it("GPU shares count against the tenant's GPU compute quota: a gang over it is rolled back whole, one within it runs", async () => {
    const name = uniqueName("gf");
    await admin.create(TenantResource, {
      metadata: { name },
      spec: { quota: { "ai.centaurus.io/gpu-compute": "500m", "ai.centaurus.io/gpu-memory": "4Gi" } },
    } as Tenant);
    await admin.create<GPUQueue>(GPUQueues, {
      metadata: { name: `${name}-q` },
      spec: { owner: { kind: "Tenant", name } },
    } as GPUQueue);
    try {
      await waitReady(admin, name);
      await waitFor(`${name}'s namespace to list its queue`, async () => {
        const n = await admin.get(Resources.Namespace, ns(name));
        return n.metadata.annotations?.["ai.centaurus.io/allowed-queues"] === `${name}-q`;
      });
      const job = (jobName: string, min: number) =>
        admin.create<GPUJob>(GPUJobs, {
          metadata: { name: jobName, namespace: ns(name) },
          spec: {
            queue: `${name}-q`,
            gpuFraction: { computePercent: 30, memoryMiB: 1024 },
            replicas: { min, max: min },
            template: TEMPLATE,
          },
        } as GPUJob);
      // Two 30% replicas need 600m of the 500m: the second pod is refused, the gang rolled back.
      await job("pair", 2);
      const refused = await waitFor("the pair to be refused by the tenant's quota", async () => {
        const j = await admin.get<GPUJob>(GPUJobs, "pair", ns(name));
        const ready = j.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.reason === "QuotaExceeded" ? ready : undefined;
      });
      expect(refused.message).to.match(
        /exceeded quota: tenant-.*-quota, requested: ai.centaurus.io\/gpu-compute=300m/,
      );
      await admin.delete(GPUJobs, "pair", ns(name));
      await waitFor("the pair's pods and charges to go", async () => {
        const t = await admin.get<Tenant>(TenantResource, name);
        const pods = (await admin.list(Resources.Pod, { namespace: ns(name) })).items;
        return pods.length === 0 && (t.status?.used?.["ai.centaurus.io/gpu-compute"] ?? "0") === "0";
      });
      // One 30% replica fits, and the tenant's status counts its share.
      await job("single", 1);
      await waitFor("the single replica to run", async () => {
        const j = await admin.get<GPUJob>(GPUJobs, "single", ns(name));
        return j.status?.phase === "Running";
      });
      const t = await waitFor("the tenant to count the share", async () => {
        const got = await admin.get<Tenant>(TenantResource, name);
        return got.status?.used?.["ai.centaurus.io/gpu-compute"] === "300m" ? got : undefined;
      });
      expect(t.status?.used?.["ai.centaurus.io/gpu-memory"]).to.equal(String(1024 * 1024 * 1024));
    } finally {
      await admin.delete(GPUQueues, `${name}-q`).catch(() => undefined);
      await admin.delete(TenantResource, name).catch(() => undefined);
      await waitGone(`tenant ${name}`, () => admin.get(TenantResource, name), 90_000);
    }
  });
});
