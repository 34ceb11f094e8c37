// Benchmark: how long a CLI command takes from start to exit, beside kubectl's own start.
//
//   npx tsx bench/cli-start.ts [--runs 7]
//
// On one local control plane with the CRDs installed, in turn (A B A B ...): `kubectl
// version --client` (the yardstick: a Go binary that starts in tens of milliseconds), then
// `centaurus help`, `centaurus edge tree` and `centaurus net check` through bin/centaurus.mjs
// with dist/ built (what npm start and npm test leave), and the same commands from the
// TypeScript sources through tsx (what it cost before). Reports medians of the runs' wall
// times and their ratio to kubectl's.

import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureBinaries } from "../pkg/localcluster/binaries.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "7" } } });
const RUNS = Number(values.runs);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function wallMs(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  spawnSync(cmd, args, { env, stdio: "ignore" });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const bin = await ensureBinaries(() => undefined);
execFileSync("npm", ["run", "build", "--silent"], { stdio: "inherit" });
const cluster = await LocalCluster.up({
  name: `bench-cli-${process.pid}`,
  nodes: { plain: 1, gpu: 0, edge: 0 },
});
try {
  execFileSync(
    join(bin, "kubectl"),
    ["--kubeconfig", cluster.kubeconfigPath, "apply", "--server-side", "-f", "crds/"],
    {
      stdio: "ignore",
    },
  );
  const env = { ...process.env, KUBECONFIG: cluster.kubeconfigPath };
  const commands: Array<[string, string[]]> = [
    ["help", ["help"]],
    ["edge tree", ["edge", "tree"]],
    ["net check", ["net", "check", "default/a", "default/b"]],
  ];
  const rows: string[] = [];
  for (const [name, args] of commands) {
    const kubectl: number[] = [];
    const dist: number[] = [];
    const tsx: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      kubectl.push(wallMs(join(bin, "kubectl"), ["version", "--client"], env));
      dist.push(wallMs("node", ["bin/centaurus.mjs", ...args], env));
      tsx.push(wallMs("npx", ["tsx", "bin/centaurus.ts", ...args], env));
    }
    const k = median(kubectl);
    rows.push(
      `| centaurus ${name.padEnd(10)} | ${median(dist).toFixed(0)} ms (${(median(dist) / k).toFixed(1)}x) | ${median(tsx).toFixed(0)} ms (${(median(tsx) / k).toFixed(1)}x) | ${k.toFixed(0)} ms |`,
    );
  }
  process.stdout.write(
    `| command (${RUNS} runs, medians) | from dist/ (x kubectl) | from sources via tsx (x kubectl) | kubectl version --client |\n|---|---|---|---|\n${rows.join("\n")}\n`,
  );
} finally {
  await cluster.down();
}
