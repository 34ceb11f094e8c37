// Tenancy through every pillar, against a real API server with each user's own token: every
// breach of issue 11 is tried by a tenant admin of tenant A against tenant B (another tenant's
// subnet, a forged tenant label, a hand-made VPCEndpoint, another tenant's GPUQueue, pods that
// reach the node, colliding namespace names), refused with a clear message, and nothing of it
// reaches tenant B (no endpoint, no address, no NodeProgram entry). Then the can-i matrix over
// the network, compute and ai resources for admins, members, viewers and an outsider.

import { expect } from "chai";
import { type GPUJob, GPUJobs, type GPUQueue, GPUQueues } from "../../controllers/ai/api.ts";
import { aiModule } from "../../controllers/ai/index.ts";
import { ALLOWED_QUEUES_ANNOTATION } from "../../controllers/ai/queue-access.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import { ALLOWED_SUBNETS_ANNOTATION } from "../../controllers/network/access.ts";
import {
  type Endpoint,
  Endpoints,
  IPAddresses,
  NodePrograms,
  type Subnet,
  Subnets,
} from "../../controllers/network/api.ts";
import { networkModule } from "../../controllers/network/index.ts";
import { type Tenant, TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { podObject } from "../fixtures/network.ts";
import {
  canI,
  codeOf,
  errorOf,
  installModules,
  startManager,
  waitGone,
  waitReady,
} from "../fixtures/tenancy.ts";

const MODULES = [tenancyModule, computeModule, networkModule, aiModule];
const TEMPLATE = { spec: { containers: [{ name: "train", image: "registry.example/train:1" }] } };

describe("tenancy: isolation through every pillar", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let manager: Manager;
  const a = uniqueName("ia");
  const b = uniqueName("ib");
  const aNs = `${a}-default`;
  const bNs = `${b}-default`;
  const users = new Map<string, KubeClient>();
  const as = async (user: string) => {
    let c = users.get(user);
    if (!c) {
      c = await cluster.clientFor(user);
      users.set(user, c);
    }
    return c;
  };
  /** The refusal a create meets, once the just-installed policies are enforced (dry runs first). */
  const refusal = async (create: (dryRun: boolean) => Promise<unknown>, re: RegExp) => {
    await waitFor(`refusal ${re}`, async () => re.test(await errorOf(create(true))), { timeoutMs: 30_000 });
    const msg = await errorOf(create(false));
    expect(msg).to.match(re);
    return msg;
  };

  before(async () => {
    cluster = testCluster();
    admin = await cluster.clientFor();
    await installModules(admin, MODULES);
    manager = await startManager(admin, MODULES);
    await admin.create(TenantResource, {
      metadata: { name: a },
      spec: {
        admins: [{ kind: "User", name: "tenant-a-admin" }],
        members: [{ kind: "User", name: "tenant-a-user" }],
        network: { vpcCIDR: "10.131.0.0/16" },
      },
    } as Tenant);
    await admin.create(TenantResource, {
      metadata: { name: b },
      spec: {
        admins: [{ kind: "Group", name: "tenant-b:admins" }],
        viewers: [{ kind: "User", name: "tenant-b-user" }],
        network: { vpcCIDR: "10.132.0.0/16" },
      },
    } as Tenant);
    await waitReady(admin, a);
    await waitReady(admin, b);
    for (const ns of [aNs, bNs]) {
      await waitFor(`${ns} to list its own default subnet`, async () => {
        const n = await admin.get(Resources.Namespace, ns);
        const s = await admin.get<Subnet>(Subnets, ns).catch(() => undefined);
        const ready = s?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        return ready && n.metadata.annotations?.[ALLOWED_SUBNETS_ANNOTATION] === ns;
      });
    }
  });
  // The suite's timeout covers the hook (a this.timeout() here could reach the last test's timer).
  after(async () => {
    for (const q of ["aq", "bq"]) await admin.delete(GPUQueues, `${a}-${q}`).catch(() => undefined);
    for (const t of [a, b]) await admin.delete(TenantResource, t).catch(() => undefined);
    for (const t of [a, b]) await waitGone(`tenant ${t}`, () => admin.get(TenantResource, t), 90_000);
    await manager?.stop();
    for (const c of users.values()) c.close();
    admin?.close();
  });

  it("network: another tenant's subnet is refused with the allowed subnets named; nothing reaches it", async () => {
    const ua = await as("tenant-a-admin");
    const sneak = (dryRun: boolean) =>
      ua.create(
        Resources.Pod,
        podObject(aNs, "sneak", { annotations: { "network.centaurus.io/subnet": `${b}-default` } }),
        { dryRun },
      );
    await refusal(sneak, new RegExp(`tenant ${a} may join only .*allowed subnets: ${a}-default$`));
    // Its own subnet, named, is fine; its endpoint is labelled with the namespace's tenant.
    await ua.create(
      Resources.Pod,
      podObject(aNs, "own", { annotations: { "network.centaurus.io/subnet": `${a}-default` } }),
    );
    const ep = await waitFor("the own-subnet endpoint", () => admin.get<Endpoint>(Endpoints, "own", aNs));
    expect(ep.spec.subnet).to.equal(`${a}-default`);
    expect(ep.metadata.labels?.["tenancy.centaurus.io/tenant"]).to.equal(a);
    // Nothing of the refused pod exists anywhere: no endpoint, no address in B's subnet.
    expect(await codeOf(admin.get(Endpoints, "sneak", aNs))).to.equal(404);
    const claims = await admin.list(IPAddresses, {
      labelSelector: `network.centaurus.io/subnet=${b}-default`,
    });
    expect(claims.items.map((c) => c.metadata.name)).to.deep.equal([]);

    // A cluster admin may open B's subnet to A: the namespace's list follows and the pod is admitted.
    await admin.patch(Subnets, `${b}-default`, undefined, "merge", { spec: { tenants: [a] } });
    await waitFor("A's namespace to list B's opened subnet", async () => {
      const n = await admin.get(Resources.Namespace, aNs);
      return n.metadata.annotations?.[ALLOWED_SUBNETS_ANNOTATION] === `${a}-default, ${b}-default`;
    });
    await waitFor("the pod on the opened subnet to be admitted", () => sneak(false));
    await admin.patch(Subnets, `${b}-default`, undefined, "merge", { spec: { tenants: null } });
    await admin.delete(Resources.Pod, "sneak", aNs);
  });

  it("identity: a pod labelled as another tenant is refused; the operator labels from the namespace", async () => {
    const ua = await as("tenant-a-admin");
    const forged = (dryRun: boolean) =>
      ua.create(Resources.Pod, podObject(aNs, "forged", { labels: { "tenancy.centaurus.io/tenant": b } }), {
        dryRun,
      });
    await refusal(
      forged,
      new RegExp(
        `tenancy.centaurus.io/tenant=${b} does not match namespace ${aNs}, which belongs to tenant ${a}`,
      ),
    );
    expect(await codeOf(admin.get(Endpoints, "forged", aNs))).to.equal(404);
    // The addresses A holds are counted in its status (labelled by namespace, written by the
    // operator only). Counted afresh each time: an earlier test's pod may still be giving one back.
    const heldByA = async () =>
      (await admin.list(IPAddresses, { labelSelector: `tenancy.centaurus.io/tenant=${a}` })).items.length;
    expect(await heldByA()).to.be.greaterThan(0);
    await waitFor(`tenant ${a}'s status to show the addresses it holds`, async () => {
      const held = await heldByA();
      const t = await admin.get<Tenant>(TenantResource, a);
      return (
        t.status?.used?.["ip-addresses"] === String(held) && t.status.usage?.includes(`ip-addresses ${held}`)
      );
    });
    const labelledB = await admin.list(Endpoints, { labelSelector: `tenancy.centaurus.io/tenant=${b}` });
    expect(labelledB.items.map((e) => `${e.metadata.namespace}/${e.metadata.name}`)).to.deep.equal([]);
  });

  it("network: a hand-made VPCEndpoint into B's VPC is refused, and one a cluster admin makes enters no NodeProgram", async () => {
    const ua = await as("tenant-a-admin");
    // Everything a real endpoint of B's subnet would carry, its VNI included.
    const vni = (await admin.get<Subnet>(Subnets, `${b}-default`)).status?.vni ?? 0;
    const forged: Endpoint = {
      apiVersion: "network.centaurus.io/v1alpha1",
      kind: "VPCEndpoint",
      metadata: { name: "forged", namespace: aNs },
      spec: {
        subnet: `${b}-default`,
        vpc: `${b}-default`,
        vni,
        ip: "10.132.0.77",
        mac: "02:00:0a:84:00:4d",
        interface: "eth0",
        node: "kwok-plain-0",
        pod: { name: "forged", uid: "forged" },
        podLabels: {},
      },
    };
    const msg = await errorOf(ua.create(Endpoints, forged));
    expect(msg).to.match(/forbidden.*vpcendpoints/i);
    // Even with a Role granting more (the old tenant-admin role did), the policy refuses it.
    expect(
      await canI(ua, "create", "vpcendpoints", { group: "network.centaurus.io", namespace: aNs }),
    ).to.equal(false);
    const programs = await admin.list(NodePrograms);
    expect(JSON.stringify(programs.items)).to.not.contain("10.132.0.77");

    // One a cluster admin writes by hand (no address claimed for it) enters no NodeProgram either:
    // a pod wired after it shows up in the node's program, the forged address never does.
    await admin.create(Endpoints, { ...forged, metadata: { name: "by-hand", namespace: aNs } });
    await admin.create(Resources.Pod, podObject(aNs, "after-forgery"));
    const real = await waitFor("the real pod's endpoint", () =>
      admin.get<Endpoint>(Endpoints, "after-forgery", aNs),
    );
    const program = await waitFor("kwok-plain-0's program to hold the real pod", async () => {
      const p = await admin.get(NodePrograms, "kwok-plain-0");
      return JSON.stringify(p).includes(`"${real.spec.ip}"`) ? p : undefined;
    });
    expect(JSON.stringify(program)).to.not.contain("10.132.0.77");
    await admin.delete(Endpoints, "by-hand", aNs);
  });

  it("gpus: a job on another tenant's queue is refused with the usable queues named", async () => {
    const queue = (name: string, owner: string, extra: Partial<GPUQueue["spec"]> = {}) =>
      admin.create<GPUQueue>(GPUQueues, {
        metadata: { name },
        spec: { owner: { kind: "Tenant", name: owner }, ...extra },
      } as GPUQueue);
    await queue(`${a}-aq`, a);
    await queue(`${a}-bq`, b);
    await waitFor("A's namespace to list its queue", async () => {
      const n = await admin.get(Resources.Namespace, aNs);
      return n.metadata.annotations?.[ALLOWED_QUEUES_ANNOTATION] === `${a}-aq`;
    });
    const ua = await as("tenant-a-admin");
    const job = (name: string, q: string, dryRun = false) =>
      ua.create<GPUJob>(
        GPUJobs,
        {
          metadata: { name, namespace: aNs },
          spec: { queue: q, gpus: 1, replicas: { min: 1, max: 1 }, template: TEMPLATE },
        } as GPUJob,
        { dryRun },
      );
    await refusal(
      (dry) => job("steal", `${a}-bq`, dry),
      new RegExp(`GPUQueue ${a}-bq does not serve tenant ${a}; its jobs may use: ${a}-aq`),
    );
    expect(await codeOf(job("mine", `${a}-aq`))).to.equal(200);
    expect(await codeOf(admin.get(GPUJobs, "steal", aNs))).to.equal(404);
    // Marked shared by a cluster admin, B's queue serves A too.
    await admin.patch(GPUQueues, `${a}-bq`, undefined, "merge", { spec: { shared: true } });
    await waitFor("the shared queue to admit A's job", () => job("borrow", `${a}-bq`));
  });

  it("nodes: privileged, hostPath and hostNetwork pods are refused; tenant admins cannot relabel namespaces", async () => {
    const ua = await as("tenant-a-admin");
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        "priv",
        { containers: [{ name: "c", image: "x", securityContext: { privileged: true } }] },
        /privileged/,
      ],
      [
        "hostpath",
        {
          containers: [{ name: "c", image: "x", volumeMounts: [{ name: "root", mountPath: "/host" }] }],
          volumes: [{ name: "root", hostPath: { path: "/" } }],
        },
        /hostPath volumes/,
      ],
      ["hostnet", { hostNetwork: true, containers: [{ name: "c", image: "x" }] }, /host namespaces/],
    ];
    for (const [name, spec, why] of cases) {
      const msg = await errorOf(
        ua.create(Resources.Pod, { metadata: { name, namespace: aNs }, spec } as KubeObject),
      );
      expect(msg, name).to.match(/violates PodSecurity "baseline:latest"/);
      expect(msg, name).to.match(why);
    }
    for (const label of ["pod-security.kubernetes.io/enforce", "tenancy.centaurus.io/tenant"]) {
      const code = await codeOf(
        ua.patch(Resources.Namespace, aNs, undefined, "merge", {
          metadata: { labels: { [label]: "privileged" } },
        }),
      );
      expect(code, label).to.equal(403);
    }
    // Only a cluster admin changes the level, through the Tenant (the tenant admin may not).
    expect(
      await errorOf(ua.patch(TenantResource, a, undefined, "merge", { spec: { podSecurity: "privileged" } })),
    ).to.match(/podSecurity are set by cluster admins/);
    const n = await admin.get(Resources.Namespace, aNs);
    expect(n.metadata.labels?.["pod-security.kubernetes.io/enforce"]).to.equal("baseline");
  });

  it("names: a short name that could collide with another tenant's is refused", async () => {
    const msg = await errorOf(
      admin.create(TenantResource, {
        metadata: { name: uniqueName("nc") },
        spec: { namespaces: ["b-c"] },
      } as Tenant),
    );
    expect(msg).to.match(/no hyphens/);
  });

  it("roles: a can-i matrix over network, compute and ai for admins, members, viewers and outsiders", async () => {
    type Opts = { group?: string; namespace?: string; name?: string };
    const net = "network.centaurus.io";
    const rows: Array<[string, string, Opts]> = [
      ["create", "pods", { namespace: aNs }],
      ["create", "secrets", { namespace: aNs }],
      ["get", "secrets", { namespace: aNs }],
      ["create", "rolebindings", { group: "rbac.authorization.k8s.io", namespace: aNs }],
      ["create", "virtualmachines", { group: "compute.centaurus.io", namespace: aNs }],
      ["create", "gpujobs", { group: "ai.centaurus.io", namespace: aNs }],
      ["list", "gpujobs", { group: "ai.centaurus.io", namespace: aNs }],
      ["create", "gpuqueues", { group: "ai.centaurus.io" }],
      ["create", "vpcendpoints", { group: net, namespace: aNs }],
      ["list", "vpcendpoints", { group: net, namespace: aNs }],
      ["create", "subnets", { group: net }],
      ["list", "nodeprograms", { group: net }],
      ["patch", "namespaces", { name: aNs }],
      ["list", "pods", { namespace: bNs }],
      ["list", "vpcendpoints", { group: net, namespace: bNs }],
    ];
    // Expected answers in row order: A's admin and member, B's viewer, an outsider.
    const expected: Record<string, string> = {
      "tenant-a-admin": "yyyyyyynnynnnnn",
      "tenant-a-user": "yyynyyynnynnnnn",
      "tenant-b-user": "nnnnnnnnnnnnnyy",
      developer: "nnnnnnnnnnnnnnn",
    };
    for (const [user, want] of Object.entries(expected)) {
      const c = await as(user);
      const got = await Promise.all(rows.map(([verb, res, o]) => canI(c, verb, res, o)));
      const show = (answers: boolean[]) =>
        rows.map((r, i) => `${r[0]} ${r[1]} ${r[2].namespace ?? ""} → ${answers[i] ? "yes" : "no"}`);
      expect(show(got), `can-i matrix for ${user}`).to.deep.equal(show([...want].map((ch) => ch === "y")));
    }
    // Real requests: the member runs a pod but cannot grant roles; the viewer reads but cannot write or read Secrets.
    const member = await as("tenant-a-user");
    expect(await codeOf(member.create(Resources.Pod, podObject(aNs, "by-member")))).to.equal(200);
    expect(
      await codeOf(
        member.create(Resources.RoleBinding, {
          metadata: { name: "grab", namespace: aNs },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant-admin" },
          subjects: [{ kind: "User", name: "tenant-a-user" }],
        } as KubeObject),
      ),
    ).to.equal(403);
    const viewer = await as("tenant-b-user");
    expect(await codeOf(viewer.list(Resources.Pod, { namespace: bNs }))).to.equal(200);
    expect(await codeOf(viewer.create(Resources.Pod, podObject(bNs, "by-viewer")))).to.equal(403);
    expect(await codeOf(viewer.list(Resources.Secret, { namespace: bNs }))).to.equal(403);
  });

  it("addresses: a quota on ip-addresses holds; the pod past it waits, says why, and gets one when another goes", async () => {
    const c = uniqueName("ic");
    const cNs = `${c}-default`;
    await admin.create(TenantResource, {
      metadata: { name: c },
      spec: { network: { vpcCIDR: "10.133.0.0/16" }, quota: { "ip-addresses": 1 } },
    } as Tenant);
    try {
      await waitReady(admin, c);
      await waitFor(`${cNs}'s default subnet`, async () => {
        const sub = await admin.get<Subnet>(Subnets, cNs).catch(() => undefined);
        return sub?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True");
      });
      const ip = async (pod: string) =>
        (await admin.get(Resources.Pod, pod, cNs)).metadata.annotations?.["network.centaurus.io/ip"];
      await admin.create(Resources.Pod, podObject(cNs, "first"));
      await waitFor("the first pod's address", () => ip("first"));
      await admin.create(Resources.Pod, podObject(cNs, "second"));
      const event = await waitFor("the second pod to be told why it has no address", async () => {
        const events = await admin.list<KubeObject & { reason?: string; note?: string }>(
          { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
          { namespace: cNs },
        );
        return events.items.find((e) => e.reason === "AddressQuotaExceeded");
      });
      expect(event.note).to.match(new RegExp(`exceeded quota: tenant-${c}-quota, requested: ip-addresses=1`));
      expect(await ip("second")).to.equal(undefined);
      const t = await admin.get<Tenant>(TenantResource, c);
      expect(t.status?.usage).to.match(/ip-addresses 1\/1/);
      await admin.delete(Resources.Pod, "first", cNs);
      await waitFor("the second pod to get the freed room", () => ip("second"), { timeoutMs: 60_000 });
    } finally {
      await admin.delete(TenantResource, c).catch(() => undefined);
      await waitGone(`tenant ${c}`, () => admin.get(TenantResource, c), 90_000);
    }
  });
});
