// The operator is killed in the middle of each flow (its connections cut, in-flight
// reconciles dropped) and a new one started: it converges, nothing is duplicated or lost.

import { expect } from "chai";
import { type VirtualMachine, VirtualMachineResource } from "../../controllers/compute/api.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import { type Tenant, TenantLedgerResource, TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { TenantLedger } from "../../controllers/tenancy/ledger.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { installModules, startManager, vm, waitGone, waitReady } from "../fixtures/tenancy.ts";

const modules = [tenancyModule, computeModule];

describe("tenancy and compute: operator restarted mid-flow", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let running: { manager: Manager; client: KubeClient } | undefined;

  const start = async () => {
    const client = await cluster.clientFor();
    running = { manager: await startManager(client, modules), client };
  };
  /** A crash: connections cut first (in-flight writes fail), then the workers stop. */
  const crash = async () => {
    if (!running) return;
    running.client.close();
    await running.manager.stop().catch(() => undefined);
    running = undefined;
  };

  before(async () => {
    cluster = testCluster();
    admin = await cluster.clientFor();
    await installModules(admin, modules);
  });
  afterEach(async () => {
    if (!running) await start();
  });
  after(async () => {
    await crash();
    admin.close();
  });

  const countByTenant = async (t: string) => {
    const sel = { labelSelector: `tenancy.centaurus.io/tenant=${t}` };
    const nss = (await admin.list(Resources.Namespace, sel)).items;
    const per = async (rt: ResourceType) => {
      const counts: number[] = [];
      for (const ns of nss)
        counts.push((await admin.list(rt, { ...sel, namespace: ns.metadata.name })).items.length);
      return counts;
    };
    return {
      namespaces: nss.length,
      roles: await per(Resources.Role),
      bindings: await per(Resources.RoleBinding),
      policies: await per(Resources.NetworkPolicy),
      quotas: await per(Resources.ResourceQuota),
      ledgers: (await admin.list(TenantLedgerResource, sel)).items.length,
    };
  };

  it("tenant provisioning: converges to exactly one of everything", async () => {
    await start();
    const name = uniqueName("rs");
    await admin.create(TenantResource, {
      metadata: { name },
      spec: {
        namespaces: ["a", "b", "c", "d", "e", "f"],
        quota: { pods: 14 },
        admins: [{ kind: "User", name: "tenant-a-admin" }],
      },
    } as Tenant);
    await waitFor(
      "the first namespace",
      async () =>
        (await admin.list(Resources.Namespace, { labelSelector: `tenancy.centaurus.io/tenant=${name}` }))
          .items.length > 0,
      { intervalMs: 10 },
    );
    await crash();
    await start();
    const t = await waitReady(admin, name);
    expect(t.status?.namespaces).to.have.length(7);
    expect(t.metadata.finalizers?.filter((f) => f === "tenancy.centaurus.io/cleanup")).to.have.length(1);
    const c = await countByTenant(name);
    expect(c).to.deep.equal({
      namespaces: 7,
      // tenant-admin, tenant-member and tenant-viewer, each bound once, in every namespace.
      roles: [3, 3, 3, 3, 3, 3, 3],
      bindings: [3, 3, 3, 3, 3, 3, 3],
      policies: [1, 1, 1, 1, 1, 1, 1],
      quotas: [0, 0, 0, 0, 0, 0, 0],
      ledgers: 1,
    });
    const ledger = await admin.get<TenantLedger>(TenantLedgerResource, name);
    expect(ledger.spec.charges ?? {}).to.deep.equal({});
    expect(t.status?.hard).to.deep.equal({ pods: "14" });
    await admin.delete(TenantResource, name);
    await waitGone("the tenant", () => admin.get(TenantResource, name), 90_000);
  });

  it("VMs: start and reboot interrupted; one launcher each, each reboot counted once", async () => {
    await start();
    const name = uniqueName("rv");
    await admin.create(TenantResource, { metadata: { name }, spec: {} } as Tenant);
    const ns = `${name}-default`;
    await waitFor("the namespace", () => admin.get(Resources.Namespace, ns));
    const names = ["v1", "v2", "v3"];
    for (const n of names) await admin.create(VirtualMachineResource, vm(n, ns));
    await waitFor(
      "a launcher",
      async () => (await admin.list(Resources.Pod, { namespace: ns })).items.length > 0,
      { intervalMs: 10 },
    );
    await crash();
    await start();
    const allRunning = async (check?: (v: VirtualMachine) => boolean) =>
      waitFor("every VM Running", async () => {
        const vms = (await admin.list<VirtualMachine>(VirtualMachineResource, { namespace: ns })).items;
        return vms.length === 3 && vms.every((v) => v.status?.phase === "Running" && (!check || check(v)))
          ? vms
          : undefined;
      });
    await allRunning();
    const pods1 = (await admin.list<Pod>(Resources.Pod, { namespace: ns })).items;
    expect(pods1.map((p) => p.metadata.name).sort()).to.deep.equal([
      "v1-launcher",
      "v2-launcher",
      "v3-launcher",
    ]);

    for (const n of names) {
      await admin.patch(VirtualMachineResource, n, ns, "merge", {
        spec: { rebootRequestedAt: "2026-11-27T00:00:00Z" },
      });
    }
    await waitFor(
      "a reboot to be under way",
      async () =>
        (await admin.list<VirtualMachine>(VirtualMachineResource, { namespace: ns })).items.some(
          (v) => v.status?.observedRebootRequest,
        ),
      { intervalMs: 10 },
    );
    await crash();
    await start();
    const vms = await allRunning(
      (v) => v.status?.observedRebootRequest === "2026-11-27T00:00:00Z" && !v.status.rebootingPodUID,
    );
    expect(vms.map((v) => v.status?.restartCount)).to.deep.equal([1, 1, 1]);
    const pods2 = await waitFor("three fresh launchers", async () => {
      const ps = (await admin.list<Pod>(Resources.Pod, { namespace: ns })).items.filter(
        (p) => !p.metadata.deletionTimestamp,
      );
      return ps.length === 3 && ps.every((p) => !pods1.some((o) => o.metadata.uid === p.metadata.uid))
        ? ps
        : undefined;
    });
    expect(pods2).to.have.length(3);
    await admin.delete(TenantResource, name);
    await waitGone("the tenant", () => admin.get(TenantResource, name), 90_000);
  });

  it("deletion interrupted: a new operator finishes it once the foreign finalizer is released", async () => {
    await start();
    const name = uniqueName("rd");
    await admin.create(TenantResource, { metadata: { name }, spec: { namespaces: ["x"] } } as Tenant);
    await waitReady(admin, name);
    const ns = `${name}-x`;
    await admin.create(Resources.ConfigMap, {
      metadata: { name: "held", namespace: ns, finalizers: ["example.com/hold"] },
    });
    await admin.delete(TenantResource, name);
    await waitFor(
      "Terminating",
      async () => (await admin.get<Tenant>(TenantResource, name)).status?.phase === "Terminating",
    );
    await crash();
    await admin.patch(Resources.ConfigMap, "held", ns, "json", [
      { op: "remove", path: "/metadata/finalizers" },
    ]);
    await start();
    await waitGone("the tenant", () => admin.get(TenantResource, name), 90_000);
    expect(
      (await admin.list(Resources.Namespace, { labelSelector: `tenancy.centaurus.io/tenant=${name}` })).items,
    ).to.have.length(0);
  });
});
