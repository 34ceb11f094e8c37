// Benchmark: the data plane in the loop (root only).
//
//   npx tsx bench/dataplane.ts [--sizes 10,100,1000] [--probes 20] [--iperf-seconds 5]
//
// 1. CNI ADD to first packet: two namespace "hosts" (test/fixtures/dataplane.ts), h2 the
//    subnet's bouncer with a peer pod. h1 is filled to N endpoints (pods through the plugin),
//    then each probe creates a Pod, runs CNI ADD at once (so ADD includes waiting for the
//    controller's VPCEndpoint) and pings the peer on h2 every 5 ms until the first reply,
//    which needs h1's agent and the bouncer's agent to have programmed it. p50/p99 per N; the
//    10-endpoint figure is the same-run baseline (flat is the goal).
// 2. TCP throughput pod to pod across the hosts: iperf3 through the VPC, against the same
//    run's plain kernel path (veth, IP forwarding and a static VXLAN device) between pods on
//    the same two hosts; and through the VPC with every pod isolated by a NetworkPolicy
//    (allow-set lookups and conntrack on both veths) against the VPC without one.

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Subnet, Subnets, type VPC, VPCs } from "../controllers/network/api.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import {
  agentBinaries,
  Lab,
  type LabPod,
  nameOn,
  registerHosts,
  sh,
  tryIn,
} from "../test/fixtures/dataplane.ts";
import { RangeGuard } from "../test/fixtures/dataplane-guard.ts";
import { installNetwork, podObject, startNetworkManager } from "../test/fixtures/network.ts";
import { plainVxlanPair } from "./dataplane-baseline.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,100,1000" },
    probes: { type: "string", default: "20" },
    "iperf-seconds": { type: "string", default: "5" },
    "no-record": { type: "boolean", default: false },
  },
});
const SIZES = (values.sizes ?? "").split(",").map(Number);
const PROBES = Number(values.probes);
const NS = "bench-dp";
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const bin = await agentBinaries();
if (process.getuid?.() !== 0 || !bin)
  throw new Error("needs root and the agent binaries (bash hack/build-agent.sh)");
