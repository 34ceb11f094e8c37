// The host state a real node takes and gives back: its cgroup root in every hierarchy, its
// pod subnet claim, its bridge, its blackhole route, its NAT rule towards the API server.
// Each setter has an undo that is safe to call when the state is (partly) absent, so `down`
// after a crash at any point leaves nothing behind.
//
// Why NAT: kube-apiserver listens on 127.0.0.1 only, and a pod in its own network namespace
// cannot reach the host's loopback. Pods reach the API server at the kubernetes Service's
// ClusterIP (10.96.0.1:443, what kubelet puts in KUBERNETES_SERVICE_HOST/PORT); a DNAT rule
// that matches only packets arriving on this cluster's own bridge sends them to
// 127.0.0.1:<port>, which the kernel accepts from that bridge only (route_localnet on it).
// Nothing else on the machine's interfaces changes, and several clusters each have their rule.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HostNames, KUBERNETES_SERVICE_IP, podSubnet } from "./real-node-config.ts";

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

// --- cgroups -------------------------------------------------------------------------------

/** Mount points of every cgroup hierarchy (v1 controllers, the named systemd one, v2). */
export function cgroupMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" - "))
    .filter(([, tail]) => /^cgroup2? /.test(tail ?? ""))
    .map(([head]) => head?.split(" ")[4] ?? "")
    .filter((p) => p.startsWith("/sys/fs/cgroup"));
}

/** Creates `<hierarchy>/<root>/<child>` everywhere (cpuset ones get their parent's cpus and mems). */
export function createCgroups(root: string, child: string): string[] {
  const procs: string[] = [];
  for (const mount of cgroupMounts()) {
    for (const rel of [root, join(root, child)]) {
      const dir = join(mount, rel);
      mkdirSync(dir, { recursive: true });
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        const parent = join(dir, "..", f);
        if (existsSync(join(dir, f)) && readFileSync(join(dir, f), "utf8").trim() === "") {
          writeFileSync(join(dir, f), readFileSync(parent, "utf8"));
        }
      }
    }
    procs.push(join(mount, root, child, "cgroup.procs"));
  }
  return procs;
}

function cgroupDirs(root: string): string[] {
  const dirs: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    dirs.push(d); // children first
  };
  for (const mount of cgroupMounts()) if (existsSync(join(mount, root))) walk(join(mount, root));
  return dirs;
}

/** Every process in the cgroup tree `root`, in any hierarchy. */
export function cgroupPids(root: string): number[] {
  const pids = new Set<number>();
  for (const d of cgroupDirs(root)) {
    for (const p of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) if (p) pids.add(Number(p));
  }
  return [...pids];
}

/** The network namespaces (by inode) the given processes are in. */
export function netnsInodes(pids: number[]): Set<string> {
  const out = new Set<string>();
  for (const pid of pids) {
    try {
      out.add(execFileSync("readlink", [`/proc/${pid}/ns/net`], { encoding: "utf8" }).trim());
    } catch {}
  }
  return out;
}

/**
 * SIGKILLs every process in the tree (they are all descendants of the containerd and kubelet
 * this cluster started: pods, shims, the node's own processes) until none is left, then
 * removes the cgroups. Bounded: throws with what is left after `timeoutMs`.
 */
