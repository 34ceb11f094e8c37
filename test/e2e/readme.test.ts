// The README's two commands, as a new user meets them: `npm start` (the demo on the embedded
// local control plane) works from a fresh clone, and `npm test` is exactly what CI runs; and
// its "What next": the CLI as a kubectl plugin.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { controllerModules } from "../../controllers/index.ts";
import { testCluster } from "../../pkg/testing/cluster.ts";

function codeBlocksUnder(readme: string, heading: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading)) ?? "";
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] ?? "").trim());
}

describe("README (e2e)", function () {
  this.timeout(600_000);
  const readme = readFileSync("README.md", "utf8");

  it("names one command to run it and one to test it, and CI runs exactly the test command", () => {
    expect(codeBlocksUnder(readme, "Run it")).to.deep.equal(["npm start"]);
    expect(codeBlocksUnder(readme, "Run the tests")).to.deep.equal(["npm test"]);
    const ci = readFileSync(".ci/run", "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#") && !l.startsWith("set ") && !l.startsWith("cd "));
    expect(ci).to.deep.equal(["npm test"]);
  });

  it("`kubectl centaurus help` prints the CLI's help once bin/ is on PATH, as the README says", () => {
    expect(readme).to.contain("export PATH=$PWD/bin:$PATH");
    const kubectlDir = testCluster().state.binDir;
    const env = { ...process.env, PATH: `${join(process.cwd(), "bin")}:${kubectlDir}:${process.env.PATH}` };
    // Run from elsewhere: the plugin finds its own code, not the caller's working directory.
    const run = spawnSync(join(kubectlDir, "kubectl"), ["centaurus", "help"], {
      cwd: tmpdir(),
      env,
      encoding: "utf8",
    });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.contain("centaurus — the Centaurus distributed cloud");
    expect(run.stdout).to.contain("centaurus status [--verbose]");
    const plugins = spawnSync(join(kubectlDir, "kubectl"), ["plugin", "list"], { env, encoding: "utf8" });
    expect(plugins.stdout).to.contain(join(process.cwd(), "bin", "kubectl-centaurus"));
  });

  it("`npm start` works on a fresh clone: clusters up, CRDs in, operator running, samples applied and shown", function () {
    if (controllerModules.length === 0) this.skip();
    const dir = mkdtempSync(join(tmpdir(), "centaurus-fresh-"));
    const home = join(dir, "clusters");
    const env = { ...process.env, CENTAURUS_HOME: home, KUBECONFIG: "", LOG_LEVEL: "error" };
    try {
      execFileSync("git", ["clone", "-q", process.cwd(), join(dir, "repo")]);
      const port = String(20000 + Math.floor(Math.random() * 20000));
      const run = spawnSync("npm", ["start", "--", "--once", "--metrics-port", port], {
        cwd: join(dir, "repo"),
        env,
        encoding: "utf8",
        timeout: 480_000,
      });
      const out = `${run.stdout}\n${run.stderr}`;
      expect(run.status, out.slice(-3000)).to.equal(0);
      expect(out).to.contain("===== root cluster =====");
      expect(out).to.contain("===== edge-1 cluster =====");
      for (const m of controllerModules) {
        for (const crd of m.crds) expect(out, `${crd.kind} shown`).to.contain(crd.kind);
      }
      // The README's next step: on this healthy cluster the summary reports nothing as not ready.
      const status = spawnSync("npx", ["tsx", "bin/centaurus.ts", "status", "--verbose"], {
        cwd: join(dir, "repo"),
        env: { ...env, KUBECONFIG: join(home, "root", "kubeconfig") },
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(status.status, status.stderr).to.equal(0);
      expect(status.stdout).to.match(/^VPCEndpoint +network\.centaurus\.io +\d+ +- +-/m);
      expect(status.stdout, status.stdout).to.contain("every object that has a Ready condition is Ready");
      // No row counts an object that says it is not Ready (NOT READY, the fifth column, is 0).
      expect(status.stdout, status.stdout).not.to.match(/^\S+ +\S+ +\d+ +\d+ +[1-9]/m);
    } finally {
      for (const name of ["root", "edge-1"]) {
        spawnSync("npx", ["tsx", "bin/centaurus.ts", "cluster", "down", "--name", name], {
          env,
          cwd: process.cwd(),
        });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
