// The local control plane's own behaviour: several named clusters side by side, a clean
// `down` (in seconds, even while the process that started the cluster lives), and clear errors for a missing Go, a taken port and a component that will not start.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "chai";
import { Resources } from "../../pkg/kube/resource.ts";
import { COMPONENTS, clusterDir, isAlive, LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { processState } from "../../pkg/localcluster/process.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

describe("local control plane", function () {
  this.timeout(120_000);

  it("runs a second named cluster beside the first on other ports, and down stops every process and removes its data", async () => {
    const shared = testCluster();
    const other = await LocalCluster.up({
      name: uniqueName("side"),
      nodes: { plain: 1, gpu: 0, edge: 0 },
      progress: () => undefined,
    });
    const pids = COMPONENTS.map((c) => other.state.pids[c]);
    try {
      expect(other.state.server).to.not.equal(shared.state.server);
      const client = await other.clientFor();
      const nodes = await client.list(Resources.Node);
      client.close();
      expect(nodes.items.map((n) => n.metadata.name)).to.deep.equal(["kwok-plain-0"]);
      expect(pids.every(isAlive)).to.equal(true);
    } finally {
      await other.down();
    }
    expect(pids.some(isAlive), "a process outlived down").to.equal(false);
    expect(existsSync(other.state.dir)).to.equal(false);
    // The shared cluster is untouched.
    expect(Object.values(shared.running()).every(Boolean)).to.equal(true);
  });

  it("cluster down finishes in seconds while the process that started the cluster lives and cannot reap", async () => {
    const name = uniqueName("held");
    const starter = spawn(process.execPath, ["--import", "tsx", "test/fixtures/cluster-starter.ts", name], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: starter.stdout as NodeJS.ReadableStream }).once("line", resolve);
        starter.once("exit", (code) => reject(new Error(`cluster starter exited early (${code})`)));
      });
      const pids = Object.values((JSON.parse(line) as { pids: Record<string, number> }).pids);
      expect(pids).to.have.length(COMPONENTS.length);
      // Stopped (as a suspended or busy `npm start` is), the starter cannot reap: each component
      // killed stays a zombie of it, which kill(pid, 0) still answers for.
      process.kill(starter.pid as number, "SIGSTOP");
      const t0 = Date.now();
      const down = spawnSync(
        process.execPath,
        ["--import", "tsx", "bin/centaurus.ts", "cluster", "down", "--name", name],
        {
          encoding: "utf8",
          timeout: 30_000,
        },
      );
      const seconds = (Date.now() - t0) / 1000;
      expect(down.status, `${down.stderr} (after ${seconds} s)`).to.equal(0);
      expect(down.stdout).to.contain(`cluster ${name} stopped and removed`);
      expect(seconds, "seconds cluster down took").to.be.below(10);
      expect(
        pids.map(processState),
        "the components were zombies while the starter was stopped",
      ).to.deep.equal(pids.map(() => "Z"));
      expect(existsSync(clusterDir(name)), "the cluster folder outlived down").to.equal(false);
      // Running again, the starter reaps them: no zombie is left behind.
      process.kill(starter.pid as number, "SIGCONT");
      await waitFor(
        "the starter to reap its components",
        () => pids.every((p) => processState(p) === undefined),
        {
          timeoutMs: 10_000,
        },
      );
    } finally {
      if (starter.pid) process.kill(starter.pid, "SIGCONT");
      starter.kill("SIGKILL");
      await LocalCluster.load(name)?.down();
    }
  });

  it("refuses a taken port with a message that says so", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await LocalCluster.up({
        name: uniqueName("taken"),
        nodes: { plain: 0, gpu: 0, edge: 0 },
        port,
        progress: () => undefined,
      }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(new RegExp(`port ${port} .*already taken`));
    } finally {
      blocker.close();
    }
  });

  it("a component that fails to start is named, with the tail of its log", async () => {
    const err = await LocalCluster.up({
      name: uniqueName("broken"),
      nodes: { plain: 0, gpu: 0, edge: 0 },
      extraApiserverArgs: ["--no-such-flag=1"],
      progress: () => undefined,
      readyTimeoutMs: 30_000,
    }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.contain("kube-apiserver is not running");
    expect(err?.message).to.contain("no-such-flag");
  });

  it("without Go, building binaries fails with a message that says what to do", () => {
    const cache = mkdtempSync(join(tmpdir(), "centaurus-nogo-"));
    try {
      const run = spawnSync("bash", ["hack/build-binaries.sh"], {
        env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CENTAURUS_CACHE: cache },
        encoding: "utf8",
      });
      expect(run.status).to.equal(1);
      expect(run.stderr).to.contain("Go is not installed");
      expect(run.stderr).to.contain("KUBECONFIG");
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