const cluster = await LocalCluster.up({
  name: `bench-dp-${process.pid}`,
  nodes: { plain: 0, gpu: 0, edge: 0 },
});
const guard = new RangeGuard(
  ["10.213.0.0/16", "10.214.0.0/16", "10.216.0.0/16"],
  `centaurus-bench-${process.pid}`,
);
const lab = new Lab(bin, `bd${process.pid % 10000}`, cluster.kubeconfigYaml());
const [h1, h2] = ["bench-h1", "bench-h2"] as const;
const rows: string[] = [];
try {
  const client = await cluster.clientFor();
  await installNetwork(client);
  const { manager } = await startNetworkManager(client);
  await guard.install();
  await lab.createHosts([h1, h2], "10.213.0");
  await registerHosts(client, lab);
  const subnet = nameOn("bench", "subnet", [h1, h2], h2);
  await client.create(Resources.Namespace, { metadata: { name: NS } });
  await client.create<VPC>(VPCs, {
    metadata: { name: "bench" },
    spec: { cidr: "10.214.0.0/16", tenant: "bench", dividers: 1 },
  });
  await client.create<Subnet>(Subnets, {
    metadata: { name: subnet },
    spec: { vpc: "bench", cidr: "10.214.0.0/16", namespaces: [NS], bouncers: 1 },
  });
  await waitFor("subnet ready", async () =>
    (await client.get<Subnet>(Subnets, subnet)).status?.conditions?.some(
      (c) => c.type === "Ready" && c.status === "True",
    ),
  );
  lab.startAgent(h1);
  lab.startAgent(h2);
  const add = async (host: string, name: string): Promise<LabPod> => {
    await client.create(Resources.Pod, podObject(NS, name, { node: host }));
    return lab.addPod(host, NS, name);
  };
  const peer = await add(h2, "peer");
  let filled = 0;
  for (const size of SIZES) {
    log(`filling h1 to ${size} endpoints`);
    const worker = async () => {
      while (filled < size) await add(h1, `fill-${filled++}`);
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const times: number[] = [];
    const addTimes: number[] = [];
    for (let i = 0; i < PROBES; i++) {
      const name = `probe-${size}-${i}`;
      await client.create(Resources.Pod, podObject(NS, name, { node: h1 }));
      const t0 = performance.now();
      const p = await lab.addPod(h1, NS, name);
      addTimes.push(performance.now() - t0);
      const r = await tryIn(p.netns, "ping", "-c", "1", "-i", "0.005", "-w", "20", peer.ip);
      if (r.code !== 0) {
        for (const h of [h1, h2]) log(`${h}: ${JSON.stringify(await lab.dump(h))}`);
        log(await sh("tail", "-n", "5", `${lab.dir}/agent-${h1}.log`, `${lab.dir}/agent-${h2}.log`));
        throw new Error(`${name}: no reply from the peer within 20 s: ${r.out}`);
      }
      times.push(performance.now() - t0);
      await lab.deletePod(p);
      await client.delete(Resources.Pod, name, NS);
    }
    const f = (x: number) => `${x.toFixed(0)} ms`;
    const row = `| ${size} | ${f(pct(times, 50))} | ${f(pct(times, 99))} | ${f(pct(addTimes, 50))} | ${f(pct(addTimes, 99))} | ${times.length} |`;
    log(row);
    rows.push(row);
  }
  // Throughput: through the VPC, then the plain kernel path between the same hosts.
  const secs = values["iperf-seconds"] ?? "5";
  const iperf = async (server: string, client: string, ip: string) => {
    const s = lab.spawnIn(server, "iperf3", "-s", "-1", "-B", ip);
    await new Promise((r) => setTimeout(r, 300));
    const out = await sh("ip", "netns", "exec", client, "iperf3", "-c", ip, "-t", secs, "-J");
    s.kill();
    return (JSON.parse(out).end.sum_received.bits_per_second as number) / 1e9;
  };
  const src = await add(h1, "iperf-src");
  const vpc = await iperf(peer.netns, src.netns, peer.ip);
  // The same path with every pod isolated both ways (allowing iperf3's port): the allow-set
  // lookups and conntrack on both veths, against the run without a policy just above.
  await client.create(Resources.NetworkPolicy, {
    metadata: { name: "bench-iperf", namespace: NS },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ ports: [{ protocol: "TCP", port: 5201 }] }],
      egress: [{ ports: [{ protocol: "TCP", port: 5201 }] }],
    },
  });
  type Sets = { localInterfaces: Array<{ ingressSet?: number; egressSet?: number }> };
  await waitFor("the policy is in both hosts' maps", async () => {
    for (const h of [h1, h2]) {
      const d = (await lab.dump(h)) as unknown as Sets;
      if (!d.localInterfaces.every((i) => i.ingressSet && i.egressSet)) return false;
    }
    return true;
  });
  const denied = await lab.dump(h1);
  const withPolicy = await iperf(peer.netns, src.netns, peer.ip);
  // The policy really is in the path: ping (no port, so not allowed) is dropped now.
  const ping = await tryIn(src.netns, "ping", "-c", "1", "-W", "1", peer.ip);
  if (ping.code === 0 || (await lab.dump(h1)).counters.denyEgress === denied.counters.denyEgress)
    throw new Error(`the NetworkPolicy is not enforced: ping exit ${ping.code}`);
  rows.push(
    `| iperf3 ${secs} s, 1 stream | VPC, both pods isolated by NetworkPolicy ${withPolicy.toFixed(3)} Gbit/s | VPC without a policy ${vpc.toFixed(3)} Gbit/s | ratio ${(withPolicy / vpc).toFixed(2)} |`,
  );
  log(rows.at(-1) ?? "");
  await client.delete(Resources.NetworkPolicy, "bench-iperf", NS);
  const plain = await plainVxlanPair(lab, h1, h2);
  const kernel = await iperf(plain.server, plain.client, plain.serverIP);
  rows.push(
    `| iperf3 ${secs} s, 1 stream | VPC (eBPF + VXLAN external) ${vpc.toFixed(2)} Gbit/s | plain veth + kernel VXLAN ${kernel.toFixed(2)} Gbit/s | ratio ${(vpc / kernel).toFixed(2)} |`,
  );
  log(rows.at(-1) ?? "");
  await manager.stop();
} finally {
  await lab.teardown([h1, h2]);
  await guard.remove();
  await cluster.down();
}
const text = [
  `\n### dataplane — ${new Date().toISOString().slice(0, 16)}Z\n`,
  "Two namespace hosts, h2 the bouncer; agents and plugin as in test/integration/dataplane-vpc.test.ts; the 10-endpoint row is the baseline.\n",
  "| endpoints on h1 | ADD → first reply p50 | p99 | ADD alone p50 | p99 | probes |",
  "| --- | --- | --- | --- | --- | --- |",
  ...rows.filter((r) => !r.startsWith("| iperf3")),
  "",
  "| throughput | through the VPC | same-run baseline | |",
  "| --- | --- | --- | --- |",
  ...rows.filter((r) => r.startsWith("| iperf3")),
  "",
].join("\n");
process.stdout.write(text);
if (!values["no-record"]) appendFileSync("bench/RESULTS.md", text);
