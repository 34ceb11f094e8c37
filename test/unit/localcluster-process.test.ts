import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { expect } from "chai";
import { isAlive, processState, stopProcesses, survivorsMessage } from "../../pkg/localcluster/process.ts";

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) =>
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve),
  );
}

describe("localcluster: stopping processes", () => {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const c of started.splice(0)) c.kill("SIGKILL");
  });

  it("a zombie (exited, not reaped by its parent) is not alive, although kill(pid, 0) answers for it", async () => {
    // sh starts `sleep 0` and becomes `sleep 30`, which never reaps it: a zombie of a live parent.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    started.push(parent);
    const zombie = Number(await firstLine(parent));
    for (let i = 0; i < 100 && processState(zombie) !== "Z"; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processState(zombie)).to.equal("Z");
    expect(() => process.kill(zombie, 0)).to.not.throw();
    expect(isAlive(zombie)).to.equal(false);
    expect(await stopProcesses({ zombie }, { graceMs: 1000 })).to.deep.equal([]);
  });

  it("a process that ignores SIGTERM is killed once the grace period is over, in bounded time", async () => {
    const stubborn = spawn("sh", ["-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    started.push(stubborn);
    await firstLine(stubborn);
    const pid = stubborn.pid as number;
    const t0 = Date.now();
    expect(await stopProcesses({ stubborn: pid }, { graceMs: 300, killWaitMs: 2000 })).to.deep.equal([]);
    expect(Date.now() - t0).to.be.within(300, 2300);
    expect(isAlive(pid)).to.equal(false);
  });

  it("names what would not stop and what to check", () => {
    const msg = survivorsMessage("cluster x", [{ name: "kwok", pid: 42, state: "D" }]);
    expect(msg).to.contain("kwok (pid 42, state D) would not stop");
    expect(msg).to.contain("ps -o pid,stat,cmd -p 42");
  });
});
