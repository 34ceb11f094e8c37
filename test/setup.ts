// Mocha root hooks: one real control plane for the whole run, stopped at the end.

import type { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { setSharedCluster, startTestCluster } from "../pkg/testing/cluster.ts";

let cluster: LocalCluster | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(30 * 60_000); // the first run builds the binaries
    const started = Date.now();
    cluster = await startTestCluster();
    setSharedCluster(cluster);
    process.stderr.write(
      `local control plane ${cluster.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cluster.state.server}\n`,
    );
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await cluster?.down();
    setSharedCluster(undefined);
  },
};
