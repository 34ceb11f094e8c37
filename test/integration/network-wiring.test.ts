// Mizar networking against a real API server with kwok nodes: VPC/subnet readiness, pod and
// VM endpoint wiring, address return, bad input, and IPAM across an operator restart.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";
import { type VirtualMachine, VirtualMachineResource } from "../../controllers/compute/api.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import {
  type Endpoint,
  Endpoints,
  IP_ANNOTATION,
  type IPAddress,
  IPAddresses,
  IPS_ANNOTATION,
  SUBNET_ANNOTATION,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "../../controllers/network/api.ts";
import { parseCIDR, parseIP } from "../../controllers/network/ipam.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { ApiError, isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { objectPath, Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { createPod, installNetwork, podObject, startNetworkManager } from "../fixtures/network.ts";
import { installModules, startManager, vm } from "../fixtures/tenancy.ts";

interface EventObj extends KubeObject {
  reason?: string;
  note?: string;
  regarding?: { name?: string; kind?: string };
}

const ready = (o: { status?: { conditions?: Array<{ type: string; status: string; reason: string }> } }) =>
  o.status?.conditions?.find((c) => c.type === "Ready");

describe("network: VPCs, subnets and endpoints", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let manager: Manager;
  const cleanup: Array<() => Promise<unknown>> = [];

  const vpc = (name: string, cidr: string, tenant: string, vni?: number): VPC => ({
    apiVersion: "network.centaurus.io/v1alpha1",
    kind: "VPC",
    metadata: { name },
    spec: { cidr, tenant, dividers: 1, ...(vni !== undefined ? { vni } : {}) },
  });
  const subnet = (
    name: string,
    vpcName: string,
    cidr: string,
    extra: Partial<Subnet["spec"]> = {},
  ): Subnet => ({
    apiVersion: "network.centaurus.io/v1alpha1",
    kind: "Subnet",
    metadata: { name },
    spec: { vpc: vpcName, cidr, bouncers: 1, ...extra },
  });
  const createVPC = async (v: VPC) => {
    await client.create(VPCs, v);
    cleanup.push(() => client.delete(VPCs, v.metadata.name ?? "").catch(() => undefined));
  };
  const createSubnet = async (s: Subnet) => {
    await client.create(Subnets, s);
    // Subnets go first (cleanup runs in reverse), so their VPC can then be deleted.
    cleanup.push(() => client.delete(Subnets, s.metadata.name ?? "").catch(() => undefined));
  };
  const waitReady = async <T extends VPC | Subnet>(
    rt: ResourceType<T>,
    name: string,
    status = "True",
    reason?: string,
  ): Promise<T> =>
    waitFor(`${rt.kind} ${name} Ready=${status}${reason ? ` (${reason})` : ""}`, async () => {
      const o = await client.get<T>(rt, name);
      const c = ready(o);
      return c?.status === status && (!reason || c.reason === reason) ? o : undefined;
    });
  const newNamespace = async (prefix: string) => {
    const ns = uniqueName(prefix);
    await client.create(Resources.Namespace, { metadata: { name: ns } });
    cleanup.push(() => client.delete(Resources.Namespace, ns));
    return ns;
  };
  /** A VPC <prefix>.0.0/16 with Ready subnets <t>-front (.1.0/24) and <t>-back (.2.0/24); returns t. */
  const frontAndBack = async (prefix: string): Promise<string> => {
    const t = uniqueName("t");
    await createVPC(vpc(`${t}-vpc`, `${prefix}.0.0/16`, t));
    await createSubnet(subnet(`${t}-front`, `${t}-vpc`, `${prefix}.1.0/24`));
    await createSubnet(subnet(`${t}-back`, `${t}-vpc`, `${prefix}.2.0/24`));
    await waitReady(Subnets, `${t}-front`);
    await waitReady(Subnets, `${t}-back`);
    return t;
  };
  const endpointOf = (ns: string, name: string) =>
    waitFor(`endpoint ${ns}/${name}`, () => client.get<Endpoint>(Endpoints, name, ns));

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
    await installNetwork(client);
    ({ manager } = await startNetworkManager(client));
  });
  after(async () => {
    await manager?.stop();
    client?.close();
  });
  // Functions, not arrows, where this.timeout() is called: this mocha's Suite#timeout would
  // re-arm the finished tests' timers.
  afterEach(async function () {
    this.timeout(60_000);
    for (const fn of cleanup.reverse()) await fn();
    cleanup.length = 0;
  });

  it("wires pods to their namespace's default subnet or the annotated one, and returns the address on deletion", async () => {
    const t = uniqueName("t");
    const ns = await newNamespace("net");
    await createVPC(vpc(`${t}-vpc`, "10.20.0.0/16", t));
    const v = await waitReady<VPC>(VPCs, `${t}-vpc`);
    expect(v.status?.vni).to.be.a("number").within(1, 0xfffffe);
    await createSubnet(
      subnet(`${t}-a`, `${t}-vpc`, "10.20.1.0/24", {
        namespaces: [ns],
        excludeIPs: ["10.20.1.2..10.20.1.4"],
      }),
    );
    await createSubnet(subnet(`${t}-b`, `${t}-vpc`, "10.20.2.0/24"));
    const sa = await waitReady<Subnet>(Subnets, `${t}-a`);
    expect(sa.status?.vni).to.equal(v.status?.vni);
    await waitReady(Subnets, `${t}-b`);

    const p1 = await createPod(client, ns, "p1", { labels: { app: "web" } });
    await createPod(client, ns, "p2", {
      node: "kwok-plain-1",
      annotations: { [SUBNET_ANNOTATION]: `${t}-b` },
    });
    const e1 = await endpointOf(ns, "p1");
    expect(e1.spec).to.include({
      subnet: `${t}-a`,
      vpc: `${t}-vpc`,
      vni: v.status?.vni,
      node: "kwok-plain-0",
      interface: "eth0",
    });
    // Network and gateway (.0, .1) and the excluded .2–.4 are skipped.
    expect(e1.spec.ip).to.equal("10.20.1.5");
    expect(e1.spec.mac).to.equal("02:00:0a:14:01:05");
    expect(e1.metadata.ownerReferences?.[0]).to.include({ kind: "Pod", name: "p1", uid: p1.metadata.uid });
    const e2 = await endpointOf(ns, "p2");
    expect(e2.spec.subnet).to.equal(`${t}-b`);
    expect(parseCIDR("10.20.2.0/24").base <= parseIP(e2.spec.ip)).to.equal(true);
    const annotated = await waitFor("IP annotation", async () => {
      const p = await client.get(Resources.Pod, "p1", ns);
      return p.metadata.annotations?.[IP_ANNOTATION];
    });
    expect(annotated).to.equal("10.20.1.5");
    await waitFor(
      "used count 1",
      async () => (await client.get<Subnet>(Subnets, `${t}-a`)).status?.usedIPs === 1,
    );
    const before = await client.get<Subnet>(Subnets, `${t}-a`);
    expect(before.status?.availableIPs).to.equal(256 - 2 - 1 - 3 - 1);

    await client.delete(Resources.Pod, "p1", ns, { propagationPolicy: "Background" });
    await waitFor("claim released", async () => {
      const list = await client.list<IPAddress>(IPAddresses, {
        labelSelector: `network.centaurus.io/subnet=${t}-a`,
      });
      return list.items.length === 0;
    });
    await waitFor("endpoint removed", async () => {
      try {
        await client.get(Endpoints, "p1", ns);
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    });
    await waitFor(
      "used count 0",
      async () => (await client.get<Subnet>(Subnets, `${t}-a`)).status?.usedIPs === 0,
    );
    // The freed address is handed out again.
    await createPod(client, ns, "p3");
    const e3 = await endpointOf(ns, "p3");
    expect(e3.spec.ip).to.equal("10.20.1.6"); // next-fit: .5 comes back when the cursor wraps
    await client.delete(Resources.Pod, "p2", ns);
    await client.delete(Resources.Pod, "p3", ns);
  });

  it("gives a VM's launcher pod one endpoint per named subnet", async () => {
    const t = await frontAndBack("10.30");
    const ns = await newNamespace("vm");
    await createPod(client, ns, "virt-launcher-vm1", {
      labels: { "compute.centaurus.io/vm": "vm1" },
      annotations: { [SUBNET_ANNOTATION]: `${t}-front, ${t}-back` },
    });
    const eth0 = await endpointOf(ns, "virt-launcher-vm1");
    const eth1 = await endpointOf(ns, "virt-launcher-vm1.eth1");
    expect(eth0.spec).to.include({ subnet: `${t}-front`, interface: "eth0" });
    expect(eth1.spec).to.include({ subnet: `${t}-back`, interface: "eth1" });
    const pod = await waitFor("ips annotation", async () => {
      const p = await client.get(Resources.Pod, "virt-launcher-vm1", ns);
      return p.metadata.annotations?.[IPS_ANNOTATION] ? p : undefined;
    });
    expect(pod.metadata.annotations?.[IPS_ANNOTATION]).to.equal(`eth0=${eth0.spec.ip},eth1=${eth1.spec.ip}`);
    await client.delete(Resources.Pod, "virt-launcher-vm1", ns);
  });

  it("shows a VM's VPC addresses, per interface, as its status IPs: those of its VPCEndpoints", async () => {
    const t = await frontAndBack("10.31");
    const ns = await newNamespace("vmip");
    await installModules(client, [computeModule]);
    const compute = await startManager(client, [computeModule]);
    try {
      const interfaces = [
        { name: "public", subnet: `${t}-front` },
        { name: "private", subnet: `${t}-back` },
      ];
      await client.create(VirtualMachineResource, vm("twonic", ns, { interfaces }));
      const eth0 = await endpointOf(ns, "twonic-launcher");
      const eth1 = await endpointOf(ns, "twonic-launcher.eth1");
      expect(eth0.spec.subnet).to.equal(`${t}-front`);
      expect(eth1.spec.subnet).to.equal(`${t}-back`);
      const shown = await waitFor("the VM to show its VPC addresses", async () => {
        const v = await client.get<VirtualMachine>(VirtualMachineResource, "twonic", ns);
        if (v.status?.interfaces?.length === 2) return v;
        throw new Error(JSON.stringify(v.status ?? {}));
      });
      expect(shown.status?.ipAddresses).to.deep.equal([eth0.spec.ip, eth1.spec.ip]);
      expect(shown.status?.interfaces).to.deep.equal([
        { name: "public", ip: eth0.spec.ip },
        { name: "private", ip: eth1.spec.ip },
      ]);
      // The IP column, as `kubectl get vm` prints it, is eth0's VPC address, not the pod IP.
      const get = spawnSync(
        join(cluster.state.binDir, "kubectl"),
        ["--kubeconfig", cluster.kubeconfigPath, "get", "vm", "twonic", "-n", ns],
        { encoding: "utf8" },
      );
      const [header = "", row = ""] = get.stdout.trim().split("\n");
      const cells = Object.fromEntries(header.split(/\s+/).map((h, i) => [h, row.split(/\s+/)[i]]));
      expect(cells.IP, get.stdout + get.stderr).to.equal(eth0.spec.ip);
      await client.delete(VirtualMachineResource, "twonic", ns);
    } finally {
      await compute.stop();
    }
  });

  it("rejects or refuses bad input with a clear reason and makes nothing half-way", async () => {
    const t = uniqueName("t");
    const ns = await newNamespace("bad");
    // Schema (CEL): invalid CIDR, host bits, gateway outside the subnet, immutable cidr.
    for (const bad of [vpc(`${t}-x`, "10.0.0.0/33", t), vpc(`${t}-y`, "10.0.0.1/16", t)]) {
      const err = await client.create(VPCs, bad).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ApiError);
      expect((err as ApiError).code).to.equal(422);
      expect((err as ApiError).message).to.match(/IPv4 CIDR/);
    }
    await createVPC(vpc(`${t}-vpc`, "10.40.0.0/16", t));
    await waitReady(VPCs, `${t}-vpc`);
    const gwErr = (await client
      .create(Subnets, subnet(`${t}-gw`, `${t}-vpc`, "10.40.9.0/24", { gateway: "10.40.10.1" }))
      .catch((e: unknown) => e)) as ApiError;
    expect(gwErr.code).to.equal(422);
    expect(gwErr.message).to.match(/gateway must lie inside cidr/);
    const immut = (await client
      .patch(VPCs, `${t}-vpc`, undefined, "merge", { spec: { cidr: "10.41.0.0/16" } })
      .catch((e: unknown) => e)) as ApiError;
    expect(immut.message).to.match(/cidr is immutable/);

    // Subnet outside its VPC; overlapping subnets in one VPC.
    await createSubnet(subnet(`${t}-out`, `${t}-vpc`, "10.99.0.0/24", { namespaces: [ns] }));
    const out = await waitReady<Subnet>(Subnets, `${t}-out`, "False", "SubnetOutsideVPC");
    expect(ready(out))
      .to.have.property("message")
      .that.matches(/not inside VPC/);
    await createSubnet(subnet(`${t}-s1`, `${t}-vpc`, "10.40.1.0/24"));
    await waitReady(Subnets, `${t}-s1`);
    await createSubnet(subnet(`${t}-s2`, `${t}-vpc`, "10.40.1.128/25"));
    await waitReady(Subnets, `${t}-s2`, "False", "SubnetOverlap");
    // A pod defaulting to the bad subnet gets no endpoint and a Warning event.
    await createPod(client, ns, "stuck");
    await waitFor("SubnetNotReady event", async () => {
      const evs = await client.list<EventObj>(Resources.Event, { namespace: ns });
      return evs.items.some((e) => e.reason === "SubnetNotReady" && e.regarding?.name === "stuck");
    });
    expect((await client.list(Endpoints, { namespace: ns })).items).to.have.length(0);

    // Two VPCs of one tenant may not overlap; another tenant's may.
    await createVPC(vpc(`${t}-vpc2`, "10.40.128.0/17", t));
    const v2 = await waitReady<VPC>(VPCs, `${t}-vpc2`, "False", "CIDROverlap");
    expect(v2.status?.vni).to.equal(undefined);
    await createVPC(vpc(`${t}-other`, "10.40.0.0/16", `${t}-b`));
    await waitReady(VPCs, `${t}-other`);

    // A requested VNI that another VPC holds is refused.
    const held = (await client.get<VPC>(VPCs, `${t}-vpc`)).status?.vni;
    await createVPC(vpc(`${t}-dup`, "10.50.0.0/16", `${t}-c`, held));
    await waitReady(VPCs, `${t}-dup`, "False", "VNIConflict");

    // Deleting a VPC that still has subnets is refused at admission.
    await waitFor(
      "VPC lists its subnets",
      async () => (await client.get<VPC>(VPCs, `${t}-vpc`)).status?.subnets?.length === 3,
    );
    const delErr = (await waitFor("admission policy in force", async () => {
      try {
        // A dry run goes through admission without deleting anything.
        await client.request("DELETE", objectPath(VPCs, `${t}-vpc`), { query: { dryRun: "All" } });
        return undefined;
      } catch (err) {
        return err instanceof ApiError ? err : undefined;
      }
    })) as ApiError;
    expect(delErr.message).to.match(/still has subnets \(.*-out.*\): delete them first/);
    // Once its subnets are gone, it can be deleted.
    for (const s of ["out", "s1", "s2"]) await client.delete(Subnets, `${t}-${s}`);
    await waitFor(
      "VPC lists no subnets",
      async () => (await client.get<VPC>(VPCs, `${t}-vpc`)).status?.subnets?.length === 0,
    );
    await waitFor("VPC deletable", async () => {
      await client.request("DELETE", objectPath(VPCs, `${t}-vpc`), { query: { dryRun: "All" } });
      return true;
    });
    await client.delete(Resources.Pod, "stuck", ns);
  });

  it("reports a full subnet and hands out nothing more", async () => {
    const t = uniqueName("t");
    const ns = await newNamespace("full");
    await createVPC(vpc(`${t}-vpc`, "10.60.0.0/16", t));
    // /29: 8 addresses − network, gateway, broadcast − 3 excluded = 2 usable.
    await createSubnet(
      subnet(`${t}-tiny`, `${t}-vpc`, "10.60.0.0/29", {
        namespaces: [ns],
        excludeIPs: ["10.60.0.2/31", "10.60.0.4"],
      }),
    );
    await waitReady(Subnets, `${t}-tiny`);
    for (const name of ["a", "b", "c"]) await createPod(client, ns, name);
    await waitFor(
      "two endpoints",
      async () => (await client.list(Endpoints, { namespace: ns })).items.length === 2,
    );
    const full = await waitFor("IPsAvailable False", async () => {
      const s = await client.get<Subnet>(Subnets, `${t}-tiny`);
      const c = s.status?.conditions?.find((x) => x.type === "IPsAvailable");
      return c?.status === "False" ? s : undefined;
    });
    expect(full.status?.conditions?.find((x) => x.type === "IPsAvailable")?.reason).to.equal("SubnetFull");
    expect(full.status?.availableIPs).to.equal(0);
    const eps = (await client.list<Endpoint>(Endpoints, { namespace: ns })).items;
    expect(eps.map((e) => e.spec.ip).sort()).to.deep.equal(["10.60.0.5", "10.60.0.6"]);
    const waiting = ["a", "b", "c"].find((n) => !eps.some((e) => e.metadata.name === n))!;
    await waitFor("SubnetFull event", async () => {
      const evs = await client.list<EventObj>(Resources.Event, { namespace: ns });
      return evs.items.some((e) => e.reason === "SubnetFull" && e.regarding?.name === waiting);
    });
    // Freeing one address lets the waiting pod in.
    await client.delete(Resources.Pod, eps[0]!.metadata.name ?? "", ns);
    const got = await endpointOf(ns, waiting);
    expect(got.spec.ip).to.equal(eps[0]!.spec.ip);
    for (const n of ["a", "b", "c"]) await client.delete(Resources.Pod, n, ns).catch(() => undefined);
  });

  it("never hands out an address twice: 100 pods at once with the operator restarted half-way", async function () {
    this.timeout(240_000);
    const t = uniqueName("t");
    const ns = await newNamespace("burst");
    await createVPC(vpc(`${t}-vpc`, "10.70.0.0/16", t));
    await createSubnet(subnet(`${t}-s`, `${t}-vpc`, "10.70.0.0/24", { namespaces: [ns] }));
    await waitReady(Subnets, `${t}-s`);
    const names = Array.from({ length: 100 }, (_, i) => `p${i}`);
    await Promise.all(
      names.map((n, i) => client.create(Resources.Pod, podObject(ns, n, { node: `kwok-plain-${i % 3}` }))),
    );
    await waitFor(
      "some endpoints",
      async () => (await client.list(Endpoints, { namespace: ns })).items.length >= 20,
      {
        timeoutMs: 60_000,
        intervalMs: 20,
      },
    );
    // Restart: a new manager with fresh caches and pools, rebuilt from the API server.
    await manager.stop();
    ({ manager } = await startNetworkManager(client));
    const eps = await waitFor(
      "100 endpoints",
      async () => {
        const list = (await client.list<Endpoint>(Endpoints, { namespace: ns })).items;
        return list.length === 100 ? list : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const ips = eps.map((e) => e.spec.ip);
    expect(new Set(ips).size).to.equal(100);
    const claims = (
      await client.list<IPAddress>(IPAddresses, { labelSelector: `network.centaurus.io/subnet=${t}-s` })
    ).items;
    await waitFor(
      "exactly one claim per pod",
      async () => {
        const c = (
          await client.list<IPAddress>(IPAddresses, { labelSelector: `network.centaurus.io/subnet=${t}-s` })
        ).items;
        return c.length === 100;
      },
      { timeoutMs: 60_000 },
    );
    for (const e of eps) {
      expect(
        claims.some((c) => c.spec.ip === e.spec.ip && c.spec.endpoint.podUID === e.spec.pod.uid),
        e.spec.ip,
      ).to.equal(true);
    }
    const pods = (await client.list(Resources.Pod, { namespace: ns })).items;
    await waitFor("every pod annotated", async () => {
      const list = (await client.list(Resources.Pod, { namespace: ns })).items;
      return list.every((p) => p.metadata.annotations?.[IP_ANNOTATION]);
    });
    expect(pods).to.have.length(100);
    await client.delete(Resources.Namespace, ns);
    await waitFor(
      "addresses returned",
      async () => {
        const c = (
          await client.list<IPAddress>(IPAddresses, { labelSelector: `network.centaurus.io/subnet=${t}-s` })
        ).items;
        return c.length === 0;
      },
      { timeoutMs: 90_000 },
    );
  });
});
