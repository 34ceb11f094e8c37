// Benchmark: what the tenant ledger costs a create, against the same create in a namespace no
// tenant owns, in the same run on the same API server.
//
//   npx tsx bench/tenant-admission.ts [--pods 200] [--loaded 1000] [--runs 3]
//
// One local control plane; the manager (tenancy and compute) runs as its own compiled process and serves
// the quota webhook. Per run, alternating one create in each namespace so both see the same
// machine: --pods sequential pod creates in a tenant namespace (webhook + one ledger write
// each) and as many in a plain namespace (no webhook): median and p99 latency of each. Then,
// with --loaded live pods charged to the tenant (a larger ledger to rewrite), 50 more
// sequential creates of each kind. Reports medians over runs, a JSON line and a table.

import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { computeModule } from "../controllers/compute/index.ts";
import { type Tenant, TenantLedgerResource, TenantResource } from "../controllers/tenancy/api.ts";
import { tenancyModule } from "../controllers/tenancy/index.ts";
import type { TenantLedger } from "../controllers/tenancy/ledger.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import { Resources } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import { installModules, pod } from "../test/fixtures/tenancy.ts";
import { median, quantile, startTenancyManager } from "./tenancy-manager-process.ts";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "200" },
    loaded: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
  },
});
const N = Number(values.pods);
const LOADED = Number(values.loaded);
const RUNS = Number(values.runs);
const WRITERS = 16;

const log = (s: string) => process.stderr.write(`${s}\n`);
const ms = (x: number) => Math.round(x * 10) / 10;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Alternating sequential creates in both namespaces: latencies (ms) of each. */
async function alternate(client: KubeClient, count: number, tenantNs: string, plainNs: string, tag: string) {
  const tenant: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < count; i++) {
    tenant.push(await timed(() => client.create(Resources.Pod, pod(`${tag}-${i}`, tenantNs))));
    plain.push(await timed(() => client.create(Resources.Pod, pod(`${tag}-${i}`, plainNs))));
  }
  return { tenant, plain };
}

async function emptyNamespaces(client: KubeClient, tenant: string, namespaces: string[]): Promise<void> {
  for (const ns of namespaces) {
    const names = (await client.list(Resources.Pod, { namespace: ns })).items.map(
      (p) => p.metadata.name ?? "",
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < names.length) await client.delete(Resources.Pod, names[next++] ?? "", ns);
      }),
    );
  }
  await waitFor(
    "the pods to go and the ledger to release them",
    async () => {
      for (const ns of namespaces)
        if ((await client.list(Resources.Pod, { namespace: ns })).items.length) return false;
      const l = await client.get<TenantLedger>(TenantLedgerResource, tenant);
      return Object.keys(l.spec.charges ?? {}).length === 0;
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
}

async function main(): Promise<void> {
  log("compiling the manager (tsc -p tsconfig.build.json)");
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  const cluster = await LocalCluster.up({
    name: "bench-admission",
    nodes: { plain: 0, gpu: 0, edge: 0 },
    progress: log,
  });
  const client = await cluster.clientFor();
  const rows: Array<Record<string, number>> = [];
  try {
    // The manager fixture runs tenancy and compute: both kinds must exist for it to be ready.
    await installModules(client, [tenancyModule, computeModule]);
    const { child, healthPort } = await startTenancyManager(cluster.kubeconfigPath);
    try {
      await waitFor(
        "the manager to be ready",
        async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
      );
      const name = "bench";
      await client.create(TenantResource, {
        metadata: { name },
        spec: { quota: { pods: "100000", cpu: "10000" } },
      } as Tenant);
      await waitFor("the tenant to be Ready", async () =>
        (await client.get<Tenant>(TenantResource, name)).status?.conditions?.some(
          (c) => c.type === "Ready" && c.status === "True",
        ),
      );
      const tenantNs = `${name}-default`;
      const plainNs = "plain-bench";
      await client.create(Resources.Namespace, { metadata: { name: plainNs } });
      for (let run = 1; run <= RUNS; run++) {
        log(`run ${run}/${RUNS}: ${N} creates in each namespace, alternating`);
        const empty = await alternate(client, N, tenantNs, plainNs, `r${run}`);
        log(`run ${run}/${RUNS}: loading ${LOADED} pods into the tenant (${WRITERS} writers)`);
        let next = 0;
        await Promise.all(
          Array.from({ length: WRITERS }, async () => {
            while (next < LOADED) await client.create(Resources.Pod, pod(`load-${run}-${next++}`, tenantNs));
          }),
        );
        const loaded = await alternate(client, 50, tenantNs, plainNs, `l${run}`);
        rows.push({
          tenantP50: median(empty.tenant),
          tenantP99: quantile(empty.tenant, 0.99),
          plainP50: median(empty.plain),
          plainP99: quantile(empty.plain, 0.99),
          loadedTenantP50: median(loaded.tenant),
          loadedPlainP50: median(loaded.plain),
        });
        log(`run ${run}/${RUNS}: ${JSON.stringify(rows.at(-1))}`);
        await emptyNamespaces(client, name, [tenantNs, plainNs]);
      }
    } finally {
      child.kill("SIGTERM");
    }
  } finally {
    client.close();
    await cluster.down();
  }
  const med = (k: string) => ms(median(rows.map((r) => r[k] ?? Number.NaN)));
  const result = {
    bench: "tenant-admission",
    runs: RUNS,
    pods: N,
    loaded: LOADED,
    tenantP50Ms: med("tenantP50"),
    tenantP99Ms: med("tenantP99"),
    plainP50Ms: med("plainP50"),
    plainP99Ms: med("plainP99"),
    loadedTenantP50Ms: med("loadedTenantP50"),
    loadedPlainP50Ms: med("loadedPlainP50"),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    [
      "",
      `| pod create (median of ${RUNS} runs) | tenant namespace (webhook + ledger) | plain namespace (same run) |`,
      "|---|---|---|",
      `| p50, ledger empty | ${result.tenantP50Ms} ms | ${result.plainP50Ms} ms |`,
      `| p99, ledger empty | ${result.tenantP99Ms} ms | ${result.plainP99Ms} ms |`,
      `| p50, ${LOADED} pods charged | ${result.loadedTenantP50Ms} ms | ${result.loadedPlainP50Ms} ms |`,
      "",
    ].join("\n"),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
