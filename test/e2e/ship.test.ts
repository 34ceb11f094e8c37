// Shipping, end to end on the local control plane: the helm chart and manifests/install.yaml
// install; the manager, running with the chart's ServiceAccount token (the chart's RBAC and
// nothing more), reconciles every sample; a real Prometheus scrapes it; uninstalling leaves
// no operator object behind.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "chai";
import { stringify } from "yaml";
import { controllerModules } from "../../controllers/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { kubeconfigYaml } from "../../pkg/kube/config.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { freePort } from "../../pkg/localcluster/cluster.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import { testCluster } from "../../pkg/testing/cluster.ts";
import { applyYaml } from "../../pkg/testing/manifests.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

const NAMESPACE = "centaurus-system";
const SAMPLES_DIR = "manifests/samples";
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

function samplesText(): string {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => readFileSync(join(SAMPLES_DIR, f), "utf8"))
    .join("\n---\n");
}

const isCentaurus = (rt: ResourceType) => rt.group.endsWith(".centaurus.io");

/** Every Centaurus object from the samples reports Ready=True for its current generation. */
async function samplesReady(
  admin: KubeClient,
  applied: Array<{ resource: ResourceType; object: KubeObject }>,
): Promise<string[] | undefined> {
  const notReady: string[] = [];
  for (const { resource, object } of applied.filter((a) => isCentaurus(a.resource))) {
    const cur = await admin.get<KubeObject & { status?: { conditions?: Condition[] } }>(
      resource,
      object.metadata.name ?? "",
      object.metadata.namespace,
    );
    const ready = cur.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status !== "True")
      notReady.push(
        `${resource.kind} ${object.metadata.name}: ${ready?.reason ?? "no Ready condition"} ${ready?.message ?? ""}`,
      );
  }
  return notReady.length === 0 ? [] : undefined;
}

async function forbiddenRequests(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return [...text.matchAll(/^rest_client_requests_total\{[^}]*code="403"[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
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

/** What the chart installs, by the instance label; empty once uninstalled. */
async function operatorObjects(admin: KubeClient): Promise<string[]> {
  const selector = "app.kubernetes.io/instance=centaurus";
  const kinds: ResourceType[] = [
    Resources.ServiceAccount,
    Resources.Service,
    Resources.Role,
    Resources.RoleBinding,
    Resources.ClusterRole,
    Resources.ClusterRoleBinding,
    { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
    {
      group: "admissionregistration.k8s.io",
      version: "v1",
      plural: "validatingadmissionpolicies",
      kind: "ValidatingAdmissionPolicy",
      namespaced: false,
    },
    {
      group: "admissionregistration.k8s.io",
      version: "v1",
      plural: "validatingadmissionpolicybindings",
      kind: "ValidatingAdmissionPolicyBinding",
      namespaced: false,
    },
    {
      group: "node.k8s.io",
      version: "v1",
      plural: "runtimeclasses",
      kind: "RuntimeClass",
      namespaced: false,
    },
  ];
  const left: string[] = [];
  for (const rt of kinds) {
    const list = await admin.list(rt, { labelSelector: selector });
    left.push(...list.items.map((o) => `${rt.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`));
  }
  return left;
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
    let prometheus: ChildProcess | undefined;
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
      const promPort = await freePort();
      const config = join(work, "prometheus.yml");
      writeFileSync(
        config,
        stringify({
          global: { scrape_interval: "1s", evaluation_interval: "1s" },
          scrape_configs: [
            { job_name: "centaurus", static_configs: [{ targets: [`127.0.0.1:${manager.metricsPort}`] }] },
          ],
        }),
      );
      prometheus = spawn(
        "prometheus",
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(work, "tsdb")}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        { stdio: "ignore" },
      );
      const scraped = await waitFor(
        "Prometheus to return controller_runtime_reconcile_total for every controller",
        async () => {
          const q = encodeURIComponent("sum by (controller) (controller_runtime_reconcile_total)");
          const res = (await (
            await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${q}`)
          ).json()) as {
            data: { result: Array<{ metric: { controller: string } }> };
          };
          const seen = res.data.result.map((r) => r.metric.controller);
          return controllers.every((c) => seen.includes(c)) ? seen : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(scraped).to.include.members(controllers);
    } finally {
      prometheus?.kill("SIGKILL");
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
      // The samples go while the operator still runs, so their cleanup can finish.
      // In reverse order; a VPC is refused while its subnets still exist (admission policy),
      // so each delete is retried until what it depends on is gone.
      for (const { resource, object } of [...applied].reverse()) {
        await waitFor(`${resource.kind} ${object.metadata.name} deleted`, async () => {
          await admin.delete(resource, object.metadata.name ?? "", object.metadata.namespace);
          return true;
        });
      }
      await waitFor(
        "the samples to be gone",
        async () => {
          for (const { resource, object } of applied.filter((a) => isCentaurus(a.resource))) {
            try {
              await admin.get(resource, object.metadata.name ?? "", object.metadata.namespace);
              return undefined;
            } catch (err) {
              if (!isNotFound(err)) throw err;
            }
          }
          return true;
        },
        { timeoutMs: 120_000 },
      );
    } finally {
      manager.child.kill("SIGTERM");
    }
    kubectl("delete", "-f", "manifests/install.yaml", "--ignore-not-found", "--wait=false");
    await waitFor("no operator objects left", async () =>
      (await operatorObjects(admin)).length === 0 ? true : undefined,
    );
  });
});
