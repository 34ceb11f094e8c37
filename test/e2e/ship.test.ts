// Shipping, end to end on the local control plane: the helm chart and manifests/install.yaml
// install; the manager, running with the chart's ServiceAccount token (the chart's RBAC and
// nothing more), reconciles every sample; a real Prometheus scrapes it; uninstalling leaves
// no operator object behind.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "chai";
import { controllerModules } from "../../controllers/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { kubeconfigYaml } from "../../pkg/kube/config.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { testCluster } from "../../pkg/testing/cluster.ts";
import { applyYaml } from "../../pkg/testing/manifests.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  deleteSamples,
  forbiddenRequests,
  isCentaurus,
  operatorObjects,
  type Prometheus,
  samplesReady,
  samplesText,
  startPrometheus,
} from "./shipping.ts";

const NAMESPACE = "centaurus-system";
const CHART = "manifests/charts/centaurus";

interface RunningManager {
  child: ChildProcess;
  metricsPort: number;
}

/** A token for the chart's ServiceAccount (TokenRequest API), as its pods would mount. */
async function serviceAccountToken(admin: KubeClient, name: string): Promise<string> {
  const res = await admin.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  return res.status.token;
}

/** `centaurus manager` as its own process, authenticated as the chart's ServiceAccount. */
async function startManager(kubeconfig: string): Promise<RunningManager> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "bin/centaurus.ts",
      "manager",
      "--kubeconfig",
      kubeconfig,
      "--leader-elect",
      `--leader-election-namespace=${NAMESPACE}`,
      "--metrics-bind-address=127.0.0.1:0",
      "--health-probe-bind-address=127.0.0.1:0",
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "info" } },
  );
  const metricsPort = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on("line", (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; metrics?: number; level?: number };
        if (rec.msg === "manager running" && rec.metrics) resolve(rec.metrics);
        // Errors and warnings of the manager belong in the test's output (RBAC refusals show here).
        if (
          (rec.level ?? 0) >= Number(process.env.CENTAURUS_TEST_MANAGER_LOG_LEVEL ?? 40) &&
          process.env.CENTAURUS_TEST_VERBOSE
        )
          process.stderr.write(`      manager: ${line}\n`);
      } catch {
        /* not a log line */
      }
    });
    child.once("exit", (code) => reject(new Error(`centaurus manager exited early (${code})`)));
  });
  return { child, metricsPort };
}

async function controllerNames(metricsPort: number): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return [
    ...new Set(
      [...text.matchAll(/^controller_runtime_max_concurrent_reconciles\{controller="([^"]+)"\}/gm)].map(
        (m) => m[1] as string,
      ),
    ),
  ];
}

describe("shipping: helm chart, install.yaml, Prometheus (e2e)", function () {
  this.timeout(300_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let work: string;
  const helm = (...args: string[]) =>
    execFileSync(join(cluster.state.binDir, "helm"), [...args, "--kubeconfig", cluster.kubeconfigPath], {
      encoding: "utf8",
    });
  const kubectl = (...args: string[]) =>
    execFileSync(join(cluster.state.binDir, "kubectl"), [...args, "--kubeconfig", cluster.kubeconfigPath], {
      encoding: "utf8",
    });

  /** Writes a kubeconfig that authenticates as the chart's ServiceAccount, as its pods would. */
  const serviceAccountKubeconfig = async (file: string): Promise<string> => {
    const path = join(work, file);
    const token = await serviceAccountToken(admin, "centaurus");
    writeFileSync(
      path,
      kubeconfigYaml({
        name: "local",
        server: cluster.state.server,
        caData: cluster.caData,
        user: "centaurus",
        token,
      }),
    );
    return path;
  };

  before(async function () {
    if (controllerModules.length === 0) this.skip();
    cluster = testCluster();
    admin = await cluster.clientFor();
    work = mkdtempSync(join(tmpdir(), "centaurus-ship-"));
  });
  after(() => {
    admin?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("helm install → the manager with the chart's RBAC reconciles every sample → Prometheus scrapes every controller → helm uninstall leaves nothing", async () => {
    helm("install", "centaurus", CHART, "--namespace", NAMESPACE, "--create-namespace");
    const kubeconfig = await serviceAccountKubeconfig("sa.kubeconfig");
    const manager = await startManager(kubeconfig);
    let prometheus: Prometheus | undefined;
    try {
      const applied = await applyYaml(admin, samplesText());
      expect(
        applied.filter((a) => isCentaurus(a.resource)).length,
        "samples with Centaurus objects",
      ).to.be.greaterThan(0);
      await waitFor("every sample to be Ready", () => samplesReady(admin, applied), { timeoutMs: 120_000 });
      expect(await forbiddenRequests(manager.metricsPort), "requests the chart's RBAC refused").to.equal(0);

      // A real Prometheus scrapes the manager; every controller has reconcile_total series.
      const controllers = await controllerNames(manager.metricsPort);
      expect(controllers.length).to.be.greaterThan(0);
      prometheus = await startPrometheus(work, [`127.0.0.1:${manager.metricsPort}`]);
      const scraped = await waitFor(
        "Prometheus to return controller_runtime_reconcile_total for every controller",
        async () => {
          const seen = (
            await prometheus?.query("sum by (controller) (controller_runtime_reconcile_total)")
          )?.map((r) => r.metric.controller ?? "");
          return seen && controllers.every((c) => seen.includes(c)) ? seen : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(scraped).to.include.members(controllers);
    } finally {
      prometheus?.stop();
      manager.child.kill("SIGTERM");
    }
    helm("uninstall", "centaurus", "--namespace", NAMESPACE, "--wait");
    await waitFor("no operator objects left", async () =>
      (await operatorObjects(admin)).length === 0 ? true : undefined,
    );
  });

  it("kubectl apply -f manifests/install.yaml works the same way, and kubectl delete removes it", async () => {
    kubectl("apply", "--server-side", "-f", "manifests/install.yaml");
    const kubeconfig = await serviceAccountKubeconfig("sa2.kubeconfig");
    const manager = await startManager(kubeconfig);
    try {
      const applied = await applyYaml(admin, samplesText());
      await waitFor("every sample to be Ready", () => samplesReady(admin, applied), { timeoutMs: 120_000 });
      expect(await forbiddenRequests(manager.metricsPort)).to.equal(0);
      await deleteSamples(admin, applied);
    } finally {
      manager.child.kill("SIGTERM");
    }
    kubectl("delete", "-f", "manifests/install.yaml", "--ignore-not-found", "--wait=false");
    await waitFor("no operator objects left", async () =>
      (await operatorObjects(admin)).length === 0 ? true : undefined,
    );
  });
});
