// A real Kubernetes control plane on this machine, started as processes: etcd,
// kube-apiserver (RBAC, static tokens, service-account keys), kube-controller-manager,
// kube-scheduler, kwok with fake nodes and, where asked, a real node (real-node.ts: kubelet
// with its own containerd). Several named clusters run side by side on different ports. Everything a cluster owns lives in one folder; `down` kills its processes
// by pid and removes the folder.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import type { KubeClient } from "../kube/client.ts";
import { clientForToken, kubeconfigYaml } from "../kube/config.ts";
import { isAlreadyExists } from "../kube/errors.ts";
import { Resources } from "../kube/resource.ts";
import { ensureBinaries } from "./binaries.ts";
import { fakeNodes, type NodeCounts } from "./nodes.ts";
import { createPki, type Pki, randomToken } from "./pki.ts";
import { isAlive, stopProcesses, survivorsMessage } from "./process.ts";
import {
  exposeToPods,
  type RealNodeEnv,
  type RealNodeState,
  realNodesUnavailable,
  startRealNode,
  stopRealNode,
} from "./real-node.ts";
import { REAL_NODE_NAME } from "./real-node-config.ts";
import { ADMIN_USER, LOCAL_USERS } from "./users.ts";

export { isAlive } from "./process.ts";

export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
] as const;
export type Component = (typeof COMPONENTS)[number];

export interface ClusterState {
  name: string;
  dir: string;
  binDir: string;
  server: string;
  ports: Record<Component | "etcd-peer", number>;
  pids: Partial<Record<Component, number>>;
  tokens: Record<string, string>;
  nodes: NodeCounts;
  extraApiserverArgs: string[];
  /** The real node, when the cluster has one (nodes.real = 1). */
  real?: RealNodeState;
}

export interface UpOptions {
  name: string;
  nodes: NodeCounts;
  /** Fixed API server port; a free one is picked when absent. */
  port?: number;
  extraApiserverArgs?: string[];
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
  readyTimeoutMs?: number;
}

export function clustersHome(): string {
  return process.env.CENTAURUS_HOME ?? join(homedir(), ".centaurus", "clusters");
}

export function clusterDir(name: string): string {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) {
    throw new Error(`bad cluster name "${name}": use lower-case letters, digits and dashes`);
  }
  return join(clustersHome(), name);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function checkPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", () =>
      reject(
        new Error(
          `port ${port} for ${what} is already taken on 127.0.0.1: stop what uses it (ss -ltnp 'sport = :${port}') or pick another port`,
        ),
      ),
    );
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve()));
  });
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Polls `check` until it passes; fails at the deadline, or at once when `pid` (the process
 * being waited for) has exited — a crashed component will not become ready by waiting.
 */
