// NetworkPolicy in the kernel, with real TCP connections: two "hosts" (network namespaces) with
// their agents against the real API server, pods wired by the CNI plugin, and policies whose
// allow sets the agents load into eBPF maps and check on every pod's veth, both directions,
// with connection tracking so that replies pass and unrelated packets do not. No test packet
// reaches the root namespace.

import http from "node:http";
import { expect } from "chai";
import {
  type NodeProgram,
  NodePrograms,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "../../controllers/network/api.ts";
import { checkReachability } from "../../controllers/network/netcheck.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { NetworkPolicy } from "../../pkg/kube/core.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { agentBinaries, Lab, type LabPod, nameOn, registerHosts, tryIn } from "../fixtures/dataplane.ts";
import { RangeGuard } from "../fixtures/dataplane-guard.ts";
import { createPod, installNetwork, startNetworkManager } from "../fixtures/network.ts";
import { type PolicyWorld, randomPolicySpec, seeded } from "../fixtures/random-policy.ts";

const UNDERLAY = "10.215.0";
const CIDR = "10.216.0.0/16";
const SUBNET = "10.216.1.0/24";
const PEER = "test/fixtures/dataplane-peer.cjs";
/** How long a denied connection attempt waits for an answer (SYNs are dropped, not refused). */
const DENIED_MS = "800";

describe("dataplane: NetworkPolicy enforced on real packets", function () {
  this.timeout(240_000);
  let client: KubeClient;
  let manager: Manager | undefined;
  let lab: Lab | undefined;
  let guard: RangeGuard | undefined;
  let nodes: string[] = [];
  let ns = "";
  const pods = new Map<string, LabPod>();
  const p = (name: string) => pods.get(name) as LabPod;

  /** Does a TCP connection from one pod to another's port get the server's greeting back? */
  async function connects(from: string, to: string, port: number): Promise<boolean> {
    const r = await tryIn(p(from).netns, process.execPath, PEER, "ask", p(to).ip, String(port), DENIED_MS);
    return r.code === 0 && r.out.trim() === `${to}:${port}`;
  }

  async function expectConnections(cases: Array<[string, string, number, boolean]>): Promise<void> {
    await waitFor(
      "the policy is enforced",
      async () => {
        for (const [from, to, port, want] of cases)
          if ((await connects(from, to, port)) !== want) return false;
        return true;
      },
      { timeoutMs: 15_000 },
    );
    for (const [from, to, port, want] of cases)
      expect(await connects(from, to, port), `${from} → ${to}:${port}`).to.equal(want);
  }

  async function pod(host: string, name: string, labels: Record<string, string>, ports: number[]) {
    await createPod(client, ns, name, {
      node: host,
      labels,
      ports: ports.map((containerPort) => ({ name: `p${containerPort}`, containerPort, protocol: "TCP" })),
    });
    const lp = await (lab as Lab).addPod(host, ns, name);
    pods.set(name, lp);
    for (const port of ports) {
      const s = (lab as Lab).spawnIn(
        lp.netns,
        process.execPath,
        PEER,
        "serve",
        `${name}:${port}`,
        String(port),
      );
      await new Promise((resolve) => s.stdout?.once("data", resolve));
    }
  }

  async function applyPolicy(name: string, spec: NetworkPolicy["spec"]): Promise<void> {
    const existing = await client
      .get<NetworkPolicy>(Resources.NetworkPolicy, name, ns)
      .catch(() => undefined);
    if (existing) await client.replace<NetworkPolicy>(Resources.NetworkPolicy, { ...existing, spec });
    else
      await client.create<NetworkPolicy>(Resources.NetworkPolicy, {
        metadata: { name, namespace: ns },
        spec,
      });
  }

  /** The server's ingress: the client pods, on one port. */
  const serverAllows = (port: number): NetworkPolicy["spec"] => ({
    podSelector: { matchLabels: { app: "server" } },
    policyTypes: ["Ingress"],
    ingress: [
      { from: [{ podSelector: { matchLabels: { role: "client" } } }], ports: [{ protocol: "TCP", port }] },
    ],
  });

  /** The agent's Prometheus metrics, over its unix socket. */
  const scrape = (node: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.get(
        { socketPath: `/run/centaurus/${node}/agent.sock`, path: "/metrics", timeout: 5000 },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => {
            body += d.toString();
          });
          res.on("end", () => resolve(body));
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("metrics: timeout")));
    });

  const deletePolicy = (name: string) => client.delete(Resources.NetworkPolicy, name, ns);

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log("      dataplane policy tests skipped: needs root (network namespaces, eBPF)");
      this.skip();
    }
    const bin = await agentBinaries();
    if (!bin) {
      console.log("      dataplane policy tests skipped: agent binaries absent (bash hack/build-agent.sh)");
      this.skip();
    }
    const cluster = testCluster();
    client = await cluster.clientFor();
    await installNetwork(client);
    ({ manager } = await startNetworkManager(client));
    const id = uniqueName("np");
    guard = new RangeGuard([`${UNDERLAY}.0/24`, CIDR], `centaurus-${id}`);
    await guard.install();
    lab = new Lab(bin as string, id, cluster.kubeconfigYaml());
    nodes = [`${id}-h1`, `${id}-h2`];
    const [h1, h2] = nodes as [string, string];
    await lab.createHosts(nodes, UNDERLAY);
    await registerHosts(client, lab);
    const all = (await client.list(Resources.Node)).items.map((n) => n.metadata.name ?? "");
    const vpc = nameOn(`${id}-v`, "vpc", all, h1);
    const subnet = nameOn(`${id}-s`, "subnet", all, h2);
    ns = `${id}-a`;
    await client.create(Resources.Namespace, { metadata: { name: ns } });
    await client.create<VPC>(VPCs, {
      metadata: { name: vpc },
      spec: { cidr: CIDR, tenant: `${id}-t`, dividers: 1 },
    });
    await client.create<Subnet>(Subnets, {
      metadata: { name: subnet },
      spec: { vpc, cidr: SUBNET, namespaces: [ns], bouncers: 1 },
    });
    await waitFor("subnet ready", async () =>
      (await client.get<Subnet>(Subnets, subnet)).status?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      ),
    );
    for (const n of nodes) lab.startAgent(n);
    // server (h1), client (h2), other (h1), target (h2): traffic crosses the tunnel both ways.
    await pod(h1, "server", { app: "server" }, [7000, 7001, 7080]);
    await pod(h2, "client", { role: "client" }, [7000]);
    await pod(h1, "other", { role: "other" }, [7000]);
    await pod(h2, "target", { app: "target" }, [7000, 7001]);
    await expectConnections([
      ["client", "server", 7000, true],
      ["other", "target", 7001, true],
      ["server", "client", 7000, true],
    ]);
  });

  afterEach(async function () {
    // Each test starts from no policy, whatever the last one left.
    for (const np of (await client.list<NetworkPolicy>(Resources.NetworkPolicy, { namespace: ns })).items)
      await deletePolicy(np.metadata.name ?? "");
    if (this.currentTest?.state !== "failed" || !lab) return;
    for (const n of nodes) console.log(`--- ${n}`, JSON.stringify(await lab.dump(n).catch((e) => String(e))));
    for (const n of nodes)
      console.log(`--- ${n} status`, JSON.stringify((await client.get<NodeProgram>(NodePrograms, n)).status));
  });

  after(async function () {
    this.timeout(60_000);
    await lab?.teardown(nodes);
    await guard?.remove();
    await manager?.stop();
    if (!client) return;
    if (ns) await client.delete(Resources.Namespace, ns).catch(() => false);
    for (const n of nodes) await client.delete(Resources.Node, n).catch(() => false);
  });

  it("an ingress policy allows one port and denies another; replies pass, unrelated packets do not", async () => {
    await applyPolicy("server-ingress", serverAllows(7000));
    // The client deny-all for ingress: its own connections' replies still come in.
    await applyPolicy("client-deny", {
      podSelector: { matchLabels: { role: "client" } },
      policyTypes: ["Ingress"],
    });
    await expectConnections([
      ["client", "server", 7000, true], // allowed, and its replies pass the client's deny-all
      ["client", "server", 7001, false], // another port
      ["other", "server", 7000, false], // another peer (same host as the server)
      ["server", "client", 7000, false], // unrelated: a new connection into the client
      ["server", "target", 7000, true], // the server's egress is not isolated
    ]);
    const programs = await Promise.all(nodes.map((n) => client.get<NodeProgram>(NodePrograms, n)));
    for (const np of programs)
      expect(
        np.status?.conditions?.find((c) => c.type === "PolicyEnforced")?.status,
        np.metadata.name,
      ).to.equal("True");
    const dumps = await Promise.all(nodes.map((n) => (lab as Lab).dump(n)));
    const total = (k: string) => dumps.reduce((s, d) => s + (d.counters[k] ?? 0), 0);
    expect(total("denyIngress"), "denied in the kernel").to.be.greaterThan(0);
    expect(total("conntrackReply"), "replies passed as tracked connections").to.be.greaterThan(0);
    // Per endpoint, as the agents' Prometheus metrics say.
    const metric = async (pod: string, direction: string, verdict: string) => {
      const text = await scrape(p(pod).host);
      const m = text.match(
        new RegExp(
          `namespace="${ns}",pod="${pod}",interface="eth0",direction="${direction}",verdict="${verdict}"\\} (\\d+)`,
        ),
      );
      return Number(m?.[1] ?? -1);
    };
    expect(await metric("server", "ingress", "denied"), "server ingress denied").to.be.greaterThan(0);
    expect(await metric("server", "ingress", "allowed"), "server ingress allowed").to.be.greaterThan(0);
    expect(await metric("client", "ingress", "denied"), "client ingress denied").to.be.greaterThan(0);
    expect(await metric("target", "egress", "denied"), "target egress denied (not isolated)").to.equal(0);
    await deletePolicy("client-deny");
  });

  it("a policy change changes what connects within a second, never wider than both versions", async () => {
    const l = lab as Lab;
    const watch = (from: string, to: string, port: number) => {
      const lines: Array<{ at: number; ok: boolean }> = [];
      const w = l.spawnIn(p(from).netns, process.execPath, PEER, "watch", p(to).ip, String(port));
      w.stdout?.on("data", (d: Buffer) => {
        for (const line of d.toString().trim().split("\n")) {
          const [at, what] = line.split(" ");
          lines.push({ at: Number(at), ok: what === "ok" });
        }
      });
      return { w, lines };
    };
    await applyPolicy("server-ingress", serverAllows(7000));
    await expectConnections([["client", "server", 7001, false]]);
    const opened = watch("client", "server", 7001); // denied now, allowed by the change
    const closed = watch("client", "server", 7000); // allowed now, denied by the change
    const never = watch("other", "server", 7001); // denied before and after
    try {
      await waitFor(
        "the watchers see the current policy",
        () =>
          [opened.lines.at(-1)?.ok === false, closed.lines.at(-1)?.ok === true, never.lines.length > 0].every(
            Boolean,
          ),
        { timeoutMs: 10_000 },
      );
      const changed = Date.now();
      await applyPolicy("server-ingress", serverAllows(7001));
      await waitFor(
        "both watchers see the change",
        () => opened.lines.some((x) => x.ok) && closed.lines.some((x) => !x.ok),
        { timeoutMs: 10_000 },
      );
      const openedAfter = (opened.lines.find((x) => x.ok)?.at ?? 0) - changed;
      const closedAfter = (closed.lines.find((x) => !x.ok)?.at ?? 0) - changed;
      console.log(
        `      policy change enforced: new port open after ${openedAfter} ms, old one closed after ${closedAfter} ms`,
      );
      expect(openedAfter, "ms until the new port connects").to.be.below(1000);
      expect(closedAfter, "ms until the old port stops connecting").to.be.below(1000);
      expect(
        never.lines.some((x) => x.ok),
        "a port neither version allows never connected",
      ).to.equal(false);
    } finally {
      for (const x of [opened, closed, never]) x.w.kill();
    }
    await deletePolicy("server-ingress");
  });

  it("an egress policy holds", async () => {
    await applyPolicy("other-egress", {
      podSelector: { matchLabels: { role: "other" } },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ podSelector: { matchLabels: { app: "target" } } }],
          ports: [{ protocol: "TCP", port: 7001 }],
        },
      ],
    });
    await expectConnections([
      ["other", "target", 7001, true],
      ["other", "target", 7000, false],
      ["other", "server", 7001, false], // not a target (same host)
      ["server", "other", 7000, true], // ingress to it is not isolated, and its replies pass its egress
    ]);
    await deletePolicy("other-egress");
  });

  it("an ipBlock rule with except holds", async () => {
    const client1 = p("client").ip;
    await applyPolicy("target-block", {
      podSelector: { matchLabels: { app: "target" } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ ipBlock: { cidr: "10.216.0.0/16", except: [`${client1}/32`] } }],
          ports: [{ protocol: "TCP", port: 7000 }],
        },
      ],
    });
    await expectConnections([
      ["server", "target", 7000, true],
      ["other", "target", 7000, true],
      ["client", "target", 7000, false], // excepted (same host as the target)
      ["server", "target", 7001, false],
    ]);
    await deletePolicy("target-block");
  });

  it("a named port holds: it resolves on the destination pod's container ports", async () => {
    await applyPolicy("server-named", {
      podSelector: { matchLabels: { app: "server" } },
      policyTypes: ["Ingress"],
      ingress: [{ ports: [{ protocol: "TCP", port: "p7080" }] }],
    });
    await applyPolicy("other-named", {
      podSelector: { matchLabels: { role: "other" } },
      policyTypes: ["Egress"],
      egress: [{ ports: [{ protocol: "TCP", port: "p7001" }] }],
    });
    await expectConnections([
      ["client", "server", 7080, true],
      ["client", "server", 7000, false],
      ["other", "target", 7001, true], // p7001 is 7001 on the target
      ["other", "target", 7000, false],
      ["other", "server", 7080, false], // p7001 means 7001 on the server too
    ]);
    await deletePolicy("server-named");
    await deletePolicy("other-named");
  });

  it("net check agrees with real connections on 200+ random samples, with and without --port", async () => {
    type Tally = { wrong: string[]; n: number; open: number };
    const rnd = seeded(14);
    const listening: Record<string, number[]> = {
      server: [7000, 7001, 7080],
      client: [7000],
      other: [7000],
      target: [7000, 7001],
    };
    const all = Object.keys(listening);
    const world: PolicyWorld = {
      labels: [{ app: "server" }, { role: "client" }, { role: "other" }, { app: "target" }],
      ports: [7000, 7001, 7080, "p7000", "p7001", "p7080"],
      cidr: CIDR,
      ips: all.map((n) => p(n).ip),
    };
    /** Every (from, to, port) with a listener, tried at once per source; the disagreements. */
    async function compare(programs: NodeProgram["spec"][]): Promise<Tally> {
      const wrong: string[] = [];
      let n = 0;
      let open = 0;
      for (const from of all) {
        const targets = all
          .filter((to) => to !== from)
          .flatMap((to) => listening[to]!.map((port) => ({ to, port })));
        const r = await tryIn(
          p(from).netns,
          process.execPath,
          PEER,
          "sweep",
          "600",
          ...targets.map((t) => `${p(t.to).ip}:${t.port}`),
        );
        const seen = JSON.parse(r.out) as Record<string, boolean>;
        for (const to of all.filter((x) => x !== from)) {
          let any = false;
          for (const port of listening[to]!) {
            const observed = seen[`${p(to).ip}:${port}`] === true;
            any ||= observed;
            n++;
            if (observed) open++;
            const said = checkReachability(programs, `${ns}/${from}`, `${ns}/${to}`, { port }).reachable;
            if (said !== observed)
              wrong.push(`${from} → ${to}:${port}: net check ${said}, kernel ${observed}`);
          }
          // Without --port: a port that connects means REACHABLE (others may pass unlistened).
          const said = checkReachability(programs, `${ns}/${from}`, `${ns}/${to}`).reachable;
          if (any && !said)
            wrong.push(`${from} → ${to} (no port): net check NOT REACHABLE, yet a port connects`);
        }
      }
      return { wrong, n, open };
    }
    let samples = 0;
    let opened = 0;
    for (let round = 0; round < 10; round++) {
      for (const np of (await client.list<NetworkPolicy>(Resources.NetworkPolicy, { namespace: ns })).items)
        await deletePolicy(np.metadata.name ?? "");
      const specs = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => randomPolicySpec(rnd, world));
      const names = specs.map((_, i) => `r${round}-${i}`);
      for (const [i, spec] of specs.entries()) await applyPolicy(names[i] as string, spec);
      let last: Tally = { wrong: ["not compared yet"], n: 0, open: 0 };
      await waitFor(
        `round ${round}: the kernel agrees with net check`,
        async () => {
          const programs = (await client.list<NodeProgram>(NodePrograms)).items;
          const ours = programs.filter((np) => nodes.includes(np.metadata.name ?? ""));
          const compiled = new Set(
            ours.flatMap((np) =>
              np.spec.localEndpoints.flatMap((e) => [...e.ingress.policies, ...e.egress.policies]),
            ),
          );
          const current = [...compiled].every((c) => names.some((x) => c.endsWith(`/${x}`)));
          const complete = names.every((x) => [...compiled].some((c) => c.endsWith(`/${x}`)));
          if (!current || !complete) return false;
          if (!ours.every((np) => np.status?.programmedGeneration === np.metadata.generation)) return false;
          last = await compare(programs.map((np) => np.spec));
          return last.wrong.length === 0;
        },
        { timeoutMs: 20_000 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\npolicies ${JSON.stringify(specs)}\n${last.wrong.join("\n")}`);
      });
      samples += last.n;
      opened += last.open;
    }
    console.log(
      `      net check and the kernel agreed on ${samples} (pod pair, port) samples over 10 policy sets (${opened} connected)`,
    );
    expect(samples).to.be.at.least(200);
    // Both outcomes are sampled, many times: the agreement is not vacuous.
    expect(opened).to.be.within(20, samples - 20);
  });

  it("TCP throughput with a policy in the path, against the same path without one", async () => {
    const blast = async () => {
      const r = await tryIn(p("client").netns, process.execPath, PEER, "blast", p("server").ip, "7000", "64");
      expect(r.code, r.out).to.equal(0);
      return Number(r.out.trim());
    };
    const best = async () => Math.max(await blast(), await blast());
    const without = await best();
    await applyPolicy("server-ingress", serverAllows(7000));
    await applyPolicy("client-deny", {
      podSelector: { matchLabels: { role: "client" } },
      policyTypes: ["Ingress"],
    });
    await expectConnections([["client", "server", 7001, false]]);
    const withPolicy = await best();
    console.log(
      `      64 MB echoed across hosts: ${without} MB/s without a policy, ${withPolicy} MB/s with both ends isolated`,
    );
    // Every byte came back through both ends' checks; the rate stays of the same order.
    expect(withPolicy).to.be.greaterThan(without * 0.3);
  });

  it("no packet with a test address reached the root namespace or the main interface", async () => {
    expect(pods.size).to.equal(4);
    expect(await (guard as RangeGuard).packets()).to.equal(0);
  });
});
