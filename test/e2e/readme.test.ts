// The README's two commands, as a new user meets them: `npm start` (the demo on the embedded
// local control plane) works from a fresh clone, and `npm test` is exactly what CI runs.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { controllerModules } from "../../controllers/index.ts";

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
