// The manager: readiness follows cache sync, and Lease leader election across processes.

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { expect } from "chai";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { clientForToken } from "../../pkg/kube/config.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { InFlight } from "../../pkg/manager/in-flight.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import type { Runnable } from "../../pkg/manager/runnable.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { TcpProxy } from "../../pkg/testing/tcp-proxy.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { mirrorController } from "../fixtures/mirror-controller.ts";

interface ManagerProcess {
  child: ChildProcess;
  metricsPort: number;
  healthPort: number;
}

/** Starts test/fixtures/example-manager.ts as its own process and waits for its ports. */
async function startManagerProcess(kubeconfig: string, leaseNamespace: string): Promise<ManagerProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "test/fixtures/example-manager.ts",
      "--kubeconfig",
      kubeconfig,
      "--lease-namespace",
      leaseNamespace,
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "error" } },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`example manager exited early (${code})`)));
  });
  const { metricsPort, healthPort } = JSON.parse(line) as { metricsPort: number; healthPort: number };
  return { child, metricsPort, healthPort };
}

/** leader_election_master_status as the process reports it on /metrics (undefined if unreachable). */
async function leaderStatus(p: ManagerProcess): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
    const m = text.match(/^leader_election_master_status\{name="example-manager"\} (\d)/m);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface Pair {
  admin: KubeClient;
  leaseNamespace: string;
  procs: ManagerProcess[];
  leader: ManagerProcess;
  standby: ManagerProcess;
}

/** Two example managers campaigning for one Lease in a fresh namespace, once one leads. */
async function twoManagers(cluster: LocalCluster): Promise<Pair> {
  const leaseNamespace = uniqueName("lease");
  const admin = await cluster.clientFor();
  await admin.create(Resources.Namespace, { metadata: { name: leaseNamespace } });
  const procs = await Promise.all([
    startManagerProcess(cluster.kubeconfigPath, leaseNamespace),
    startManagerProcess(cluster.kubeconfigPath, leaseNamespace),
  ]);
  const statuses = await waitFor("exactly one leader", async () => {
    const s = await Promise.all(procs.map(leaderStatus));
    return s.filter((v) => v === 1).length === 1 && s.filter((v) => v === 0).length === 1 ? s : undefined;
  });
  return {
    admin,
    leaseNamespace,
    procs,
    leader: procs[statuses.indexOf(1)] as ManagerProcess,
    standby: procs[statuses.indexOf(0)] as ManagerProcess,
  };
}

async function stopPair(p: Pair): Promise<void> {
  for (const m of p.procs) m.child.kill("SIGKILL");
  await p.admin.delete(Resources.Namespace, p.leaseNamespace);
  p.admin.close();
}

