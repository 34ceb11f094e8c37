// The data plane with real packets: three "hosts" (network namespaces on an underlay bridge),
// each with its node agent against the real API server, and "pods" wired by the CNI plugin
// as containerd calls it. Pods of one VPC reach each other across hosts through the subnet's
// bouncer and across subnets through the VPC's divider; a VPC with the same CIDR stays apart;
// deleting a pod removes its entries; an agent killed mid-stream keeps traffic flowing from
// its pinned maps and converges when it is back. No test packet reaches the root namespace.

import { expect } from "chai";
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
import { Resources } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { agentBinaries, Lab, type LabPod, nameOn, registerHosts, sh, tryIn } from "../fixtures/dataplane.ts";
import { RangeGuard } from "../fixtures/dataplane-guard.ts";
import { createPod, installNetwork, startNetworkManager } from "../fixtures/network.ts";

const UNDERLAY = "10.213.0";
const RANGES = ["10.213.0.0/16", "10.214.0.0/16"];
const PEER = "test/fixtures/dataplane-peer.cjs";

async function skipUnlessPossible(ctx: Mocha.Context): Promise<string | undefined> {
  const why =
    process.getuid?.() !== 0
      ? "needs root (network namespaces, eBPF)"
      : !(await sh("sh", "-c", "command -v ping").catch(() => ""))
        ? "needs ping (apt-get install iputils-ping)"
        : undefined;
  const bin = why ? undefined : await agentBinaries();
  if (why || !bin) {
    console.log(
      `      dataplane tests skipped: ${why ?? "agent binaries absent (bash hack/build-agent.sh)"}`,
    );
    ctx.skip();
  }
  return bin;
}

