// A real node: this cluster's own containerd (with runc and Debian's CNI plugins) and a
// kubelet, on this machine, running real containers. Several clusters can each have one.
//
// Both processes run in a private mount namespace of their own with fresh tmpfs over /run and
// /var/lib: what kubelet and containerd put outside their folders (the network namespace
// files in /run/netns, shim sockets in /run/containerd, /var/lib/kubelet/device-plugins, CNI
// caches in /var/lib/cni) never reaches the host, and every mount they make (pod volumes,
// container root filesystems) disappears with the namespace when the last of them dies.
// Both, and every pod, run under one cgroup root per cluster in every hierarchy, so `down`
// finds and kills exactly the processes this node started, whatever reparented them.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { hackScript } from "./binaries.ts";
import { GUESTS_NODE_LABEL, PROFILE_LABEL } from "./nodes.ts";
import { issueCert, type Pki } from "./pki.ts";
import {
  cniConfig,
  containerdConfig,
  hostNames,
  type KubeletPorts,
  kubeletConfig,
  podSubnet,
  REAL_NODE_NAME,
  realNodeLayout,
} from "./real-node-config.ts";
import {
  claimSubnet,
  createCgroups,
  exposePort,
  killCgroupTree,
  leftovers,
  releaseSubnet,
  setUpNetwork,
  tearDownNetwork,
} from "./real-node-host.ts";

export interface RealNodeState {
  subnet: number;
  ports: KubeletPorts;
  pids: { containerd?: number; kubelet?: number };
  /** Host ports on 127.0.0.1 that pods reach at the gateway (exposeToPods). */
  exposed?: number[];
}

/**
 * Whether real nodes can run here: undefined when they can, else one line saying why and how
 * to get them (from hack/install-real-node.sh --check, which installs nothing).
 */
export function realNodesUnavailable(): string | undefined {
  let out: string;
  try {
    out = execFileSync("bash", [hackScript("install-real-node.sh"), "--check"], { encoding: "utf8" });
  } catch (err) {
    return `checking for real nodes failed: ${String(err)}`;
  }
  const last = out.trim().split("\n").pop() ?? "";
  return last === "real nodes: ready" ? undefined : last.replace(/^real nodes: unavailable: /, "");
}

/** The folder of the hand-packed node images (hack/build-node-images.sh, cached by content). */
function nodeImages(): string {
  return (
    execFileSync("bash", [hackScript("build-node-images.sh")], { encoding: "utf8" })
      .trim()
      .split("\n")
      .pop() ?? ""
  );
}

export interface RealNodeEnv {
  cluster: string;
  clusterDir: string;
  clustersHome: string;
  binDir: string;
  pki: Pki;
  server: string;
  apiserverPort: number;
  logFile: (c: "containerd" | "kubelet") => string;
}

function claimsDir(env: RealNodeEnv): string {
  return join(env.clustersHome, ".real-node-subnets");
}

/**
 * Starts `command` detached, its output in logs/<c>.log, behind `prefix` (unshare, nsenter).
 * A shell first joins the node's cgroup in every hierarchy, runs `setup`, then becomes the
 * command itself (so the pid is the command's).
 */
function spawnDetached(
  env: RealNodeEnv,
  c: "containerd" | "kubelet",
  prefix: string[],
  setup: string,
  command: string[],
  cgroupProcs: string[],
): number {
  const out = openSync(env.logFile(c), "a");
  const script = `for f in $CENTAURUS_CGROUP_PROCS; do echo $$ > "$f" || exit 1; done; ${setup} exec "$0" "$@"`;
  const [cmd, ...args] = [...prefix, "sh", "-c", script, ...command];
  const child: ChildProcess = spawn(cmd ?? "sh", args, {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, CENTAURUS_CGROUP_PROCS: cgroupProcs.join(" ") },
  });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${c}`);
  return child.pid;
}

async function waitFor(what: string, deadline: number, check: () => Promise<boolean> | boolean, log: string) {
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) {
      const last = readFileSync(log, "utf8").trimEnd().split("\n").slice(-15).join("\n");
      throw new Error(`${what} was not ready in time; last lines of ${log}:\n${last}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Writes the node's certificates and configuration, sets up its host state, starts
 * containerd, imports the node images, starts kubelet and waits for the Node to be Ready.
 */