describe("manager (real kube-apiserver)", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;

  before(() => {
    cluster = testCluster();
  });

  it("/readyz answers 503 until the caches have synced, then 200; /healthz 200 throughout", async () => {
    // The API server is reached through a proxy that holds every connection until released,
    // so the manager's informers cannot list yet.
    const proxy = new TcpProxy("127.0.0.1", cluster.state.ports["kube-apiserver"]);
    const server = await proxy.start();
    proxy.hold();
    const client = clientForToken(server, cluster.state.tokens.admin ?? "", cluster.caData);
    const manager = new Manager({
      client,
      metricsBindAddress: "127.0.0.1:0",
      healthProbeBindAddress: "127.0.0.1:0",
      leaderElection: false,
    });
    manager.add(mirrorController(client));
    const starting = manager.start();
    try {
      const probe = (path: string) =>
        waitFor(
          `${path} to answer`,
          async () => (await fetch(`http://127.0.0.1:${manager.healthPort}${path}`)).status,
        );
      await waitFor("the probe server", () => manager.healthPort);
      expect(await probe("/readyz")).to.equal(503);
      expect(await probe("/healthz")).to.equal(200);
      proxy.release();
      await starting;
      await waitFor(
        "/readyz 200",
        async () => (await fetch(`http://127.0.0.1:${manager.healthPort}/readyz`)).status === 200,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${manager.metricsPort}/metrics`)).text();
      expect(metrics).to.contain('controller_runtime_max_concurrent_reconciles{controller="mirror"} 8');
    } finally {
      proxy.release();
      await starting.catch(() => undefined);
      await manager.stop();
      client.close();
      await proxy.stop();
    }
  });

  it("stop() drains reconciles, then stops every runnable and waits for its in-flight work", async () => {
    const client = await cluster.clientFor();
    const manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    const order: string[] = [];
    const inflight = new InFlight();
    let release!: () => void;
    const worker: Runnable = {
      name: "background-worker",
      start: () => {
        order.push("worker started");
        // Work that outlives the call that started it, as a binding does.
        void inflight.run(
          () =>
            new Promise<void>((r) => {
              release = () => {
                order.push("work finished");
                r();
              };
            }),
        );
      },
      stop: async () => {
        order.push("worker stopping");
        await inflight.drain(10_000);
        order.push("worker stopped");
      },
    };
    const everyReplica: Runnable = {
      name: "every-replica",
      needLeaderElection: false,
      start: () => void order.push("every-replica started"),
      stop: async () => void order.push("every-replica stopped"),
    };
    manager.add(mirrorController(client)).add(everyReplica).add(worker);
    await manager.start();
    expect(order).to.deep.equal(["every-replica started", "worker started"]);
    let stopped = false;
    const stopping = manager.stop().then(() => {
      stopped = true;
    });
    await waitFor("the worker to be asked to stop", () => order.includes("worker stopping"));
    await new Promise((r) => setTimeout(r, 300));
    expect(stopped, "stop() must wait for the in-flight work").to.equal(false);
    release();
    await stopping;
    expect(order).to.deep.equal([
      "every-replica started",
      "worker started",
      "worker stopping",
      "work finished",
      "worker stopped",
      "every-replica stopped",
    ]);
    client.close();
  });

  it("two managers: exactly one leads; kill the leader's process and the other leads within 20 s", async () => {
    const pair = await twoManagers(cluster);
    const { procs, leader, standby, admin, leaseNamespace } = pair;
    try {
      // Stays exactly one over a few renewals.
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        expect(await Promise.all(procs.map(leaderStatus))).to.have.members([0, 1]);
      }
      const killedAt = Date.now();
      leader.child.kill("SIGKILL");
      await waitFor("the standby to lead", async () => (await leaderStatus(standby)) === 1, {
        timeoutMs: 20_000,
        intervalMs: 250,
      });
      const failoverMs = Date.now() - killedAt;
      expect(failoverMs).to.be.lessThan(20_000);
      process.stderr.write(
        `      (failover after SIGKILL of the leader: ${(failoverMs / 1000).toFixed(1)} s; lease 15 s)\n`,
      );
      const lease = await admin.get<{
        metadata: object;
        spec: { holderIdentity?: string; leaseTransitions?: number };
      }>(Resources.Lease, "example-manager", leaseNamespace);
      expect(lease.spec.leaseTransitions).to.be.greaterThan(0);
    } finally {
      await stopPair(pair);
    }
  });

  it("a leader that shuts down gracefully hands over at once (releases its Lease)", async () => {
    const pair = await twoManagers(cluster);
    const { leader, standby } = pair;
    try {
      const stoppedAt = Date.now();
      const exited = new Promise((r) => leader.child.once("exit", r));
      leader.child.kill("SIGTERM");
      expect(await exited).to.equal(0);
      await waitFor("the standby to lead", async () => (await leaderStatus(standby)) === 1, {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      // Well under the 15 s lease: the lease was released, not left to expire.
      expect(Date.now() - stoppedAt).to.be.lessThan(6_000);
    } finally {
      await stopPair(pair);
    }
  });
});
