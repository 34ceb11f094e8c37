// Our kinds' names against every kind the API server serves: `kubectl get <name>` must answer
// with ours, never with a built-in kind of the same plural or short name (as `endpoints` and
// `ipaddresses` once did), and `kubectl get centaurus` must list only our kinds.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";
import { controllerModules } from "../../controllers/index.ts";
import { buildCRD, installCRDs } from "../../pkg/kube/crd.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { testCluster } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

/** kubectl's table as rows of named cells, cut at the header's column starts (cells may be empty). */
function table(text: string): Array<Record<string, string>> {
  const [header = "", ...rows] = text.trimEnd().split("\n");
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index ?? 0 }));
  return rows.map((row) =>
    Object.fromEntries(
      starts.map((c, i) => [c.name, row.slice(c.at, starts[i + 1]?.at ?? row.length).trim()]),
    ),
  );
}

describe("names of our kinds (kubectl api-resources)", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  const kubectl = (...args: string[]) => {
    const run = spawnSync(
      join(cluster.state.binDir, "kubectl"),
      ["--kubeconfig", cluster.kubeconfigPath, ...args],
      {
        encoding: "utf8",
      },
    );
    expect(run.status, run.stderr).to.equal(0);
    return run.stdout;
  };
  const ours = controllerModules.flatMap((m) => m.crds);

  before(async () => {
    cluster = testCluster();
    const client = await cluster.clientFor();
    try {
      await installCRDs(client, ours.map(buildCRD));
    } finally {
      client.close();
    }
  });

  it("has each of our plurals and short names once among every kind served, built-in ones included", async () => {
    // Discovery is cached by the API server's aggregator for a moment after CRDs are installed.
    const rows = await waitFor("our kinds in discovery", () => {
      const r = table(kubectl("api-resources"));
      return ours.every((c) => r.some((x) => x.NAME === c.plural && x.APIVERSION?.startsWith(c.group))) && r;
    });
    expect(rows.length).to.be.greaterThan(40); // the built-in kinds are there too
    const names = rows.flatMap((r) => [r.NAME ?? "", ...(r.SHORTNAMES ? r.SHORTNAMES.split(",") : [])]);
    const count = (n: string) => names.filter((x) => x === n).length;
    for (const c of ours) {
      expect(count(c.plural), `${c.plural} (${c.kind}) is served once`).to.equal(1);
      for (const s of c.shortNames ?? []) expect(count(s), `short name ${s} of ${c.kind}`).to.equal(1);
    }
    // The renamed kinds no longer shadow core Endpoints and networking.k8s.io IPAddresses.
    expect(rows.find((r) => r.NAME === "endpoints")?.APIVERSION).to.equal("v1");
    expect(rows.find((r) => r.NAME === "ipaddresses")?.APIVERSION).to.match(/^networking\.k8s\.io\//);
  });

  it("kubectl get centaurus lists only our kinds, all of them", () => {
    const inCategory = kubectl("api-resources", "--categories=centaurus", "-o", "name")
      .trim()
      .split("\n")
      .sort();
    expect(inCategory).to.deep.equal(ours.map((c) => `${c.plural}.${c.group}`).sort());
    expect(kubectl("get", "centaurus", "-A")).to.not.match(/error/i);
  });
});
