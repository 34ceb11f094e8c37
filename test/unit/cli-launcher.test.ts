// The `centaurus` executable (bin/centaurus.mjs): the top-level help needs no command module,
// and every command is reachable through the lazy dispatch.

import { spawnSync } from "node:child_process";
import { expect } from "chai";
import { HELP, main } from "../../cli/main.ts";

describe("centaurus command line", () => {
  it("bin/centaurus.mjs prints the help (from dist/ when built, else from the sources)", function () {
    this.timeout(60_000);
    const run = spawnSync("node", ["bin/centaurus.mjs", "help"], { encoding: "utf8" });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.equal(HELP);
  });

  it("loads a command's module for its help, and refuses an unknown command with the help", async function () {
    this.timeout(30_000);
    const out: string[] = [];
    const err: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => err.push(s) > 0) as typeof process.stderr.write;
    try {
      for (const topic of ["cluster", "demo", "manager", "status", "edge", "net", "gpu"]) {
        out.length = 0;
        expect(await main(["help", topic])).to.equal(0);
        expect(out.join(""), topic).to.match(new RegExp(`^centaurus ${topic}`));
      }
      expect(await main(["nope"])).to.equal(2);
      expect(err.join("")).to.match(/unknown command "nope"/);
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
  });
});
