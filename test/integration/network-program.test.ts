// Node programs: compiled per node from Endpoints and NetworkPolicies; a change recompiles
// only the nodes it affects; `centaurus net check` answers from the programs alone.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import type { Counter } from "prom-client";
import { netCheck } from "../../cli/network.ts";
import {
  type Endpoint,
  Endpoints,
  type NodeProgram,
  NodePrograms,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "../../controllers/network/api.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { NetworkPolicy } from "../../pkg/kube/core.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { createPod, installNetwork, startNetworkManager } from "../fixtures/network.ts";

const run = promisify(execFile);

async function compileCounts(compiles: Counter<"node">): Promise<Map<string, number>> {
  const { values } = await compiles.get();
  return new Map(values.map((v) => [String(v.labels.node), v.value]));
}

describe("network: node programs and net check", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let manager: Manager;
  let compiles: Counter<"node">;
  let t: string;
  let ns: string;
  let otherNs: string;

  const programOf = (node: string) => client.get<NodeProgram>(NodePrograms, node);
  const hasLocal = async (node: string, pod: string) =>
    (await programOf(node)).spec.localEndpoints.some((e) => e.namespace === ns && e.pod === pod);

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
    await installNetwork(client);
    ({ manager, compiles } = await startNetworkManager(client));
    t = uniqueName("t");
    ns = uniqueName("shop");
    otherNs = uniqueName("other");
    for (const n of [ns, otherNs])
      await client.create(Resources.Namespace, { metadata: { name: n, labels: { team: n } } });
    // Two tenants with the same CIDR: allowed, but their pods never reach each other.
    for (const [suffix, tenant, namespace] of [
      ["a", `${t}-a`, ns],
      ["b", `${t}-b`, otherNs],
    ] as const) {
      await client.create<VPC>(VPCs, {
        metadata: { name: `${t}-${suffix}` },
        spec: { cidr: "10.90.0.0/16", tenant, dividers: 1 },
      });
      await client.create<Subnet>(Subnets, {
        metadata: { name: `${t}-${suffix}` },
        spec: { vpc: `${t}-${suffix}`, cidr: "10.90.1.0/24", namespaces: [namespace], bouncers: 1 },
      });
    }
    await createPod(client, ns, "web", { node: "kwok-plain-0", labels: { app: "web" } });
    await createPod(client, ns, "db", { node: "kwok-plain-1", labels: { app: "db" } });
    await createPod(client, ns, "batch", { node: "kwok-plain-2", labels: { app: "batch" } });
    await createPod(client, otherNs, "intruder", { node: "kwok-plain-2", labels: { app: "web" } });
    await waitFor(
      "programs list the pods",
      async () =>
        (await hasLocal("kwok-plain-0", "web")) &&
        (await hasLocal("kwok-plain-1", "db")) &&
        (await hasLocal("kwok-plain-2", "batch")),
    );
  });
  // A function, not an arrow: this mocha's Suite#timeout would re-arm the finished tests' timers.
  after(async function () {
    this.timeout(60_000);
    await client.delete(Resources.Namespace, ns).catch(() => undefined);
    await client.delete(Resources.Namespace, otherNs).catch(() => undefined);
    for (const s of ["a", "b"]) await client.delete(Subnets, `${t}-${s}`).catch(() => undefined);
    await waitFor("VPCs deletable", async () => {
      for (const s of ["a", "b"]) {
        const v = await client.get<VPC>(VPCs, `${t}-${s}`).catch(() => undefined);
        if (v && (v.status?.subnets?.length ?? 0) > 0) return false;
      }
      return true;
    });
    for (const s of ["a", "b"]) await client.delete(VPCs, `${t}-${s}`).catch(() => undefined);
    await manager?.stop();
    client?.close();
  });

  it("describes local endpoints, the subnet's bouncer map and the VPC's dividers", async () => {
    const db = await client.get<Endpoint>(Endpoints, "db", ns);
    const prog = await programOf("kwok-plain-1");
    const local = prog.spec.localEndpoints.find((e) => e.namespace === ns && e.pod === "db")!;
    expect(local).to.include({
      ip: db.spec.ip,
      mac: db.spec.mac,
      vni: db.spec.vni,
      subnet: `${t}-a`,
      interface: "eth0",
    });
    expect(local.ingress.isolated).to.equal(false);
    const net = prog.spec.networks.find((n) => n.vni === db.spec.vni)!;
    expect(net.subnets.map((s) => s.name)).to.include(`${t}-a`);
    const bouncer = net.subnets.find((s) => s.name === `${t}-a`)!.bouncers[0]!;
    await waitFor("the bouncer holds every endpoint of the subnet", async () => {
      const b = await programOf(bouncer);
      expect(b.spec.roles.bouncer).to.include(`${t}-a`);
      const map = b.spec.networks.find((n) => n.vni === db.spec.vni)!.remoteEndpoints;
      const eps = (await client.list<Endpoint>(Endpoints, { namespace: ns })).items.filter(
        (e) => e.spec.node !== bouncer,
      );
      return eps.length >= 2 && eps.every((e) => map[e.spec.ip] === e.spec.node);
    });
    const dividers = (await client.list<NodeProgram>(NodePrograms)).items.filter((p) =>
      p.spec.roles.divider.includes(`${t}-a`),
    );
    expect(dividers).to.have.length(1);
    expect(prog.metadata.ownerReferences?.[0]).to.include({ kind: "Node", name: "kwok-plain-1" });
  });

  it("recompiles only the nodes a policy change affects, and net check follows", async () => {
    const before = await netCheck(client, `${ns}/web`, `${ns}/db`, { port: 5432 });
    expect(before.reachable, before.reasons.join("\n")).to.equal(true);
    expect(before.reasons.join("\n")).to.match(/no NetworkPolicy isolates it for ingress/);
    const isolated = await netCheck(client, `${otherNs}/intruder`, `${ns}/db`, { port: 5432 });
    expect(isolated.reachable).to.equal(false);
    expect(isolated.reasons.join("\n")).to.match(/different VPCs/);

    // Quiet first: nothing still compiling from the setup.
    let last = "";
    await waitFor(
      "compiles settle",
      async () => {
        const now = JSON.stringify([...(await compileCounts(compiles))].sort());
        const settled = now === last;
        last = now;
        return settled;
      },
      { intervalMs: 700 },
    );
    const counts = await compileCounts(compiles);
    const programs = new Map(
      (await client.list<NodeProgram>(NodePrograms)).items.map((p) => [p.metadata.name ?? "", p]),
    );

    const policy: NetworkPolicy = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "db-from-web", namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: "db" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { app: "web" } } }],
            ports: [{ protocol: "TCP", port: 5432 }],
          },
        ],
      },
    };
    await client.create(Resources.NetworkPolicy, policy);
    const compiled = await waitFor("db's node isolates it", async () => {
      const p = await programOf("kwok-plain-1");
      return p.spec.localEndpoints.find((e) => e.pod === "db" && e.namespace === ns)?.ingress.isolated
        ? p
        : undefined;
    });
    expect(compiled.metadata.generation).to.be.greaterThan(
      programs.get("kwok-plain-1")?.metadata.generation ?? 0,
    );
    // Give any wrongly triggered compile the chance to show, then check nobody else moved.
    await waitFor(
      "compiles settle",
      async () => {
        const now = JSON.stringify([...(await compileCounts(compiles))].sort());
        const settled = now === last;
        last = now;
        return settled;
      },
      { intervalMs: 700 },
    );
    const after = await compileCounts(compiles);
    for (const [node, prog] of programs) {
      if (node === "kwok-plain-1") continue;
      expect(after.get(node) ?? 0, `compiles of ${node}`).to.equal(counts.get(node) ?? 0);
      expect((await programOf(node)).metadata.resourceVersion, `program of ${node}`).to.equal(
        prog.metadata.resourceVersion,
      );
    }
    expect(after.get("kwok-plain-1")).to.be.greaterThan(counts.get("kwok-plain-1") ?? 0);

    const allowed = await netCheck(client, `${ns}/web`, `${ns}/db`, { port: 5432 });
    expect(allowed.reachable).to.equal(true);
    expect(allowed.reasons.join("\n")).to.match(
      new RegExp(`ingress allowed by NetworkPolicy ${ns}/db-from-web`),
    );
    const wrongPort = await netCheck(client, `${ns}/web`, `${ns}/db`, { port: 80 });
    expect(wrongPort.reachable).to.equal(false);
    const denied = await netCheck(client, `${ns}/batch`, `${ns}/db`, { port: 5432 });
    expect(denied.reachable).to.equal(false);
    expect(denied.reasons.join("\n")).to.match(new RegExp(`isolated by NetworkPolicy ${ns}/db-from-web`));

    // A new peer joins: db's node learns its address; the CLI says so too.
    await createPod(client, ns, "web2", { node: "kwok-plain-2", labels: { app: "web" } });
    const web2 = await waitFor("web2 endpoint", () => client.get<Endpoint>(Endpoints, "web2", ns));
    await waitFor("db's allow set includes web2", async () => {
      const p = await programOf("kwok-plain-1");
      return (
        p.spec.peerSets.some((s) => s.includes(web2.spec.ip)) && (await hasLocal("kwok-plain-2", "web2"))
      );
    });
    const cli = await run(
      "npx",
      ["tsx", "bin/centaurus.ts", "net", "check", `${ns}/web2`, `${ns}/db`, "--port", "5432"],
      {
        env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
      },
    );
    expect(cli.stdout).to.match(/^REACHABLE/);
    expect(cli.stdout).to.match(/db-from-web/);
    const refused = await run(
      "npx",
      ["tsx", "bin/centaurus.ts", "net", "check", `${ns}/batch`, `${ns}/db`, "--port", "5432"],
      {
        env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
      },
    ).catch((e: { code: number; stdout: string }) => e);
    expect(refused.stdout).to.match(/^NOT REACHABLE/);
    expect((refused as { code?: number }).code).to.equal(1);
  });

  it("named ports: resolved on each destination pod's container ports, through VPCEndpoints to net check", async () => {
    // Two servers name "api" differently; one egress policy from a client allows "api".
    await createPod(client, ns, "api-1", {
      node: "kwok-plain-0",
      labels: { app: "api" },
      ports: [{ name: "api", containerPort: 8080 }],
    });
    await createPod(client, ns, "api-2", {
      node: "kwok-plain-1",
      labels: { app: "api" },
      ports: [{ name: "api", containerPort: 9443 }, { containerPort: 22 }],
    });
    await createPod(client, ns, "client", { node: "kwok-plain-2", labels: { app: "client" } });
    const ep = await waitFor("api-2's endpoint carries its named ports", async () => {
      const e = await client.get<Endpoint>(Endpoints, "api-2", ns).catch(() => undefined);
      return e?.spec.namedPorts?.length ? e : undefined;
    });
    expect(ep.spec.namedPorts).to.deep.equal([{ name: "api", protocol: "TCP", port: 9443 }]);
    await client.create(Resources.NetworkPolicy, {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "client-to-api", namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: "client" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: "api" }] }],
      },
    } as NetworkPolicy);
    await waitFor("client's egress is compiled per destination", async () => {
      const p = await programOf("kwok-plain-2");
      const rules = p.spec.localEndpoints.find((e) => e.pod === "client" && e.namespace === ns)?.egress.rules;
      return (rules?.length ?? 0) === 2;
    });
    const check = (to: string, port?: number) =>
      netCheck(client, `${ns}/client`, `${ns}/${to}`, port ? { port } : {});
    expect((await check("api-1", 8080)).reachable).to.equal(true);
    expect((await check("api-1", 9443)).reachable).to.equal(false);
    expect((await check("api-2", 9443)).reachable).to.equal(true);
    expect((await check("api-2", 8080)).reachable).to.equal(false);
    expect((await check("api-2", 22)).reachable).to.equal(false);
    // Without a port: some port passes both ways to api-2 (9443), none to a pod without "api".
    const some = await check("api-2");
    expect(some.reachable, some.reasons.join("\n")).to.equal(true);
    expect(some.reasons.join("\n")).to.match(/TCP 9443 pass both directions/);
    const none = await check("db");
    expect(none.reachable, none.reasons.join("\n")).to.equal(false);
    expect(none.reasons.join("\n")).to.match(/no TCP port passes both directions/);
  });
});
