// Starts and stops a real local control plane for tests. One is shared by the whole mocha
// run (test/setup.ts starts it once); tests isolate themselves by namespace.

import { randomBytes } from "node:crypto";
import { LocalCluster } from "../localcluster/cluster.ts";
import type { NodeCounts } from "../localcluster/nodes.ts";

let shared: LocalCluster | undefined;

export async function startTestCluster(
  opts: { name?: string; nodes?: Partial<NodeCounts> } = {},
): Promise<LocalCluster> {
  return LocalCluster.up({
    name: opts.name ?? `test-${process.pid}-${randomBytes(2).toString("hex")}`,
    nodes: { plain: 3, gpu: 2, edge: 1, ...opts.nodes },
    progress: (line) => {
      if (process.env.CENTAURUS_TEST_VERBOSE) process.stderr.write(`${line}\n`);
    },
  });
}

export function setSharedCluster(c: LocalCluster | undefined): void {
  shared = c;
}

/** The control plane test/setup.ts started for this run. */
export function testCluster(): LocalCluster {
  if (!shared) throw new Error("no test cluster: run the tests through mocha with test/setup.ts (npm test)");
  return shared;
}

/** A namespace name unique to this run, for one test's objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}
