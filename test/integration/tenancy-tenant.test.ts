// Tenants against a real API server with RBAC: namespaces, isolation (a can-i matrix and real
// requests made with the users' own tokens), the tenant-wide quota (also under racing creates)
// and deletion that reports what it waits for.

import { expect } from "chai";
import { type Tenant, TenantLedgerResource, TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { TenantLedger } from "../../controllers/tenancy/ledger.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  canI,
  codeOf,
  errorOf,
  installModules,
  pod,
  startManager,
  waitGone,
  waitReady,
} from "../fixtures/tenancy.ts";

const Deployment: ResourceType = {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
};

function deployment(name: string, namespace: string): KubeObject {
  return {
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  } as KubeObject;
}

describe("tenancy: Tenant", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let manager: Manager;
  const created: string[] = [];

  const makeTenant = async (spec: Tenant["spec"], prefix = "tn"): Promise<string> => {
    const name = uniqueName(prefix);
    created.push(name);
    await admin.create(TenantResource, { metadata: { name }, spec } as Tenant);
    return name;
  };

  before(async () => {
    cluster = testCluster();
    admin = await cluster.clientFor();
    await installModules(admin, [tenancyModule]);
    manager = await startManager(admin, [tenancyModule]);
  });
  after(async () => {
    for (const name of created) await admin.delete(TenantResource, name);
    for (const name of created)
      await waitGone(`tenant ${name}`, () => admin.get(TenantResource, name), 90_000);
    await manager.stop();
    admin.close();
  });

  it("creates labelled namespaces, the admin role, isolation policy and quota, and reports Ready", async () => {
    const name = await makeTenant({
      admins: [{ kind: "User", name: "tenant-a-admin" }],
      namespaces: ["web", "data"],
      quota: { pods: 9, cpu: "6", memory: "12Gi", virtualmachines: 3 },
      network: { vpcCIDR: "10.20.0.0/16" },
    });
    const t = await waitReady(admin, name);
    expect(t.status?.phase).to.equal("Active");
    expect(t.status?.namespaces).to.deep.equal([`${name}-data`, `${name}-default`, `${name}-web`]);
    expect(t.status?.hard).to.deep.equal({
      pods: "9",
      cpu: "6",
      memory: "12884901888",
      virtualmachines: "3",
    });
    expect(t.status?.used).to.include({ pods: "0", virtualmachines: "0" });
    expect(t.metadata.finalizers).to.include("tenancy.centaurus.io/cleanup");
    for (const ns of t.status?.namespaces ?? []) {
      const n = await admin.get(Resources.Namespace, ns);
      expect(n.metadata.labels).to.include({ "tenancy.centaurus.io/tenant": name });
      expect(n.metadata.ownerReferences?.[0]).to.include({ kind: "Tenant", name });
      const rb = await admin.get<KubeObject & { subjects?: Array<{ name: string }> }>(
        Resources.RoleBinding,
        "tenant-admin",
        ns,
      );
      expect(rb.subjects?.map((s) => s.name)).to.deep.equal(["tenant-a-admin"]);
      const np = await admin.get<KubeObject & { spec: { ingress: unknown } }>(
        Resources.NetworkPolicy,
        "tenant-isolation",
        ns,
      );
      expect(JSON.stringify(np.spec.ingress)).to.contain(name);
      // No per-namespace quota: the tenant-wide ledger counts (and admission enforces) it.
      expect((await admin.list(Resources.ResourceQuota, { namespace: ns })).items).to.deep.equal([]);
    }
    const ledger = await admin.get<TenantLedger>(TenantLedgerResource, name);
    expect(ledger.metadata.labels).to.include({ "tenancy.centaurus.io/tenant": name });
    expect(ledger.metadata.ownerReferences?.[0]).to.include({ kind: "Tenant", name });
  });

  it("Ready means counted: the ledger exists, so a create right after passes", async () => {
    for (let i = 0; i < 3; i++) {
      const name = await makeTenant(
        { namespaces: ["a", "b"], quota: { pods: 6, cpu: "3", memory: "3Gi" } },
        `tc${i}`,
      );
      const t = await waitReady(admin, name);
      // What `kubectl wait --for=condition=Ready tenant/x && kubectl create ...` does: no refusal.
      for (const ns of t.status?.namespaces ?? []) await admin.create(Resources.Pod, pod("first", ns));
    }
  });

  it("refuses a quota key the ledger does not count, naming those it does", async () => {
    const msg = await errorOf(
      admin.create(TenantResource, {
        metadata: { name: uniqueName("tk") },
        spec: { quota: { "count/configmaps": 30 } },
      } as Tenant),
    );
    expect(msg).to.match(/quota keys are cpu, memory, .*virtualmachines/);
  });

  it("isolation: a can-i matrix and real requests with the users' own tokens", async () => {
    const a = await makeTenant(
      { admins: [{ kind: "User", name: "tenant-a-admin" }], namespaces: ["web"] },
      "ta",
    );
    const b = await makeTenant({ admins: [{ kind: "Group", name: "tenant-b:admins" }] }, "tb");
    await waitReady(admin, a);
    await waitReady(admin, b);
    const users = {
      "tenant-a-admin": await cluster.clientFor("tenant-a-admin"),
      "tenant-b-admin": await cluster.clientFor("tenant-b-admin"),
      developer: await cluster.clientFor("developer"),
    };
    const aNs = `${a}-web`;
    const bNs = `${b}-default`;
    type Row = [string, string, { group?: string; namespace?: string; name?: string; subresource?: string }];
    const rows: Row[] = [
      ["create", "deployments", { group: "apps", namespace: aNs }],
      ["delete", "pods", { namespace: aNs }],
      ["create", "virtualmachines", { group: "compute.centaurus.io", namespace: aNs }],
      ["create", "secrets", { namespace: aNs }],
      ["create", "deployments", { group: "apps", namespace: bNs }],
      ["list", "pods", { namespace: bNs }],
      ["update", "resourcequotas", { namespace: aNs }],
      ["get", "resourcequotas", { namespace: aNs }],
      ["delete", "networkpolicies", { group: "networking.k8s.io", namespace: bNs }],
      ["get", "tenants", { group: "tenancy.centaurus.io", name: a }],
      ["patch", "tenants", { group: "tenancy.centaurus.io", name: a }],
      ["get", "tenants", { group: "tenancy.centaurus.io", name: b }],
      ["list", "tenants", { group: "tenancy.centaurus.io" }],
      ["delete", "tenants", { group: "tenancy.centaurus.io", name: a }],
      ["create", "namespaces", {}],
      ["list", "nodes", {}],
      ["create", "clusterroles", { group: "rbac.authorization.k8s.io" }],
    ];
    // Expected answers per user, in row order.
    const expected: Record<keyof typeof users, boolean[]> = {
      "tenant-a-admin": [
        true,
        true,
        true,
        true,
        false,
        false,
        false,
        true,
        false,
        true,
        true,
        false,
        false,
        false,
        false,
        false,
        false,
      ],
      "tenant-b-admin": [
        false,
        false,
        false,
        false,
        true,
        true,
        false,
        false,
        true,
        false,
        false,
        true,
        false,
        false,
        false,
        false,
        false,
      ],
      developer: new Array(rows.length).fill(false),
    };
    for (const [user, client] of Object.entries(users) as Array<[keyof typeof users, KubeClient]>) {
      const answers = await Promise.all(rows.map(([verb, res, o]) => canI(client, verb, res, o)));
      const table = rows.map((r, i) => `${r[0]} ${r[1]} ${JSON.stringify(r[2])} → ${answers[i]}`);
      const want = rows.map((r, i) => `${r[0]} ${r[1]} ${JSON.stringify(r[2])} → ${expected[user][i]}`);
      expect(table, `can-i matrix for ${user}`).to.deep.equal(want);
    }

    // Real requests.
    const ua = users["tenant-a-admin"];
    expect(await codeOf(ua.create(Deployment, deployment("web", aNs)))).to.equal(200);
    expect(await codeOf(ua.create(Deployment, deployment("web", bNs)))).to.equal(403);
    expect(await codeOf(ua.list(Resources.Pod, { namespace: bNs }))).to.equal(403);
    expect(await codeOf(ua.list(TenantResource))).to.equal(403);
    expect(await codeOf(ua.get(TenantResource, b))).to.equal(403);
    expect(await codeOf(ua.get(TenantResource, a))).to.equal(200);
    expect(
      await codeOf(ua.create(Resources.Namespace, { metadata: { name: uniqueName("sneaky") } })),
    ).to.equal(403);
    expect(await codeOf(ua.list(Resources.Node))).to.equal(403);
    // The ledger is the operator's alone: a tenant admin can neither read nor rewrite it.
    expect(await codeOf(ua.get(TenantLedgerResource, a))).to.equal(403);
    expect(
      await codeOf(ua.patch(TenantLedgerResource, a, undefined, "merge", { spec: { charges: {} } })),
    ).to.equal(403);
    // Tenant admins change their namespace list, but not their quota or admins (admission policy).
    expect(
      await codeOf(ua.patch(TenantResource, a, undefined, "merge", { spec: { namespaces: ["web", "api"] } })),
    ).to.equal(200);
    const quotaMsg = await errorOf(
      ua.patch(TenantResource, a, undefined, "merge", { spec: { quota: { pods: "1000" } } }),
    );
    expect(quotaMsg).to.match(/may change only spec.namespaces/);
    const adminsMsg = await errorOf(
      ua.patch(TenantResource, a, undefined, "merge", {
        spec: { admins: [{ kind: "User", name: "developer" }] },
      }),
    );
    expect(adminsMsg).to.match(/may change only spec.namespaces/);
    await waitReady(admin, a);
    // The admin works in the new namespace as soon as its RoleBinding is in the authorizer's cache.
    await waitFor("tenant-a-admin to write in the new namespace", () =>
      ua.create(Resources.ConfigMap, { metadata: { name: "c", namespace: `${a}-api` } }),
    );
    // Cluster admins change anything.
    await admin.patch(TenantResource, a, undefined, "merge", { spec: { quota: { pods: "50" } } });
    // Removing a namespace from the list deletes it.
    await ua.patch(TenantResource, a, undefined, "merge", { spec: { namespaces: ["web"] } });
    await waitFor("the removed namespace to terminate", async () => {
      try {
        const ns = await admin.get(Resources.Namespace, `${a}-api`);
        return ns.metadata.deletionTimestamp !== undefined;
      } catch {
        return true;
      }
    });
    for (const c of Object.values(users)) c.close();
  });

  it("quota: the tenant-wide limit holds across namespaces and names the tenant and what is left", async () => {
    const name = await makeTenant({ namespaces: ["a", "b"], quota: { pods: 4 } }, "tq");
    await waitReady(admin, name);
    const nss = [`${name}-a`, `${name}-b`, `${name}-default`];
    // The whole limit from one namespace, each create at the first try.
    for (let i = 0; i < 4; i++) await admin.create(Resources.Pod, pod(`p${i}`, nss[0] ?? ""));
    await waitFor(
      "the tenant to count 4 pods",
      async () => (await admin.get<Tenant>(TenantResource, name)).status?.used?.pods === "4",
    );
    for (const ns of nss) {
      const err = await errorOf(admin.create(Resources.Pod, pod("over", ns)));
      expect(err, ns).to.match(
        new RegExp(`exceeded quota: tenant-${name}-quota, requested: pods=1, used: pods=4, limited: pods=4`),
      );
      expect(err, ns).to.match(new RegExp(`tenant ${name} has 0 pods left`));
    }
    // A dry run is judged the same way and charges nothing.
    expect(await errorOf(admin.create(Resources.Pod, pod("dry", nss[1] ?? ""), { dryRun: true }))).to.match(
      /exceeded quota/,
    );
  });

  it("quota: 2 CPUs over four namespaces fill from one, then another, with 100 racing creates between that never pass the limit", async () => {
    const name = await makeTenant({ namespaces: ["a", "b", "c"], quota: { cpu: "2" } }, "tr");
    await waitReady(admin, name);
    const nss = ["a", "b", "c", "default"].map((s) => `${name}-${s}`);
    const small = (n: string, ns: string) =>
      pod(n, ns, {
        containers: [
          { name: "app", image: "registry.k8s.io/pause:3.10", resources: { requests: { cpu: "100m" } } },
        ],
      });
    const podsIn = async (list: string[]) => {
      let n = 0;
      for (const ns of list) n += (await admin.list(Resources.Pod, { namespace: ns })).items.length;
      return n;
    };
    const emptyAndReleased = async () => {
      for (const ns of nss) {
        for (const p of (await admin.list(Resources.Pod, { namespace: ns })).items)
          await admin.delete(Resources.Pod, p.metadata.name ?? "", ns);
      }
      await waitFor("the pods to go and the ledger to release them", async () => {
        if ((await podsIn(nss)) > 0) return false;
        const l = await admin.get<TenantLedger>(TenantLedgerResource, name);
        return Object.keys(l.spec.charges ?? {}).length === 0;
      });
    };
    const fillOne = async (ns: string) => {
      // 20 × 100m = the whole 2 CPUs from one namespace, every create at the first try.
      for (let i = 0; i < 20; i++) await admin.create(Resources.Pod, small(`p${i}`, ns));
      const err = await errorOf(admin.create(Resources.Pod, small("p20", ns)));
      expect(err).to.match(
        new RegExp(`exceeded quota: tenant-${name}-quota, requested: cpu=100m, used: cpu=2`),
      );
    };
    await fillOne(nss[0] ?? "");
    await emptyAndReleased();
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        admin.create(Resources.Pod, small(`race-${i}`, nss[i % 4] ?? "")),
      ),
    );
    const admitted = results.filter((r) => r.status === "fulfilled").length;
    const refusals = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
    // Exact both ways: never over the limit, and never a refusal while room was left.
    expect(admitted, `admitted of 100 racing creates (first refusal: ${refusals[0]})`).to.equal(20);
    expect(await podsIn(nss)).to.equal(20);
    expect(
      refusals.every((m) => /exceeded quota/.test(m)),
      refusals[0],
    ).to.equal(true);
    const t = await waitFor("the status to count 2 CPUs", async () => {
      const got = await admin.get<Tenant>(TenantResource, name);
      return got.status?.used?.cpu === "2" ? got : undefined;
    });
    expect(t.status?.usage).to.match(/cpu 2\/2/);
    await emptyAndReleased();
    await fillOne(nss[3] ?? "");
  });

  it("deletion removes everything, reports a foreign finalizer it waits for, then completes", async () => {
    const name = await makeTenant(
      { admins: [{ kind: "User", name: "tenant-a-admin" }], namespaces: ["x"], quota: { pods: 5 } },
      "td",
    );
    await waitReady(admin, name);
    const ns = `${name}-x`;
    await admin.create(Deployment, deployment("app", ns));
    await admin.create(Resources.ConfigMap, {
      metadata: { name: "held", namespace: ns, finalizers: ["example.com/hold"] },
    });
    await admin.delete(TenantResource, name);
    const t = await waitFor(
      "the tenant to report the finalizer it waits for",
      async () => {
        const got = await admin.get<Tenant>(TenantResource, name);
        return got.status?.phase === "Terminating" &&
          (got.status.waitingFor ?? []).some((w) => w.includes("configmaps/held"))
          ? got
          : undefined;
      },
      { timeoutMs: 90_000 },
    );
    expect(t.status?.waitingFor?.join(" ")).to.contain("example.com/hold");
    await admin.patch(Resources.ConfigMap, "held", ns, "json", [
      { op: "remove", path: "/metadata/finalizers" },
    ]);
    await waitGone("the tenant", () => admin.get(TenantResource, name), 90_000);
    const left = await admin.list(Resources.Namespace, {
      labelSelector: `tenancy.centaurus.io/tenant=${name}`,
    });
    expect(left.items).to.have.length(0);
    expect(await codeOf(admin.get(Resources.ClusterRole, `centaurus-tenant-${name}`))).to.equal(404);
  });
});
