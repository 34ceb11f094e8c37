// Real nodes, end to end: two clusters, each with a kubelet and its own containerd on this
// machine, run real containers at the same time; a pod prints, its logs and exec go through the
// API server, it reaches the API server from its own network namespace; `down` leaves nothing
// on the host (processes, mounts, cgroups, interfaces, network namespaces, routes, NAT rules,
// files). Skipped, with one line saying why, where real nodes are unavailable.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { realNodesUnavailable } from "../../pkg/localcluster/real-node.ts";
import { hostNames, REAL_NODE_NAME, TEST_IMAGE } from "../../pkg/localcluster/real-node-config.ts";
import { cgroupPids, leftovers } from "../../pkg/localcluster/real-node-host.ts";
import { startTestCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

function kubectl(c: LocalCluster, args: string[]): string {
  return execFileSync(join(c.state.binDir, "kubectl"), [`--kubeconfig=${c.kubeconfigPath}`, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
}

/**
 * What a real node could leave on the host, outside its cluster's folder: only what has a
 * real node's names (other tests on the machine may make network namespaces and links too).
 */
function hostSnapshot(): Record<string, string[]> {
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : ["(absent)"]);
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });
  return {
    links: sh("ip", ["-o", "link", "show"])
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
      .filter((l) => /^(cz[0-9a-f]{8}|veth[0-9a-f]{8})$/.test(l))
      .sort(),
    netns: ls("/run/netns").filter((n) => n.startsWith("cni-")),
    "/run/containerd": ls("/run/containerd"),
    "/var/lib/kubelet": ls("/var/lib/kubelet"),
    "/var/lib/cni": ls("/var/lib/cni"),
    "/usr/libexec/kubernetes": ls("/usr/libexec/kubernetes"),
    routes: sh("ip", ["-4", "route", "show", "table", "all"])
      .split("\n")
      .filter((r) => r.includes("10.88.")),
    nat: sh("iptables", ["-t", "nat", "-S"])
      .split("\n")
      .filter((r) => r.includes("centaurus centaurus-test-real-")),
    cgroups: ls("/sys/fs/cgroup/memory").filter((d) => d.startsWith("centaurus-test-real-")),
  };
}

/** Running (not merely zombie, which only the reaper's parent can clear) processes of `pids`. */
function running(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  });
}

const podManifest = (name: string, script: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: {
    nodeSelector: { "centaurus.io/node-profile": "real" },
    terminationGracePeriodSeconds: 1,
    containers: [
      { name: "main", image: TEST_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", script] },
    ],
  },
});

describe("e2e: real nodes (kubelet + containerd + runc on this machine)", function () {
  this.timeout(10 * 60_000);
  const clusters: LocalCluster[] = [];
  let hostBefore: Record<string, string[]> = {};

  before(async function (this: Mocha.Context) {
    const why = realNodesUnavailable();
    if (why) {
      process.stderr.write(`real-node tests skipped: real nodes are unavailable here: ${why}\n`);
      this.skip();
    }
    hostBefore = hostSnapshot();
    // Two clusters, each with its own real node, at the same time.
    const started = await Promise.allSettled(
      [uniqueName("test-real-a"), uniqueName("test-real-b")].map((name) =>
        startTestCluster({ name, nodes: { plain: 1, gpu: 0, edge: 0, real: 1 } }),
      ),
    );
    for (const s of started) if (s.status === "fulfilled") clusters.push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  });

  after(async () => {
    for (const c of clusters.splice(0)) await c.down();
  });

  it("runs a pod on each cluster's real node: it prints, logs and exec work, and it reaches its API server", async () => {
    for (const c of clusters) {
      const client = await c.clientFor();
      try {
        const nodes = await client.list<{ metadata: { name?: string; labels?: Record<string, string> } }>(
          Resources.Node,
        );
        const real = nodes.items.find((n) => n.metadata.name === REAL_NODE_NAME);
        expect(real?.metadata.labels?.["centaurus.io/node-profile"]).to.equal("real");
        // The pod talks to the kubernetes Service from its own network namespace.
        const script =
          'echo "hello from $(hostname) in ' +
          c.name +
          '"; nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" </dev/null && echo "api server reachable"; exec sleep 3600';
        await client.create(Resources.Pod, podManifest("hello", script));
        const logs = await waitFor(
          `the pod's output in ${c.name}`,
          () => {
            const out = kubectl(c, ["logs", "hello"]);
            return out.includes("api server reachable") ? out : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 500 },
        );
        expect(logs).to.contain(`hello from hello in ${c.name}`);
        const pod = await client.get<{
          metadata: object;
          status?: { phase?: string; podIP?: string };
          spec?: { nodeName?: string };
        }>(Resources.Pod, "hello", "default");
        expect(pod.spec?.nodeName).to.equal(REAL_NODE_NAME);
        expect(pod.status?.phase).to.equal("Running");
        // exec runs a new process inside the running container (its own pod IP, its own files).
        const exec = kubectl(c, [
          "exec",
          "hello",
          "--",
          "sh",
          "-c",
          "ip -4 -o addr show eth0; cat /etc/passwd | head -1",
        ]);
        expect(exec).to.contain(pod.status?.podIP ?? "no pod ip");
        expect(exec).to.contain("root:x:0:0");
      } finally {
        client.close();
      }
    }
  });

  it("down leaves nothing behind: processes, mounts, cgroups, interfaces, netns, routes, NAT rules, files", async () => {
    const pids = clusters.flatMap((c) => cgroupPids(hostNames(c.name).cgroupRoot));
    expect(pids.length, "the real nodes' processes (kubelet, containerd, shims, pods)").to.be.greaterThan(5);
    const down = clusters.splice(0).map((c) => ({ c, subnet: c.state.real?.subnet ?? -1 }));
    for (const { c } of down) await c.down();
    for (const { c, subnet } of down) {
      expect(existsSync(c.state.dir), `${c.state.dir} is removed`).to.equal(false);
      expect(leftovers(hostNames(c.name), subnet)).to.deep.equal([]);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.to.contain(c.state.dir);
    }
    expect(running(pids), "processes still running").to.deep.equal([]);
    expect(hostSnapshot()).to.deep.equal(hostBefore);
  });
});