async function poll(
  what: string,
  deadline: number,
  check: () => Promise<boolean>,
  onTimeout: () => string,
  pid?: () => number | undefined,
): Promise<void> {
  for (;;) {
    if (await check().catch(() => false)) return;
    if (pid && !isAlive(pid())) throw new Error(`${what} exited while starting\n${onTimeout()}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready in time\n${onTimeout()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The local control plane of one name: start, stop, restart parts of it, tear it down. */
export class LocalCluster {
  private constructor(readonly state: ClusterState) {}

  get name(): string {
    return this.state.name;
  }
  get kubeconfigPath(): string {
    return join(this.state.dir, "kubeconfig");
  }
  get caData(): string {
    return readFileSync(join(this.state.dir, "pki", "ca.crt")).toString("base64");
  }
  logFile(c: Component): string {
    return join(this.state.dir, "logs", `${c}.log`);
  }

  /** A client that authenticates as one of the static users (admin, tenant-a-admin, ...). */
  clientFor(user: string = ADMIN_USER): Promise<KubeClient> {
    const token = this.state.tokens[user];
    if (!token) throw new Error(`no static user ${user} in cluster ${this.name}`);
    return Promise.resolve(clientForToken(this.state.server, token, this.caData));
  }

  static load(name: string): LocalCluster | undefined {
    const file = join(clusterDir(name), "state.json");
    if (!existsSync(file)) return undefined;
    return new LocalCluster(JSON.parse(readFileSync(file, "utf8")) as ClusterState);
  }

  /**
   * Starts the cluster. Free ports are picked before the components bind them, so another
   * process (or another cluster starting at the same time) can take one in between; when a
   * component fails because its port was taken, the start is retried on fresh ports.
   */
  static async up(opts: UpOptions): Promise<LocalCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await LocalCluster.upOnce(opts);
      } catch (err) {
        const portRace = !opts.port && /address already in use/.test(String(err));
        if (!portRace || attempt >= 3) throw err;
        (opts.progress ?? ((l: string) => process.stderr.write(`${l}\n`)))(
          `a port was taken while ${opts.name} was starting: retrying on other ports`,
        );
      }
    }
  }

  private static async upOnce(opts: UpOptions): Promise<LocalCluster> {
    const progress = opts.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
    const dir = clusterDir(opts.name);
    const existing = LocalCluster.load(opts.name);
    if (existing) {
      const real = existing.state.real?.pids;
      const realAlive = !existing.state.nodes.real || (isAlive(real?.containerd) && isAlive(real?.kubelet));
      if (COMPONENTS.every((c) => isAlive(existing.state.pids[c])) && realAlive) {
        progress(`cluster ${opts.name} is already running`);
        return existing;
      }
      progress(`cluster ${opts.name} was left half-running: cleaning it up first`);
      await existing.down();
    }
    if (opts.nodes.real) {
      const why = realNodesUnavailable();
      if (why)
        throw new Error(
          `cluster ${opts.name} asks for a real node, but real nodes are unavailable here: ${why}`,
        );
    }
    const binDir = await ensureBinaries(progress, opts.nodes.real ? ["kubelet"] : []);
    if (opts.port) await checkPortFree(opts.port, "kube-apiserver");
    const ports = {
      etcd: await freePort(),
      "etcd-peer": await freePort(),
      "kube-apiserver": opts.port ?? (await freePort()),
      "kube-controller-manager": await freePort(),
      "kube-scheduler": await freePort(),
      kwok: await freePort(),
    };
    for (const sub of ["pki", "logs", "etcd"]) mkdirSync(join(dir, sub), { recursive: true });
    const tokens = Object.fromEntries(LOCAL_USERS.map((u) => [u.name, randomToken()]));
    const state: ClusterState = {
      name: opts.name,
      dir,
      binDir,
      server: `https://127.0.0.1:${ports["kube-apiserver"]}`,
      ports,
      pids: {},
      tokens,
      nodes: opts.nodes,
      extraApiserverArgs: opts.extraApiserverArgs ?? [],
    };
    const cluster = new LocalCluster(state);
    try {
      await cluster.bootstrap(progress, Date.now() + (opts.readyTimeoutMs ?? 90_000));
    } catch (err) {
      await cluster.down();
      throw err;
    }
    return cluster;
  }

  private save(): void {
    writeFileSync(join(this.state.dir, "state.json"), JSON.stringify(this.state, null, 2), { mode: 0o600 });
  }

  /** A kubeconfig (YAML) that authenticates as one of the static users. */
  kubeconfigYaml(user: string = ADMIN_USER): string {
    const token = this.state.tokens[user];
    if (!token) throw new Error(`no static user ${user} in cluster ${this.name}`);
    return kubeconfigYaml({ name: this.name, server: this.state.server, caData: this.caData, user, token });
  }

  private writeKubeconfig(file: string, user: string): void {
    writeFileSync(file, this.kubeconfigYaml(user), { mode: 0o600 });
  }

  private async bootstrap(progress: (l: string) => void, deadline: number): Promise<void> {
    const s = this.state;
    const pki = createPki(join(s.dir, "pki"));
    writeFileSync(
      join(s.dir, "pki", "tokens.csv"),
      LOCAL_USERS.map((u, i) => `${s.tokens[u.name]},${u.name},uid-${i},"${u.groups.join(",")}"`).join("\n") +
        "\n",
      { mode: 0o600 },
    );
    this.writeKubeconfig(this.kubeconfigPath, ADMIN_USER);
    for (const c of ["kube-controller-manager", "kube-scheduler", "kwok"] as const) {
      const user = c === "kwok" ? "kwok" : `system:${c}`;
      this.writeKubeconfig(join(s.dir, `${c}.kubeconfig`), user);
    }
    this.save();

    progress(`[1/4] starting etcd on 127.0.0.1:${s.ports.etcd}`);
    this.startComponent("etcd", pki);
    await poll(
      "etcd",
      deadline,
      async () => (await fetch(`http://127.0.0.1:${s.ports.etcd}/health`)).ok,
      () => this.diagnose("etcd"),
      () => this.state.pids.etcd,
    );

    progress(`[2/4] starting kube-apiserver on ${s.server}`);
    this.startComponent("kube-apiserver", pki);
    await this.waitApiserverReady(deadline);

    progress("[3/4] starting kube-controller-manager, kube-scheduler and kwok");
    this.startComponent("kube-controller-manager", pki);
    this.startComponent("kube-scheduler", pki);
    this.startComponent("kwok", pki);

    const client = await this.clientFor();
    try {
      if (s.nodes.real) await this.startRealNode(client, pki, progress, deadline);
      const nodes = fakeNodes(s.nodes);
      progress(`[4/4] registering ${nodes.length} fake nodes and waiting for them to be Ready`);
      for (const node of nodes) {
        await client.create(Resources.Node, node).catch((err) => {
          if (!isAlreadyExists(err)) throw err;
        });
      }
      await poll(
        "the fake nodes",
        deadline,
        async () => {
          const list = await client.list<
            {
              metadata: { name?: string };
              status?: { conditions?: Array<{ type: string; status: string }> };
            } & { metadata: object }
          >(Resources.Node);
          const ready = list.items.filter((n) =>
            n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
          return ready.length >= nodes.length;
        },
        () => this.diagnose("kwok"),
        () => this.state.pids.kwok,
      );
      await poll(
        "kube-controller-manager",
        deadline,
        () => this.healthy("kube-controller-manager"),
        () => this.diagnose("kube-controller-manager"),
        () => this.state.pids["kube-controller-manager"],
      );
      await poll(
        "kube-scheduler",
        deadline,
        () => this.healthy("kube-scheduler"),
        () => this.diagnose("kube-scheduler"),
        () => this.state.pids["kube-scheduler"],
      );
      // The default ServiceAccount appears once the controller manager runs; pods need it.
      await poll(
        "the default service account",
        deadline,
        async () => {
          await client.get(Resources.ServiceAccount, "default", "default");
          return true;
        },
        () => this.diagnose("kube-controller-manager"),
        () => this.state.pids["kube-controller-manager"],
      );
    } finally {
      client.close();
    }
  }

  private realNodeEnv(pki: Pki = createPki(join(this.state.dir, "pki"))): RealNodeEnv {
    const s = this.state;
    return {
      cluster: s.name,
      clusterDir: s.dir,
      clustersHome: clustersHome(),
      binDir: s.binDir,
      pki,
      server: s.server,
      apiserverPort: s.ports["kube-apiserver"],
      logFile: (c) => join(s.dir, "logs", `${c}.log`),
    };
  }

  private async startRealNode(client: KubeClient, pki: Pki, progress: (l: string) => void, deadline: number) {
    const ports = { port: await freePort(), healthz: await freePort() };
    const save = (r: RealNodeState) => {
      this.state.real = r;
      this.save();
    };
    const ready = async () => {
      const node = await client.get<{
        metadata: object;
        status?: { conditions?: Array<{ type: string; status: string }> };
      }>(Resources.Node, REAL_NODE_NAME);
      return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    };
    await startRealNode(this.realNodeEnv(pki), ports, save, progress, ready, deadline);
  }

  /**
   * Makes a server on this machine's 127.0.0.1:<port> reachable from the real node's pods;
   * returns the address they use (<gateway>:<port>).
   */
  exposeToRealNodePods(port: number): string {
    if (!this.state.real) throw new Error(`cluster ${this.name} has no real node`);
    const address = exposeToPods(this.realNodeEnv(), this.state.real, port);
    this.save();
    return address;
  }

  private async healthy(c: Component): Promise<boolean> {
    // Components serve /healthz on https with a self-signed certificate; Node's fetch cannot skip
    // verification per call, so ask with a raw TLS socket-free check: is the port answering?
    return new Promise((resolve) => {
      const sock = net.connect(this.state.ports[c], "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve(isAlive(this.state.pids[c]));
      });
      sock.once("error", () => resolve(false));
    });
  }

  private async waitApiserverReady(deadline: number): Promise<void> {
    const client = await this.clientFor();
    try {
      await poll(
        "kube-apiserver",
        deadline,
        async () => (await client.request<string>("GET", "/readyz")) !== undefined,
        () => this.diagnose("kube-apiserver"),
        () => this.state.pids["kube-apiserver"],
      );
    } finally {
      client.close();
    }
  }

  private diagnose(c: Component): string {
    const alive = isAlive(this.state.pids[c]);
    return `${c} is ${alive ? "running but not ready" : "not running"}; last lines of ${this.logFile(c)}:\n${tail(this.logFile(c))}`;
  }

  private args(c: Component, pki: Pki): string[] {
    const s = this.state;
    const d = s.dir;
    const p = s.ports;
    switch (c) {
      case "etcd":
        return [
          `--name=${s.name}`,
          `--data-dir=${join(d, "etcd")}`,
          `--listen-client-urls=http://127.0.0.1:${p.etcd}`,
          `--advertise-client-urls=http://127.0.0.1:${p.etcd}`,
          `--listen-peer-urls=http://127.0.0.1:${p["etcd-peer"]}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${p["etcd-peer"]}`,
          `--initial-cluster=${s.name}=http://127.0.0.1:${p["etcd-peer"]}`,
          "--unsafe-no-fsync", // a throw-away local store: durability across power loss is not needed
          "--quota-backend-bytes=8589934592",
          "--log-level=warn",
        ];
      case "kube-apiserver":
        return [
          `--etcd-servers=http://127.0.0.1:${p.etcd}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${p["kube-apiserver"]}`,
          `--cert-dir=${join(d, "pki")}`,
          `--tls-cert-file=${pki.serverCert}`,
          `--tls-private-key-file=${pki.serverKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--token-auth-file=${join(d, "pki", "tokens.csv")}`,
          "--authorization-mode=Node,RBAC",
          // logs, exec and port-forward: the API server calls the real node's kubelet, which
          // checks this client certificate, and checks the kubelet's serving certificate.
          `--kubelet-client-certificate=${pki.kubeletClientCert}`,
          `--kubelet-client-key=${pki.kubeletClientKey}`,
          `--kubelet-certificate-authority=${pki.caCert}`,
          "--kubelet-preferred-address-types=InternalIP",
          "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
          `--service-account-key-file=${pki.saPub}`,
          `--service-account-signing-key-file=${pki.saKey}`,
          "--service-cluster-ip-range=10.96.0.0/16",
          // The advertise address is loopback, which may not be an Endpoints address.
          "--endpoint-reconciler-type=none",
          // No kube-proxy here: the API server calls webhooks (the operator's, behind a Service,
          // when it runs as pods on a real node) at an endpoint's address, not the ClusterIP.
          "--enable-aggregator-routing=true",
          "--allow-privileged=true",
          "--profiling=false",
          "--max-requests-inflight=800",
          "--max-mutating-requests-inflight=400",
          ...s.extraApiserverArgs,
        ];
      case "kube-controller-manager":
        return [
          `--kubeconfig=${join(d, "kube-controller-manager.kubeconfig")}`,
          `--authentication-kubeconfig=${join(d, "kube-controller-manager.kubeconfig")}`,
          `--authorization-kubeconfig=${join(d, "kube-controller-manager.kubeconfig")}`,
          "--bind-address=127.0.0.1",
          `--secure-port=${p["kube-controller-manager"]}`,
          "--leader-elect=false",
          `--service-account-private-key-file=${pki.saKey}`,
          `--root-ca-file=${pki.caCert}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          "--use-service-account-credentials=false",
          "--kube-api-qps=200",
          "--kube-api-burst=400",
          "--concurrent-gc-syncs=10",
          // Recount quota usage every 15 s (default 5 min): a count that went stale while a
          // new kind (a CRD) was being discovered heals quickly on a development cluster.
          "--resource-quota-sync-period=15s",
        ];
      case "kube-scheduler":
        return [
          `--kubeconfig=${join(d, "kube-scheduler.kubeconfig")}`,
          `--authentication-kubeconfig=${join(d, "kube-scheduler.kubeconfig")}`,
          `--authorization-kubeconfig=${join(d, "kube-scheduler.kubeconfig")}`,
          "--bind-address=127.0.0.1",
          `--secure-port=${p["kube-scheduler"]}`,
          "--leader-elect=false",
        ];
      case "kwok":
        return [
          `--kubeconfig=${join(d, "kwok.kubeconfig")}`,
          `--config=${join(s.binDir, "kwok-stages.yaml")}`,
          "--manage-all-nodes=false",
          "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
          "--cidr=10.244.0.1/16",
          "--node-ip=10.255.0.1",
          `--server-address=127.0.0.1:${p.kwok}`,
          // Heartbeat through node Leases so the node lifecycle controller keeps the nodes Ready.
          "--node-lease-duration-seconds=40",
        ];
    }
  }

  /** Starts one component in the background, its output in logs/<component>.log. */
  startComponent(c: Component, pki: Pki = createPki(join(this.state.dir, "pki"))): void {
    const out = openSync(this.logFile(c), "a");
    const child: ChildProcess = spawn(join(this.state.binDir, c), this.args(c, pki), {
      detached: true,
      stdio: ["ignore", out, out],
    });
    closeSync(out);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${c} from ${this.state.binDir}`);
    this.state.pids[c] = child.pid;
    this.save();
  }

  /**
   * Stops components (SIGTERM, then SIGKILL after graceMs; a zombie counts as stopped) in
   * bounded time; those that would not stop are named in the error and stay in the state.
   */
  async stopComponents(cs: readonly Component[], graceMs = 5000): Promise<void> {
    const pids = Object.fromEntries(cs.flatMap((c) => (this.state.pids[c] ? [[c, this.state.pids[c]]] : [])));
    const survivors = await stopProcesses(pids, { graceMs });
    for (const c of cs) if (!survivors.some((s) => s.name === c)) delete this.state.pids[c];
    if (existsSync(this.state.dir)) this.save();
    if (survivors.length > 0) throw new Error(survivorsMessage(`cluster ${this.name}`, survivors));
  }

  /** Stops one component (SIGTERM, then SIGKILL after graceMs) and waits until it is gone. */
  stopComponent(c: Component, graceMs = 5000): Promise<void> {
    return this.stopComponents([c], graceMs);
  }

  /** Kills kube-apiserver (SIGKILL: as a crash would) and, unless told not to, starts it again. */
  async restartApiserver(opts: { downForMs?: number } = {}): Promise<void> {
    await this.stopComponent("kube-apiserver", 0);
    if (opts.downForMs) await new Promise((r) => setTimeout(r, opts.downForMs));
    this.startComponent("kube-apiserver");
    await this.waitApiserverReady(Date.now() + 60_000);
  }

  /**
   * Starts a second kube-apiserver on the same etcd (as in a highly available control plane),
   * so tests can write while the first one is down.
   */
  async startExtraApiserver(): Promise<{ server: string; stop: () => Promise<void> }> {
    const port = await freePort();
    const pki = createPki(join(this.state.dir, "pki"));
    const args = this.args("kube-apiserver", pki).map((a) =>
      a.startsWith("--secure-port=") ? `--secure-port=${port}` : a,
    );
    const logFile = join(this.state.dir, "logs", `kube-apiserver-${port}.log`);
    const out = openSync(logFile, "a");
    const child = spawn(join(this.state.binDir, "kube-apiserver"), args, {
      detached: true,
      stdio: ["ignore", out, out],
    });
    closeSync(out);
    child.unref();
    const server = `https://127.0.0.1:${port}`;
    const token = this.state.tokens[ADMIN_USER] ?? "";
    const client = clientForToken(server, token, this.caData);
    const stop = async () => {
      if (child.pid && isAlive(child.pid)) process.kill(child.pid, "SIGKILL");
      while (child.pid && isAlive(child.pid)) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await poll(
        "the extra kube-apiserver",
        Date.now() + 60_000,
        async () => (await client.request("GET", "/readyz")) !== undefined,
        () => tail(logFile),
      );
    } catch (err) {
      await stop();
      throw err;
    } finally {
      client.close();
    }
    return { server, stop };
  }

  running(): Record<Component, boolean> {
    return Object.fromEntries(COMPONENTS.map((c) => [c, isAlive(this.state.pids[c])])) as Record<
      Component,
      boolean
    >;
  }

  /**
   * Stops every process this cluster started, all at once and in seconds, and removes its
   * folder; when some would not stop, the error names them and the folder is kept (their pids
   * are in it) so that `down` can be run again.
   */
  async down(): Promise<void> {
    // The real node first: its pods and kubelet go before the API server they talk to.
    if (this.state.real) {
      await stopRealNode(this.realNodeEnv(), this.state.real);
      delete this.state.real;
      this.save();
    }
    await this.stopComponents(COMPONENTS, 3000);
    rmSync(this.state.dir, { recursive: true, force: true });
  }
}