export async function killCgroupTree(root: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = cgroupPids(root);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    const dirs = cgroupDirs(root);
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {}
    }
    if (cgroupDirs(root).length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`could not remove the cgroups of ${root}: still there: ${cgroupDirs(root).join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- pod subnet claims -----------------------------------------------------------------------

/**
 * Claims the lowest free pod subnet index: a directory per index under `claims` (mkdir is
 * atomic, so two clusters starting at once never get the same one), skipping subnets the
 * host already routes. A claim whose cluster folder is gone is stale and is taken over.
 */
export function claimSubnet(claims: string, cluster: string, clustersHome: string): number {
  mkdirSync(claims, { recursive: true });
  const routes = run("ip", ["-4", "route", "show", "table", "all"]);
  for (let i = 0; i < 256; i++) {
    const net = podSubnet(i);
    const claim = join(claims, String(i));
    if (routes.includes(net.prefix) && !existsSync(claim)) continue;
    try {
      mkdirSync(claim);
    } catch {
      const owner = readOwner(claim);
      if (owner === cluster || (owner && !existsSync(join(clustersHome, owner, "state.json")))) {
        writeFileSync(join(claim, "owner"), cluster);
        return i;
      }
      continue;
    }
    writeFileSync(join(claim, "owner"), cluster);
    return i;
  }
  throw new Error("no free pod subnet in 10.88.0.0/16 for a real node: stop some clusters");
}

function readOwner(claim: string): string | undefined {
  try {
    return readFileSync(join(claim, "owner"), "utf8").trim();
  } catch {
    return undefined;
  }
}

export function releaseSubnet(claims: string, index: number, cluster: string): void {
  const claim = join(claims, String(index));
  if (readOwner(claim) === cluster) rmSync(claim, { recursive: true, force: true });
  try {
    rmdirSync(claims); // the last claim gone: leave no empty folder behind
  } catch {}
}

// --- network -------------------------------------------------------------------------------

/**
 * Two DNAT rules, both matching only this cluster's addresses: pods' packets to the kubernetes
 * Service arriving on the bridge go to the API server on 127.0.0.1, and the API server's
 * connections to the node's address (kubelet refuses a loopback node IP, so the node's
 * InternalIP is the bridge's gateway) go to kubelet on 127.0.0.1.
 */
function natRules(
  names: HostNames,
  subnetIndex: number,
  ports: { apiserver: number; kubelet: number; exposed?: number[] },
): string[][] {
  const comment = ["-m", "comment", "--comment", `centaurus ${names.cgroupRoot}`];
  const tcp = (dst: string, port: number) => ["-d", `${dst}/32`, "-p", "tcp", "--dport", String(port)];
  return [
    ["PREROUTING", "-i", names.bridge, ...tcp(KUBERNETES_SERVICE_IP, 443), ...comment].concat([
      "-j",
      "DNAT",
      "--to-destination",
      `127.0.0.1:${ports.apiserver}`,
    ]),
    ["OUTPUT", ...tcp(podSubnet(subnetIndex).gateway, ports.kubelet), ...comment].concat([
      "-j",
      "DNAT",
      "--to-destination",
      `127.0.0.1:${ports.kubelet}`,
    ]),
    ...(ports.exposed ?? []).map((p) => exposeRule(names, subnetIndex, p)),
  ];
}

/** Pods on the bridge reach 127.0.0.1:<port> at <gateway>:<port> (one port asked for by name). */
function exposeRule(names: HostNames, subnetIndex: number, port: number): string[] {
  return ["PREROUTING", "-i", names.bridge, "-d", `${podSubnet(subnetIndex).gateway}/32`, "-p", "tcp"]
    .concat(["--dport", String(port), "-m", "comment", "--comment", `centaurus ${names.cgroupRoot}`])
    .concat(["-j", "DNAT", "--to-destination", `127.0.0.1:${port}`]);
}

export function exposePort(names: HostNames, subnetIndex: number, port: number): void {
  run("iptables", ["-t", "nat", "-A", ...exposeRule(names, subnetIndex, port)]);
}

/** The bridge (with the gateway address), the blackhole route and the NAT rule. */
export function setUpNetwork(
  names: HostNames,
  subnetIndex: number,
  ports: { apiserver: number; kubelet: number },
): void {
  const net = podSubnet(subnetIndex);
  tearDownNetwork(names, subnetIndex, ports);
  // Pod addresses never leave the machine: if the bridge is gone, they go nowhere.
  run("ip", ["route", "add", "blackhole", net.cidr, "metric", "4242"]);
  run("ip", ["link", "add", names.bridge, "type", "bridge"]);
  run("ip", ["addr", "add", `${net.gateway}/24`, "dev", names.bridge]);
  run("ip", ["link", "set", names.bridge, "up"]);
  writeFileSync(`/proc/sys/net/ipv4/conf/${names.bridge}/route_localnet`, "1");
  for (const rule of natRules(names, subnetIndex, ports)) run("iptables", ["-t", "nat", "-A", ...rule]);
}

export function tearDownNetwork(
  names: HostNames,
  subnetIndex: number,
  ports: { apiserver: number; kubelet: number; exposed?: number[] },
): void {
  for (const rule of natRules(names, subnetIndex, ports)) {
    for (let i = 0; i < 10 && tryRun("iptables", ["-t", "nat", "-D", ...rule]); i++) {}
  }
  tryRun("ip", ["link", "del", names.bridge]);
  for (
    let i = 0;
    i < 10 && tryRun("ip", ["route", "del", "blackhole", podSubnet(subnetIndex).cidr, "metric", "4242"]);
    i++
  ) {}
}

/** Whether anything of this node is still on the host (for tests and `cluster status`). */
export function leftovers(names: HostNames, subnetIndex: number): string[] {
  const left: string[] = [];
  if (tryRun("ip", ["link", "show", names.bridge])) left.push(`interface ${names.bridge}`);
  if (run("ip", ["route", "show", "table", "all"]).includes(podSubnet(subnetIndex).prefix))
    left.push(`a route for ${podSubnet(subnetIndex).cidr}`);
  if (run("iptables", ["-t", "nat", "-S"]).includes(`centaurus ${names.cgroupRoot}"`)) left.push("NAT rules");
  if (cgroupDirs(names.cgroupRoot).length > 0) left.push(`cgroups ${names.cgroupRoot}`);
  return left;
}