export async function startRealNode(
  env: RealNodeEnv,
  ports: KubeletPorts,
  save: (s: RealNodeState) => void,
  progress: (l: string) => void,
  nodeReady: () => Promise<boolean>,
  deadline: number,
): Promise<RealNodeState> {
  const layout = realNodeLayout(env.clusterDir);
  const names = hostNames(env.cluster);
  for (const d of [
    layout.containerdRoot,
    layout.containerdState,
    layout.kubeletRoot,
    layout.cniConfDir,
    layout.cniIpamDir,
  ]) {
    mkdirSync(d, { recursive: true });
  }
  const state: RealNodeState = {
    subnet: claimSubnet(claimsDir(env), env.cluster, env.clustersHome),
    ports,
    pids: {},
  };
  save(state);
  const net = podSubnet(state.subnet);
  const pkiDir = dirname(env.pki.caCert);
  issueCert(
    pkiDir,
    "kubelet-serving",
    `/CN=${REAL_NODE_NAME}`,
    `IP:127.0.0.1,IP:${net.gateway},DNS:${REAL_NODE_NAME}`,
  );
  issueCert(pkiDir, "kubelet-client", `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`);
  writeFileSync(layout.kubeletKubeconfig, kubeletKubeconfig(env, pkiDir), { mode: 0o600 });
  writeFileSync(layout.containerdConfig, containerdConfig(layout));
  writeFileSync(join(layout.cniConfDir, "10-centaurus.conflist"), cniConfig(layout, names, state.subnet));
  const servingCert = join(pkiDir, "kubelet-serving.crt");
  const servingKey = join(pkiDir, "kubelet-serving.key");
  writeFileSync(
    layout.kubeletConfig,
    kubeletConfig({ layout, names, ports, caCert: env.pki.caCert, servingCert, servingKey }),
  );
  const procs = createCgroups(names.cgroupRoot, "node");
  setUpNetwork(names, state.subnet, { apiserver: env.apiserverPort, kubelet: ports.port });

  progress(`  real node: containerd on ${layout.containerdSocket}, pods on ${names.bridge} (${net.cidr})`);
  const tmpfs = "mount -n -t tmpfs -o mode=0755 tmpfs";
  state.pids.containerd = spawnDetached(
    env,
    "containerd",
    ["unshare", "--mount", "--propagation", "private", "--"],
    `${tmpfs} /run && ${tmpfs} /var/lib &&`,
    ["containerd", "--config", layout.containerdConfig],
    procs,
  );
  save(state);
  const ctr = (args: string[]) =>
    execFileSync("ctr", ["--address", layout.containerdSocket, "-n", "k8s.io", ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  await waitFor("containerd", deadline, () => ctr(["version"]).includes("Server"), env.logFile("containerd"));
  const images = nodeImages();
  for (const image of ["pause.tar", "busybox.tar"]) ctr(["image", "import", join(images, image)]);

  progress(`  real node: kubelet ${REAL_NODE_NAME} on 127.0.0.1:${ports.port}`);
  state.pids.kubelet = spawnDetached(
    env,
    "kubelet",
    ["nsenter", `--mount=/proc/${state.pids.containerd}/ns/mnt`, "--"],
    "",
    [
      join(env.binDir, "kubelet"),
      `--config=${layout.kubeletConfig}`,
      `--kubeconfig=${layout.kubeletKubeconfig}`,
      `--root-dir=${layout.kubeletRoot}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-ip=${net.gateway}`,
      // Its pods are real processes, so VM launchers boot guests here (QEMU, TCG at least).
      `--node-labels=${PROFILE_LABEL}=real,${GUESTS_NODE_LABEL}`,
    ],
    procs,
  );
  save(state);
  await waitFor(`the real node ${REAL_NODE_NAME}`, deadline, nodeReady, env.logFile("kubelet"));
  return state;
}

function kubeletKubeconfig(env: RealNodeEnv, pkiDir: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: env.cluster, cluster: { server: env.server, "certificate-authority": env.pki.caCert } },
    ],
    users: [
      {
        name: REAL_NODE_NAME,
        user: {
          "client-certificate": join(pkiDir, "kubelet-client.crt"),
          "client-key": join(pkiDir, "kubelet-client.key"),
        },
      },
    ],
    contexts: [{ name: "node", context: { cluster: env.cluster, user: REAL_NODE_NAME } }],
    "current-context": "node",
  });
}

/** Kills every process of the node (by its cgroup tree) and undoes its host state. */
export async function stopRealNode(env: RealNodeEnv, state: RealNodeState): Promise<void> {
  const names = hostNames(env.cluster);
  await killCgroupTree(names.cgroupRoot);
  tearDownNetwork(names, state.subnet, {
    apiserver: env.apiserverPort,
    kubelet: state.ports.port,
    exposed: state.exposed,
  });
  releaseSubnet(claimsDir(env), state.subnet, env.cluster);
  const left = leftovers(names, state.subnet);
  if (left.length) throw new Error(`the real node of ${env.cluster} left ${left.join(", ")}`);
}

/**
 * Lets this node's pods reach a server on the host's 127.0.0.1:<port> (another local
 * cluster's API server, say) at <gateway>:<port>; returns that address. Undone by `down`.
 */
export function exposeToPods(env: RealNodeEnv, state: RealNodeState, port: number): string {
  const gateway = podSubnet(state.subnet).gateway;
  if (!state.exposed?.includes(port)) {
    exposePort(hostNames(env.cluster), state.subnet, port);
    state.exposed = [...(state.exposed ?? []), port];
  }
  return `${gateway}:${port}`;
}