describe("dataplane: VPC packets between hosts", function () {
  this.timeout(240_000);
  let client: KubeClient;
  let manager: Manager | undefined;
  let lab: Lab | undefined;
  let guard: RangeGuard | undefined;
  let nodes: string[] = [];
  const hosts = { h1: "", h2: "", h3: "" };
  const names = { nsA: "", nsA2: "", nsB: "", vpcA: "", vpcB: "", a1: "", a2: "", b1: "" };
  const pods = new Map<string, LabPod>();

  const ping = (from: LabPod, ip: string) => tryIn(from.netns, "ping", "-c", "1", "-W", "2", ip);
  const ask = (from: LabPod, ip: string, port = "7000") =>
    tryIn(from.netns, process.execPath, PEER, "ask", ip, port);
  const program = (node: string) => client.get<NodeProgram>(NodePrograms, node);

  async function pod(host: string, namespace: string, name: string): Promise<LabPod> {
    await createPod(client, namespace, name, { node: host });
    const p = await (lab as Lab).addPod(host, namespace, name);
    pods.set(name, p);
    const server = (lab as Lab).spawnIn(p.netns, process.execPath, PEER, "serve", name, "7000");
    await new Promise((resolve) => server.stdout?.once("data", resolve));
    // Provisioned when its subnet's bouncer (h3 for every subnet here) holds it too.
    const via = host === hosts.h3 ? undefined : (lab as Lab).hostIPs.get(host);
    await waitFor(`the bouncer learns ${name}`, async () =>
      (await (lab as Lab).dump(hosts.h3)).endpoints.some(
        (e) => e.ip === p.ip && (via ? e.host === via : e.local),
      ),
    );
    return p;
  }

  before(async function () {
    const bin = await skipUnlessPossible(this);
    const cluster = testCluster();
    client = await cluster.clientFor();
    await installNetwork(client);
    ({ manager } = await startNetworkManager(client));
    const id = uniqueName("dp");
    guard = new RangeGuard(RANGES, `centaurus-${id}`);
    await guard.install();
    lab = new Lab(bin as string, id, cluster.kubeconfigYaml());
    Object.assign(hosts, { h1: `${id}-h1`, h2: `${id}-h2`, h3: `${id}-h3` });
    nodes = [hosts.h1, hosts.h2, hosts.h3];
    await lab.createHosts(nodes, UNDERLAY);
    await registerHosts(client, lab);
    // Roles by the controller's own hash: bouncers of both subnets on h3, VPC A's divider on h2.
    const all = (await client.list(Resources.Node)).items.map((n) => n.metadata.name ?? "");
    const { h1, h2, h3 } = hosts;
    names.vpcA = nameOn(`${id}-a`, "vpc", all, h2);
    names.vpcB = nameOn(`${id}-b`, "vpc", all, h1);
    names.a1 = nameOn(`${id}-a1`, "subnet", all, h3);
    names.a2 = nameOn(`${id}-a2`, "subnet", all, h3);
    names.b1 = nameOn(`${id}-b1`, "subnet", all, h3);
    names.nsA = `${id}-a`;
    names.nsA2 = `${id}-a2`;
    names.nsB = `${id}-b`;
    for (const ns of [names.nsA, names.nsA2, names.nsB])
      await client.create(Resources.Namespace, { metadata: { name: ns } });
    const subnets: Array<[string, string, string, string]> = [
      [names.a1, names.vpcA, "10.214.1.0/24", names.nsA],
      [names.a2, names.vpcA, "10.214.2.0/24", names.nsA2],
      [names.b1, names.vpcB, "10.214.1.0/24", names.nsB],
    ];
    for (const [vpc, tenant] of [
      [names.vpcA, `${id}-ta`],
      [names.vpcB, `${id}-tb`],
    ])
      await client.create<VPC>(VPCs, {
        metadata: { name: vpc },
        spec: { cidr: "10.214.0.0/16", tenant, dividers: 1 },
      });
    for (const [name, vpc, cidr, ns] of subnets)
      await client.create<Subnet>(Subnets, {
        metadata: { name },
        spec: { vpc, cidr, namespaces: [ns], bouncers: 1 },
      });
    await waitFor("subnets ready", async () => {
      const ready = await Promise.all(
        subnets.map(async ([n]) =>
          (await client.get<Subnet>(Subnets, n)).status?.conditions?.some(
            (c) => c.type === "Ready" && c.status === "True",
          ),
        ),
      );
      return ready.every(Boolean);
    });
    for (const n of nodes) lab.startAgent(n);
  });

  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !lab) return;
    for (const n of nodes) console.log(`--- ${n}`, JSON.stringify(await lab.dump(n).catch((e) => String(e))));
    for (const n of nodes) console.log(`--- ${n} status`, JSON.stringify((await program(n)).status));
    console.log(await sh("tail", "-n", "20", ...nodes.map((n) => `${lab?.dir}/agent-${n}.log`)));
  });

  after(async function () {
    this.timeout(60_000);
    await lab?.teardown(nodes);
    await guard?.remove();
    await manager?.stop();
    if (!client) return;
    for (const ns of [names.nsA, names.nsA2, names.nsB])
      if (ns) await client.delete(Resources.Namespace, ns).catch(() => false);
    for (const s of [names.a1, names.a2, names.b1]) if (s) await client.delete(Subnets, s).catch(() => false);
    for (const n of nodes) await client.delete(Resources.Node, n).catch(() => false);
  });

  it("the plugin answers VERSION, and ADD fails with a CNI error when no VPCEndpoint comes", async () => {
    const l = lab as Lab;
    const version = await l.cni("VERSION", { namespace: "x", name: "x", netns: "none", host: hosts.h1 });
    expect(version.json.supportedVersions).to.include("1.0.0");
    // A pod in a namespace no subnet serves never gets an endpoint.
    const ns = uniqueName("nonet");
    await client.create(Resources.Namespace, { metadata: { name: ns } });
    await createPod(client, ns, "lonely", { node: hosts.h1 });
    await sh("ip", "netns", "add", `${l.id}-lonely`);
    try {
      const res = await l.cni(
        "ADD",
        { namespace: ns, name: "lonely", netns: `${l.id}-lonely`, host: hosts.h1 },
        { timeoutSeconds: 1 },
      );
      expect(res.code).to.equal(1);
      expect(res.json.code).to.equal(11);
      expect(String(res.json.msg)).to.match(
        new RegExp(`no VPCEndpoint for pod ${ns}/lonely interface eth0 after 1s`),
      );
      expect((await tryIn(`${l.id}-lonely`, "ip", "-o", "link")).out).to.not.include("eth0");
    } finally {
      await sh("ip", "netns", "del", `${l.id}-lonely`);
      await client.delete(Resources.Namespace, ns);
    }
  });

  it("pods of one VPC reach each other across hosts through the subnet's bouncer (ping and TCP)", async () => {
    const { h1, h2, h3 } = hosts;
    const a1 = await pod(h1, names.nsA, "a1");
    const a2 = await pod(h2, names.nsA, "a2");
    const a3 = await pod(h3, names.nsA, "a3");
    // The plugin gave a1 the address the controller claimed, with the tunnel's MTU.
    const vep = (await client.list<Endpoint>(Endpoints, { namespace: names.nsA })).items.find(
      (e) => e.spec.pod.name === "a1",
    );
    expect(a1.ip).to.equal(vep?.spec.ip);
    expect(a1.result.cniVersion).to.equal("1.0.0");
    expect(a1.result.interfaces).to.deep.include({
      name: "eth0",
      mac: vep?.spec.mac,
      sandbox: `/run/netns/${a1.netns}`,
    });
    expect((await tryIn(a1.netns, "ip", "-o", "link", "show", "eth0")).out).to.include("mtu 1450");
    // h1 holds only its own endpoint: a2 is unknown there and must go through h3, the bouncer.
    const h1Map = await (lab as Lab).dump(h1);
    expect(h1Map.endpoints.map((e) => e.ip))
      .to.include(a1.ip)
      .and.not.include(a2.ip);
    const before = (await (lab as Lab).dump(h3)).counters;
    expect((await ping(a1, a2.ip)).code, `ping ${a2.ip}`).to.equal(0);
    expect((await ask(a1, a2.ip)).out.trim()).to.equal("a2");
    expect((await ask(a2, a1.ip)).out.trim()).to.equal("a1");
    expect((await ping(a2, a3.ip)).code).to.equal(0);
    expect((await ask(a1, a3.ip)).out.trim()).to.equal("a3");
    const after = (await (lab as Lab).dump(h3)).counters;
    expect((after.bounced ?? 0) - (before.bounced ?? 0), "packets the bouncer forwarded").to.be.greaterThan(
      0,
    );
    // Every agent reports what it programmed.
    for (const n of nodes) {
      const np = await waitFor(`${n} programmed`, async () => {
        const p = await program(n);
        return p.status?.programmedGeneration === p.metadata.generation && p;
      });
      expect(np.status?.conditions?.find((c) => c.type === "Ready")?.status).to.equal("True");
    }
    expect((await program(h3)).status?.maps?.endpoints).to.be.at.least(3);
  });

  it("pods in different subnets of the VPC reach each other through the VPC's divider", async () => {
    const { h2, h3 } = hosts;
    const a1 = pods.get("a1") as LabPod;
    const c1 = await pod(h3, names.nsA2, "c1");
    const before = (await (lab as Lab).dump(h2)).counters;
    expect((await ping(a1, c1.ip)).code, `ping ${c1.ip}`).to.equal(0);
    expect((await ask(a1, c1.ip)).out.trim()).to.equal("c1");
    const after = (await (lab as Lab).dump(h2)).counters;
    expect((after.bounced ?? 0) - (before.bounced ?? 0), "packets the divider forwarded").to.be.greaterThan(
      0,
    );
  });

  it("two VPCs with the same CIDR on the same hosts never reach each other", async () => {
    const { h1, h2 } = hosts;
    const [a1, a2] = [pods.get("a1") as LabPod, pods.get("a2") as LabPod];
    const b1 = await pod(h1, names.nsB, "b1");
    const aOnly = [...pods.values()]
      .filter((p) => p.namespace !== names.nsB && p.ip !== b1.ip)
      .map((p) => p.ip);
    expect(aOnly).to.not.be.empty;
    const egressBefore = (await (lab as Lab).dump(h1)).counters.egress;
    for (const ip of aOnly) {
      expect((await ping(b1, ip)).code, `VPC B reaching ${ip}`).to.not.equal(0);
      expect((await ask(b1, ip)).code).to.not.equal(0);
    }
    // Addresses inside VPC B's CIDR but in none of its subnets are dropped, not sent out.
    expect((await (lab as Lab).dump(h1)).counters.egress).to.equal(egressBefore);
    // Same address in both VPCs: each side reaches its own pod.
    const b2 = await pod(h2, names.nsB, "b2");
    expect((await ask(b1, b2.ip)).out.trim()).to.equal("b2");
    if (b2.ip === a2.ip) expect((await ask(a1, a2.ip)).out.trim()).to.equal("a2");
    if (b1.ip === a1.ip) expect((await ask(b2, b1.ip)).out.trim()).to.equal("b1");
  });

  it("a pod reaches its node, and the network beyond it masqueraded, through the gateway", async () => {
    const { h1, h2 } = hosts;
    const l = lab as Lab;
    const [a1, b1] = [pods.get("a1") as LabPod, pods.get("b1") as LabPod];
    for (const h of [h1, h2]) {
      const server = l.spawnIn(l.hostNetns(h), process.execPath, PEER, "serve", `node-${h}`, "7001");
      await new Promise((resolve) => server.stdout?.once("data", resolve));
    }
    const [ip1, ip2] = [l.hostIPs.get(h1) as string, l.hostIPs.get(h2) as string];
    const before = (await l.dump(h1)).counters;
    // Its own node, from two VPCs with the same CIDR (their egress addresses differ).
    expect((await ping(a1, ip1)).code, `ping the node ${ip1}`).to.equal(0);
    expect((await ask(a1, ip1, "7001")).out.trim()).to.equal(`node-${h1}`);
    expect((await ask(b1, ip1, "7001")).out.trim()).to.equal(`node-${h1}`);
    // Another machine on the node's network: masqueraded to the node's address.
    expect((await ping(a1, ip2)).code, `ping ${ip2} beyond the node`).to.equal(0);
    expect((await ask(a1, ip2, "7001")).out.trim()).to.equal(`node-${h2}`);
    expect(((await l.dump(h1)).counters.egress ?? 0) - (before.egress ?? 0)).to.be.greaterThan(0);
  });

  it("deleting a pod removes its entries on its host and on the bouncer", async () => {
    const { h1, h3 } = hosts;
    const l = lab as Lab;
    const gone = await pod(h1, names.nsA, "gone");
    await waitFor("the bouncer knows the new pod", async () =>
      (await l.dump(h3)).endpoints.some((e) => e.ip === gone.ip),
    );
    expect((await l.cni("CHECK", gone)).code, "CHECK of a wired pod").to.equal(0);
    const res = await l.deletePod(gone);
    expect(res.code).to.equal(0);
    expect((await l.cni("DEL", gone)).code, "a second DEL is fine (CNI: idempotent)").to.equal(0);
    const check = await l.cni("CHECK", gone);
    expect(check.code, "CHECK of a deleted pod").to.equal(1);
    expect(check.json.msg).to.be.a("string").and.not.empty;
    await client.delete(Resources.Pod, "gone", names.nsA);
    pods.delete("gone");
    const inVPC = (d: Awaited<ReturnType<Lab["dump"]>>) =>
      d.endpoints.some(
        (e) =>
          e.ip === gone.ip && e.vni === d.endpoints.find((x) => x.ip === (pods.get("a1") as LabPod).ip)?.vni,
      );
    await waitFor("h1 forgets the pod", async () => {
      const d = await l.dump(h1);
      return !inVPC(d) && !d.localInterfaces.some((i) => i.ip === gone.ip);
    });
    await waitFor("the bouncer forgets the pod", async () => !inVPC(await l.dump(h3)));
    const links = (await tryIn(l.hostNetns(h1), "ip", "-o", "link")).out;
    expect(links.split("\n").filter((x) => / vc[0-9a-f]{11}@/.test(x))).to.have.length(
      [...pods.values()].filter((p) => p.host === h1).length,
    );
  });

  it("an agent killed mid-stream leaves traffic flowing, and converges when restarted", async () => {
    const { h1, h3 } = hosts;
    const l = lab as Lab;
    const [a1, a2, a3] = ["a1", "a2", "a3"].map((n) => pods.get(n) as LabPod) as [LabPod, LabPod, LabPod];
    const stream = l.spawnIn(a1.netns, process.execPath, PEER, "stream", a2.ip, "7000");
    let echoes = 0;
    stream.stdout?.on("data", (d: Buffer) => {
      echoes = Number(d.toString().trim().split("\n").pop());
    });
    await waitFor("the stream runs", () => echoes > 5, { timeoutMs: 10_000 });
    await l.stopAgent(h1);
    await l.stopAgent(h3); // the bouncer on the path
    const atKill = echoes;
    await waitFor("echoes go on with both agents dead", () => echoes > atKill + 20, { timeoutMs: 10_000 });
    // While h3's agent is away its pod goes: the restarted agent must notice.
    await l.deletePod(a3);
    await client.delete(Resources.Pod, "a3", names.nsA);
    pods.delete("a3");
    const gen = async (n: string) => (await program(n)).metadata.generation;
    await waitFor(
      "h3's program drops a3",
      async () => !(await program(h3)).spec.localEndpoints.some((e) => e.pod === "a3"),
    );
    l.startAgent(h1);
    l.startAgent(h3);
    for (const n of [h1, h3])
      await waitFor(`${n} converges`, async () => {
        const p = await program(n);
        return (
          p.status?.programmedGeneration === (await gen(n)) &&
          !(await l.dump(n)).localInterfaces.some((i) => i.ip === a3.ip)
        );
      });
    const atRestart = echoes;
    await waitFor("the stream survives the restart", () => echoes > atRestart + 20, { timeoutMs: 10_000 });
    expect(stream.exitCode).to.equal(null);
    stream.kill();
    expect((await ask(a1, a2.ip)).out.trim()).to.equal("a2");
  });

  it("no packet with a test address reached the root namespace or the main interface", async () => {
    expect(pods.size).to.be.greaterThan(2); // the traffic above ran
    expect(await (guard as RangeGuard).packets()).to.equal(0);
  });
});
